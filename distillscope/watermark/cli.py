"""`distillscope watermark ...`: detect the watermark, test a suspect model for radioactivity, cost it.

Each command's options are generated from its settings in
:mod:`distillscope.watermark.settings` (radioactivity's test knobs are a
:class:`~distillscope.watermark.settings.RadioactivityTest`). Commands print a
table on stderr and, with ``--json``, the full result on stdout. Heavy imports
stay inside the commands. Keys are never printed unless
``key --reveal`` asks for one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.watermark.settings import (
    CostCommand,
    DetectCommand,
    KeyCommand,
    NewSecretCommand,
    RadioactivityCommand,
    RadioactivityTest,
    names,
)

watermark_app = typer.Typer(
    help="Watermark answers per account, detect it in text, and test suspect models for radioactivity.",
    no_args_is_help=True,
)


def _load_config(path: Path) -> Any:
    from distillscope.watermark.config import WatermarkConfigError, WatermarkSettings

    try:
        config = WatermarkSettings.from_file(path)
        if config.needs_secret:
            config.master_secret()  # fail now, with a clear message, rather than mid-run
    except WatermarkConfigError as exc:
        fail(str(exc))
    return config


def _tokenizer_and_vocab(model: str) -> tuple[Any, int]:
    from transformers import AutoConfig

    from distillscope.models import ModelNotFoundError, load_tokenizer, resolve_model_path

    try:
        path = resolve_model_path(model)
        tokenizer = load_tokenizer(path)
    except ModelNotFoundError as exc:
        fail(str(exc))
    model_config = AutoConfig.from_pretrained(str(path))
    text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    return tokenizer, int(text_config.vocab_size)


def _accounts(accounts: str | None, accounts_from: Path | None) -> list[str]:
    found = list(names(accounts))
    if accounts_from is not None:
        from distillscope.records import ExchangeReader, LogFormatError

        try:
            reader = ExchangeReader(accounts_from, on_error="skip")
            found += [exchange.account for exchange in reader]
        except LogFormatError as exc:
            fail(str(exc))
        if reader.errors:
            console.print(f"[yellow]{len(reader.errors)} malformed line(s) skipped in {accounts_from}[/]")
    return list(dict.fromkeys(found))


def _report_errors(errors: list[Any], strict: bool) -> None:
    if not errors:
        return
    for error in errors[:10]:
        console.print(f"[yellow]skipped[/] {error}", highlight=False)
    if len(errors) > 10:
        console.print(f"[yellow]... and {len(errors) - 10} more malformed line(s)[/]")
    if strict:
        fail(f"{len(errors)} malformed line(s) (remove --strict to skip them)")


def _fmt_p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _print_scores(report: Any, title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("key", "role", "key id", "scored", "green", "z", "p", "p (Holm)", "verdict"):
        table.add_column(column)
    for score in report.scores:
        test = score.test
        if test.too_short:
            verdict = "too short"
        elif score.role == "account":
            verdict = "DETECTED" if score.flagged else "not detected"
        else:
            verdict = "control: significant!" if score.flagged else "control ok"
        table.add_row(
            score.name,
            score.role,
            score.key_id,
            str(test.scored),
            str(test.green),
            "—" if test.z_score is None else f"{test.z_score:.2f}",
            _fmt_p(test.p_value),
            _fmt_p(score.p_adjusted) if score.role == "account" else "(raw)",
            verdict,
        )
    console.print(table)


def detect_command(command: DetectCommand) -> None:
    """Is this text watermarked, and with which account's key? (exact binomial test, Holm-corrected)"""
    from distillscope.records import LogFormatError
    from distillscope.watermark.detector import detect_texts
    from distillscope.watermark.texts import read_documents

    config = _load_config(command.config_path)
    found = _accounts(command.accounts, command.accounts_from)
    texts: list[str] = [] if command.text is None else [command.text]
    labels: list[str] = [] if command.text is None else ["--text"]
    for path in command.paths or []:
        try:
            documents = read_documents(path, on_error="raise" if command.strict else "skip")
        except LogFormatError as exc:
            fail(str(exc))
        _report_errors(documents.errors, command.strict)
        texts += [d.text for d in documents.documents]
        labels += [d.id for d in documents.documents]
        if config.mode == "per-account" and command.accounts is None and command.accounts_from is None:
            found += [d.account for d in documents.documents if d.account]
    if not texts:
        fail("nothing to score: give files or --text")
    found = list(dict.fromkeys(found))
    if config.mode == "per-account" and not found:
        fail("per-account mode: name the accounts to test with --accounts or --accounts-from LOG")
    tokenizer, vocab = _tokenizer_and_vocab(command.model)
    if command.rounds:
        _detect_in_rounds(command, texts, config, tokenizer, vocab, found)
        return
    try:
        reports = detect_texts(
            texts,
            config,
            tokenizer,
            vocab,
            accounts=found,
            controls=command.controls,
            alpha=command.alpha,
            dedup=command.dedup,
            per_document=command.per_document,
        )
    except ValueError as exc:
        fail(str(exc))
    per_document = command.per_document
    for label, report in zip(labels if per_document else ["all input"], reports, strict=True):
        _print_scores(report, f"{label}: {report.documents} document(s), {report.tokens} tokens")
        if report.too_short:
            console.print(
                f"[bold]too short to test[/]: fewer than {config.min_tokens} distinct scored tokens "
                "(no p-value is given)"
            )
        elif report.attributed:
            console.print(f"[bold red]watermark detected[/]: key(s) of {', '.join(report.attributed)}")
        else:
            console.print(
                f"no watermark detected at alpha={command.alpha} (Holm over {len(report.accounts)} key(s))"
            )
    if command.as_json:
        payload = [
            r.to_dict() | {"label": label}
            for label, r in zip(labels if per_document else ["all"], reports, strict=True)
        ]
        typer.echo(json.dumps(payload if per_document else payload[0], indent=2))


