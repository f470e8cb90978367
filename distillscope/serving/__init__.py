"""The serving stack, assembled in one place: settings in, a running (guarded, watermarked) server out.

``ServeSettings`` says what to serve (a local model or an upstream URL) and how
(open mode or the guard with its store and policy, a watermark, batching);
``build_app(settings)`` wires backend, gateway and watermark hook into the
server's app; ``serve(settings)`` runs it on a loopback port in a background
thread for as long as a ``with`` block lasts; ``distillscope serve``
(:mod:`distillscope.serving.cli`) runs the built app in the foreground.

This package sits above ``server``, ``guard`` and ``watermark`` and is the only
place that imports all three together; ``server`` must never import ``guard``,
``watermark`` or this package. It raises :class:`~distillscope.errors.ConfigError` for settings
that cannot be served and must not print or exit (the CLI does that).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from distillscope.errors import ConfigError

if TYPE_CHECKING:
    from distillscope.server.gateway import Gateway
    from distillscope.watermark.config import WatermarkSettings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass
class ServeSettings:
    """What ``distillscope serve`` serves and how; every field is one CLI option."""

    model: str | None = field(
        default=None,
        metadata={
            "flags": ("--model", "-m"),
            "help": "Local backend: the embedded teacher ('smollm2-135m-instruct', the default) or a local "
            "Hugging Face model directory. With --upstream: the upstream's model id (default: the first it "
            "lists).",
        },
    )
    served_model_name: str | None = field(
        default=None,
        metadata={
            "help": "The model id clients ask for and /v1/models lists (default: 'smollm2-135m-instruct' for "
            "the embedded teacher, else the model directory's name, or the upstream's model id)."
        },
    )
    upstream: str | None = field(
        default=None,
        metadata={
            "help": "Forward to this OpenAI-compatible base URL (e.g. http://host:8000/v1), no local model."
        },
    )
    upstream_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "Environment variable holding the upstream's API key (sent only upstream, never logged)."
        },
    )
    host: str = field(
        default="127.0.0.1", metadata={"help": "Address to bind. Open mode allows loopback only."}
    )
    port: int = field(
        default=8000, metadata={"flags": ("--port", "-p"), "help": "Port to bind (0 picks a free one)."}
    )
    max_batch_size: int = field(
        default=32, metadata={"min": 1, "help": "Local backend: most sequences decoded together in one step."}
    )
    threads: int | None = field(
        default=None,
        metadata={
            "min": 1,
            "help": "Local backend: torch threads of the generation thread (default: torch's). 1 is often "
            "faster for small models on a busy CPU.",
        },
    )
    open_mode: bool = field(
        default=False,
        metadata={
            "flags": ("--open",),
            "help": "No authentication (everyone is account 'local'); local use only. This is also what runs "
            "when neither --db nor --policy is given.",
        },
    )
    db: str | None = field(
        default=None,
        metadata={
            "help": "Guard: keys and exchange log in this store (a SQLite path, sqlite:///path.db or "
            "postgresql://...)."
        },
    )
    policy: str | None = field(
        default=None, metadata={"help": "Guard: policy file (throttle / strip logprobs / block)."}
    )
    watermark: str | WatermarkSettings | None = field(
        default=None,
        metadata={
            "cli_type": str | None,
            "help": "Watermark config file: keyed green-list watermark per account (local backend only; "
            "refused with --upstream). In Python also a WatermarkSettings.",
        },
    )
    log_jsonl: str | None = field(
        default=None,
        metadata={"help": "Open mode: append every exchange to this JSONL file (no guard needed)."},
    )
    log_level: str = field(default="info", metadata={"help": "uvicorn log level (debug, info, warning)."})
    max_body_mb: float = field(
        default=8.0,
        metadata={
            "help": "Largest request body in MiB; a larger one is a 413, never read whole.",
            "min": 0.001,
        },
    )
    defend_scope: str = field(
        default="all",
        metadata={
            "help": "Who gets the countermeasures (--logprob-*, --antidistill-lambda, --watermark-delta): "
            "'all' requests, or 'flagged': only requests the guard's policy gives the 'defend' action "
            "(risk.defend threshold, watch.defend, accounts.NAME.action = 'defend'; needs --db or --policy)."
        },
    )
    logprob_round: int | None = field(
        default=None,
        metadata={
            "min": 0,
            "max": 6,
            "help": "Countermeasure: report log-probs rounded to this many decimals.",
        },
    )
    logprob_noise: float = field(
        default=0.0,
        metadata={
            "min": 0.0,
            "help": "Countermeasure: Gaussian noise of this sd (nats) on every reported log-prob, the same "
            "for a repeat of a request (keyed by a per-process secret salt). 0 = off.",
        },
    )
    logprob_max_top: int | None = field(
        default=None,
        metadata={"min": 0, "help": "Countermeasure: report at most this many top_logprobs per token."},
    )
    logprob_hide_tail: bool = field(
        default=False,
        metadata={
            "help": "Countermeasure: renormalise the reported top_logprobs to sum to one (hides the tail "
            "mass)."
        },
    )
    antidistill_lambda: float = field(
        default=0.0,
        metadata={
            "min": 0.0,
            "help": "Countermeasure (local backend): antidistillation sampling strength in logit units "
            "(tokens that would raise a proxy student's loss are favoured). 0 = off.",
        },
    )
    antidistill_proxy: str = field(
        default="spread:4",
        metadata={
            "help": "Antidistillation proxy student: a layer rule applied to the served model "
            "('spread:4', 'first:2', '0,29') or a local model directory with the same tokenizer."
        },
    )
    antidistill_downstream: str | None = field(
        default=None,
        metadata={
            "help": "Antidistillation: a UTF-8 text file, one example per line, whose loss the proxy's "
            "gradient defends (default: 32 reasoning-gym questions)."
        },
    )
    watermark_delta: float | None = field(
        default=None,
        metadata={
            "min": 0.0,
            "help": "Countermeasure: the watermark's green-list bias for the defended requests, replacing "
            "the config's delta (needs --watermark).",
        },
    )
    idempotency_window: float = field(
        default=24 * 3600.0,
        metadata={
            "help": "Seconds an Idempotency-Key's answer is replayed to a repeat of the same request "
            "(0 turns the keys off).",
            "min": 0.0,
        },
    )

    @property
    def guarded(self) -> bool:
        """True when the guard (keys, log, risk, policy) fronts the backend."""
        return self.db is not None or self.policy is not None

    @property
    def mode(self) -> str:
        if self.guarded and not self.open_mode:
            return "guarded (API keys required)"
        return "open (no authentication)"

    def check(self) -> None:
        """Refuse settings that would serve something other than what was asked for."""
        if (self.open_mode or not self.guarded) and not is_loopback(self.host):
            raise ConfigError(
                f"open mode serves without authentication, so it binds to loopback only (not {self.host!r}); "
                "pass --db (the guard: API keys and an exchange log) to serve on other addresses"
            )
        if self.watermark is not None and self.upstream:
            raise ConfigError(
                "--watermark works on the local backend only: an upstream's text cannot be watermarked "
                "by the gateway (drop --watermark, or serve a local model)"
            )
        from distillscope.serving.defence import check_defence_settings

        check_defence_settings(self)


@dataclass
class BuiltApp:
    """The assembled server app and what it serves."""

    app: Any
    model_name: str
    settings: ServeSettings
    gateway: Any
    countermeasures: Any = None  # distillscope.defend.countermeasures.Countermeasures, or None


def is_loopback(host: str) -> bool:
    """True for names and addresses that never leave this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_gateway(settings: ServeSettings) -> Gateway:
    """Open mode (optionally logging to JSONL) or the guard over ``settings.db`` with ``settings.policy``."""
    if not settings.guarded:
        from distillscope.server.gateway import OpenGateway

        return OpenGateway(log_path=settings.log_jsonl)
    from distillscope.guard.gateway import build_gateway as build_guard

    try:
        return build_guard(settings.db, settings.policy, settings.open_mode)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot set up the guard: {exc}") from exc


