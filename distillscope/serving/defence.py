"""The countermeasures of ``distillscope serve``, from its settings: checked early, built with the backend.

:func:`check_defence_settings` refuses combinations that cannot be served (a
watermark dial without a watermark, antidistillation in front of an upstream, a
``flagged`` scope with no policy to flag anyone) before anything is loaded;
:func:`build_countermeasures` builds the
:class:`~distillscope.defend.countermeasures.Countermeasures` the app applies per
request (None when every countermeasure is off, so the undefended path is the
unchanged one). The antidistillation proxy is a layer subset of the served model
(or a local model directory) and its direction is computed once here, at start-up.

Raises :class:`~distillscope.errors.ConfigError`; must not print or exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillscope.errors import ConfigError

if TYPE_CHECKING:
    from distillscope.defend.countermeasures import Countermeasures
    from distillscope.defend.logprobs import LogprobDefence
    from distillscope.serving import ServeSettings


def logprob_defence(settings: ServeSettings) -> LogprobDefence:
    """The log-prob defence the settings ask for (every strength off by default)."""
    from distillscope.defend.logprobs import LogprobDefence

    try:
        return LogprobDefence(
            round_to=settings.logprob_round,
            noise=settings.logprob_noise,
            max_top=settings.logprob_max_top,
            hide_tail=settings.logprob_hide_tail,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid log-prob defence: {exc}") from exc


def check_defence_settings(settings: ServeSettings) -> None:
    """Refuse countermeasure settings that would not do what they say."""
    from distillscope.defend.countermeasures import SCOPES

    if settings.defend_scope not in SCOPES:
        raise ConfigError(f"--defend-scope must be one of {', '.join(SCOPES)}, got {settings.defend_scope!r}")
    logprob_defence(settings)
    if settings.antidistill_lambda < 0 or settings.antidistill_lambda != settings.antidistill_lambda:
        raise ConfigError(f"--antidistill-lambda must be >= 0, got {settings.antidistill_lambda}")
    if settings.antidistill_lambda and settings.upstream:
        raise ConfigError(
            "--antidistill-lambda works on the local backend only: an upstream samples its own tokens "
            "(the log-prob defences do work in front of an upstream)"
        )
    if settings.watermark_delta is not None:
        if settings.watermark is None:
            raise ConfigError("--watermark-delta turns the watermark's dial: it needs --watermark")
        if not 0 <= settings.watermark_delta < float("inf"):
            raise ConfigError(
                f"--watermark-delta must be a finite number >= 0, got {settings.watermark_delta}"
            )
    if settings.defend_scope == "flagged" and not settings.guarded:
        raise ConfigError(
            "--defend-scope flagged applies the countermeasures to requests the guard's policy flags "
            "('defend' action): it needs --db or --policy"
        )


def build_countermeasures(settings: ServeSettings, backend: Any) -> Countermeasures | None:
    """The countermeasures for the app, or None when every one is off."""
    from distillscope.defend.countermeasures import Countermeasures

    antidistill = None
    if settings.antidistill_lambda:
        antidistill = antidistill_processor(settings, backend)
    measures = Countermeasures(
        logprobs=logprob_defence(settings),
        antidistill=antidistill,
        watermark_delta=settings.watermark_delta,
        scope=settings.defend_scope,
    )
    return measures if measures.active else None


def antidistill_processor(settings: ServeSettings, backend: Any) -> Any:
    """An antidistillation processor over a proxy of the served model (see the module doc)."""
    model = getattr(backend, "model", None)
    tokenizer = getattr(backend, "tokenizer", None)
    if model is None or tokenizer is None:
        raise ConfigError("--antidistill-lambda needs a local model (the proxy is built from it)")
    from distillscope.defend.antidistill import AntidistillationProcessor, build_proxy_direction

    proxy = _proxy(settings.antidistill_proxy, model, tokenizer)
    texts = _downstream_texts(settings.antidistill_downstream)
    examples = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    try:
        direction = build_proxy_direction(proxy, examples)
    except ValueError as exc:
        raise ConfigError(f"antidistillation: {exc}") from exc
    return AntidistillationProcessor(proxy, direction, lam=settings.antidistill_lambda)


def _proxy(spec: str, model: Any, tokenizer: Any) -> Any:
    from distillscope.models import build_student, load_model

    if Path(spec).expanduser().is_dir():
        proxy, proxy_tokenizer = load_model(spec)
        if proxy_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise ConfigError(
                f"the antidistillation proxy {spec} has another tokenizer than the served model"
            )
        return proxy
    try:
        return build_student(model, spec, tokenizer)
    except ValueError as exc:
        raise ConfigError(
            f"--antidistill-proxy {spec!r} is neither a model directory nor a layer rule: {exc}"
        ) from exc


def _downstream_texts(path: str | None) -> list[str]:
    if path is None:
        from distillscope.models import default_calibration

        return default_calibration()
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the antidistillation downstream file {path}: {exc}") from exc
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise ConfigError(f"the antidistillation downstream file {path} holds no text")
    return texts