def radioactivity_command(command: RadioactivityCommand) -> None:
    """Was a suspect model trained on our watermarked answers? Names the accounts' keys; runs controls."""
    config = _load_config(command.config_path)
    found = _accounts(command.accounts, command.accounts_from)
    if config.mode == "per-account" and not found:
        fail("per-account mode: name the accounts to test with --accounts or --accounts-from LOG")
    tokenizer, vocab = _tokenizer_and_vocab(command.teacher)
    suspect = _Suspect(config, found, command.test, tokenizer, vocab, command.limit)
    if command.suspect is not None:
        report = _reading(suspect, command.suspect, command.texts)
    else:
        url = command.suspect_url or ""
        report = _black_box(suspect, url, command.suspect_model, command.api_key_env, command.prompts)
    _print_scores(report, f"radioactivity ({report.mode}) of {report.suspect}: {report.tokens} predictions")
    _print_verdict(report)
    if command.as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))


class _Suspect:
    """What both radioactivity modes share: the keys to test, the test, the green-list vocabulary."""

    def __init__(
        self,
        config: Any,
        accounts: list[str],
        test: RadioactivityTest,
        tokenizer: Any,
        vocab: int,
        limit: int,
    ) -> None:
        self.config, self.accounts, self.test = config, accounts, test
        self.tokenizer, self.vocab, self.limit = tokenizer, vocab, limit

    def first(self, items: list[Any]) -> list[Any]:
        return items[: self.limit] if self.limit else items