def watermark_hook(settings: ServeSettings) -> Callable[[str], list[Any]] | None:
    """Per-account logits processors from the watermark config, or None without one."""
    if settings.watermark is None:
        return None
    from distillscope.watermark.config import WatermarkSettings
    from distillscope.watermark.processor import processors_for_account

    config = settings.watermark
    if not isinstance(config, WatermarkSettings):
        try:
            config = WatermarkSettings.from_file(config)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"cannot read the watermark config {settings.watermark}: {exc}") from exc
    if config.needs_secret:  # a global mode with an explicit hashing_key has none
        config.master_secret()  # fail now, not on the first request, when the secret is missing

    def processors_for(account: str) -> list[Any]:
        return processors_for_account(config, account)

    return processors_for


def build_backend(settings: ServeSettings) -> tuple[Any, str]:
    """The backend (local model or upstream relay) and the model id it is served as."""
    if settings.upstream:
        return _upstream_backend(settings)
    from distillscope.models import EMBEDDED_ALIASES, ModelNotFoundError, resolve_model_path

    model = settings.model
    if model is not None and model.lower() not in EMBEDDED_ALIASES:
        try:  # before importing torch, so a typo fails in a blink
            resolve_model_path(model)
        except ModelNotFoundError as exc:
            raise ConfigError(str(exc)) from exc
    from distillscope.server.backends.local import LocalBackend, default_model_name

    try:
        backend = LocalBackend.from_model_path(
            model, max_batch_size=settings.max_batch_size, threads=settings.threads
        )
    except (ModelNotFoundError, OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    return backend, settings.served_model_name or default_model_name(model)


def _upstream_backend(settings: ServeSettings) -> tuple[Any, str]:
    import asyncio

    import httpx

    from distillscope.server.backends.upstream import UpstreamBackend, discover_models
    from distillscope.server.urls import redact_in

    upstream = settings.upstream
    assert upstream is not None
    key = os.environ.get(settings.upstream_key_env) or None
    model, others = settings.model, []
    if model is None:  # relay every model the upstream lists, each under its own id
        try:
            model, *others = asyncio.run(discover_models(upstream, key))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            shown = redact_in(
                f"cannot list the models of {upstream} (name one with --model): {exc}", upstream
            )
            raise ConfigError(shown) from exc
    backend = UpstreamBackend(upstream, upstream_model=model, api_key=key, other_models=others)
    return backend, settings.served_model_name or model


def build_app(settings: ServeSettings, *, gateway: Gateway | None = None) -> BuiltApp:
    """Check the settings and assemble the app: gateway, watermark hook, backend.

    ``gateway`` overrides the one the settings describe (for a program that made
    its own key store, as the red-team demo does).
    """
    settings.check()
    chosen = gateway if gateway is not None else build_gateway(settings)
    processors_for = watermark_hook(settings)
    backend, name = build_backend(settings)
    from distillscope.server.app import create_app
    from distillscope.serving.defence import build_countermeasures

    countermeasures = build_countermeasures(settings, backend)

    app = create_app(
        backend,
        model_name=name,
        gateway=chosen,
        logits_processors_for=processors_for,
        max_body_bytes=int(settings.max_body_mb * 1024 * 1024),
        idempotency_window_s=settings.idempotency_window or None,
        countermeasures=countermeasures,
    )
    return BuiltApp(
        app=app, model_name=name, settings=settings, gateway=chosen, countermeasures=countermeasures
    )


@contextlib.contextmanager
def serve(
    settings: ServeSettings | None = None,
    *,
    gateway: Gateway | None = None,
    log_level: str = "warning",
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """Serve in a background thread for the length of a ``with`` block; yield the base URL::

    with serve(ServeSettings(model="runs/student", port=0)) as base_url:
        openai.OpenAI(base_url=base_url, api_key="local").models.list()

    ``gateway`` as in :func:`build_app`; ``startup_timeout``: seconds the app's startup may take.
    """
    from distillscope.server.runner import serve_in_thread

    settings = settings or ServeSettings(port=0)
    built = build_app(settings, gateway=gateway)
    with serve_in_thread(
        built.app, settings.host, settings.port, log_level=log_level, startup_timeout=startup_timeout
    ) as base_url:
        yield base_url