def _reading(suspect: _Suspect, path: str, texts: Path | None) -> Any:
    from rich.progress import Progress

    from distillscope.models import ModelNotFoundError, load_model
    from distillscope.records import LogFormatError
    from distillscope.watermark.texts import Document, default_prompts, read_documents

    if texts is None and suspect.test.own_texts:
        fail("--own-texts reads each key on its account's texts: give --texts (a log with accounts)")
    if texts is None:
        console.print("no --texts: reading the packaged prompts (neutral, unwatermarked text)")
        documents = [
            Document(id=f"prompt-{i}", text=p[0]["content"]) for i, p in enumerate(default_prompts())
        ]
    else:
        try:
            loaded = read_documents(texts)
        except LogFormatError as exc:
            fail(str(exc))
        _report_errors(loaded.errors, strict=False)
        documents = loaded.documents
    test = suspect.test
    if test.fresh_seeds is not False and suspect.config.seeding_scheme != "lefthash":
        console.print(
            "selfhash seeds include the predicted token: every position is scored, so the reading "
            "texts must not be watermarked with the keys under test"
        )
        test = replace(test, fresh_seeds=False)
    try:
        model, _ = load_model(path)
    except ModelNotFoundError as exc:
        fail(str(exc))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("reading", total=len(suspect.first(documents)))
        try:
            progress = lambda done, total: bar.update(task, completed=done)  # noqa: E731
            return _read(suspect, model, documents, test, path, progress)
        except ValueError as exc:
            fail(str(exc))


def _read(suspect: _Suspect, model: Any, documents: list[Any], test: Any, path: str, progress: Any) -> Any:
    from distillscope.watermark.radioactivity import reading_mode

    return reading_mode(
        model, suspect.tokenizer, suspect.first(documents), suspect.config, suspect.accounts, test,
        vocab_size=suspect.vocab, suspect=path, progress=progress,
    )  # fmt: skip


def _black_box(
    suspect: _Suspect, url: str, model_name: str, api_key_env: str | None, prompts: Path | None
) -> Any:
    import openai
    from rich.progress import Progress

    from distillscope.records import LogFormatError
    from distillscope.watermark.radioactivity import black_box_mode
    from distillscope.watermark.texts import default_prompts, read_prompts

    api_key = "not-needed"
    if api_key_env:
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            fail(f"${api_key_env} is not set")
    if prompts is None:
        chats = default_prompts()
    else:
        try:
            chats, errors = read_prompts(prompts)
        except LogFormatError as exc:
            fail(str(exc))
        _report_errors(errors, strict=False)
    chats = suspect.first(chats)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("asking the suspect", total=len(chats))
            return black_box_mode(
                url, model_name, chats, suspect.tokenizer, suspect.config, suspect.accounts, suspect.test,
                vocab_size=suspect.vocab, api_key=api_key,
                progress=lambda done, total: bar.update(task, completed=done),
            )  # fmt: skip
    except openai.OpenAIError as exc:
        fail(f"the suspect's API failed: {exc}")


def _print_verdict(report: Any) -> None:
    for name in report.invalid_keys:
        console.print(
            f"[bold yellow]warning[/]: the reading texts are themselves watermarked with {name}'s key; "
            "that key's radioactivity p-value is not evidence (read unwatermarked text instead)"
        )
    if report.too_short:
        console.print("[bold]too short to test[/]: fewer distinct predictions than min_tokens")
        return
    overall = report.overall_p
    if report.attributed:
        console.print(
            f"[bold red]radioactive[/]: trained on answers watermarked for {', '.join(report.attributed)} "
            f"(overall p = {_fmt_p(overall)}, Holm over {len(report.accounts)} key(s))"
        )
    else:
        console.print(f"not radioactive at alpha={report.alpha} (overall p = {_fmt_p(overall)})")
    control_ps = ", ".join(_fmt_p(s.test.p_value) for s in report.controls)
    status = "ok" if report.controls_ok else "[bold red]FAILED: a control key looks significant[/]"
    console.print(f"negative controls ({len(report.controls)} unused key(s)): p = {control_ps} -> {status}")


def _detect_in_rounds(
    command: DetectCommand, texts: list[str], config: Any, tokenizer: Any, vocab: int, accounts: list[str]
) -> None:
    """``detect --rounds``: the pooled test, then again without the answers each named key explains."""
    from distillscope.watermark.attribution import attribute_texts

    try:
        result = attribute_texts(
            texts, config, tokenizer, vocab, accounts=accounts, controls=command.controls, alpha=command.alpha
        )
    except ValueError as exc:
        fail(str(exc))
    for r in result.rounds:
        title = f"round {r.number} (alpha {r.alpha:.3g}): {len(r.documents)} document(s)"
        _print_scores(r.report, title)
        if r.named:
            console.print(
                f"round {r.number} names {', '.join(r.named)}; "
                f"{r.explained} answer(s) they explain leave the pool"
            )
    if result.named:
        console.print(f"[bold red]watermark detected[/]: key(s) of {', '.join(result.named)}")
    else:
        console.print(f"no watermark detected at alpha={command.alpha} (split over the rounds)")
    if command.as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))


def cost_command(command: CostCommand) -> None:
    """What the watermark does to the teacher's answers: agreement and perplexity vs. unwatermarked."""
    from rich.progress import Progress

    from distillscope.models import ModelNotFoundError, load_model
    from distillscope.models.runtime import prompt_ids
    from distillscope.records import LogFormatError
    from distillscope.watermark.cost import watermark_cost
    from distillscope.watermark.processor import processor_for_key
    from distillscope.watermark.texts import default_prompts, read_prompts

    config = _load_config(command.config_path)
    try:
        chats = default_prompts() if command.prompts is None else read_prompts(command.prompts)[0]
        teacher, tokenizer = load_model(command.model)
    except (LogFormatError, ModelNotFoundError) as exc:
        fail(str(exc))
    chats = chats[: command.n]
    if not chats:
        fail("no prompts")
    processor = processor_for_key(config, config.key_for(command.account))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{len(chats)} prompts, with and without the watermark", total=3)
        report = watermark_cost(
            teacher,
            tokenizer,
            [prompt_ids(tokenizer, c) for c in chats],
            processor,
            max_new_tokens=command.max_new_tokens,
            batch_size=command.batch_size,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    console.print(
        f"gamma={report.gamma} delta={report.delta} on {report.prompts} prompts, "
        f"{report.max_new_tokens} new tokens:\n"
        f"  answers unchanged: {report.exact_match:.0%}; "
        f"tokens before first change: {report.common_prefix:.1f}\n"
        f"  token agreement with the unwatermarked greedy choice: {report.agreement:.1%}\n"
        f"  perplexity under the unwatermarked model: {report.perplexity_watermarked:.2f} watermarked vs "
        f"{report.perplexity_plain:.2f} plain (x{report.perplexity_ratio:.2f})\n"
        f"  green fraction: {report.green_fraction_watermarked:.2f} watermarked vs "
        f"{report.green_fraction_plain:.2f} plain (null {config.gamma})"
    )
    if command.as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))


def new_secret_command(command: NewSecretCommand) -> None:
    """Write a new random master secret (32 bytes, hex) for per-account keys."""
    path = command.path
    if path.exists():
        fail(f"{path} exists; refusing to overwrite a master secret (keys derived from it would change)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    console.print(f"wrote a master secret to {path}; point secret_file at it in the watermark config")


def key_command(command: KeyCommand) -> None:
    """Show an account's key id, and with --reveal a transformers WatermarkingConfig for it."""
    from distillscope.watermark.keys import fingerprint

    config = _load_config(command.config_path)
    key = config.key_for(command.account)
    payload: dict[str, Any] = {"account": command.account, "key_id": fingerprint(key), "mode": config.mode}
    if command.reveal:
        payload["transformers_watermarking_config"] = {
            "greenlist_ratio": config.gamma,
            "bias": config.delta,
            "hashing_key": key,
            "seeding_scheme": config.seeding_scheme,
            "context_width": config.context_width,
        }
    typer.echo(json.dumps(payload, indent=2))


watermark_app.command("detect")(settings_options(DetectCommand, detect_command))
watermark_app.command("radioactivity")(settings_options(RadioactivityCommand, radioactivity_command))
watermark_app.command("cost")(settings_options(CostCommand, cost_command))
watermark_app.command("new-secret")(settings_options(NewSecretCommand, new_secret_command))
watermark_app.command("key")(settings_options(KeyCommand, key_command))


def register(app: typer.Typer) -> None:
    app.add_typer(watermark_app, name="watermark")
