"""`distillscope watermark ...`: detect the watermark, test a suspect model for radioactivity, cost it.

Commands print a table on stderr and, with ``--json``, the full result on
stdout. Heavy imports stay inside the commands. Keys are never printed unless
``key --reveal`` asks for one.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail

watermark_app = typer.Typer(
    help="Watermark answers per account, detect it in text, and test suspect models for radioactivity.",
    no_args_is_help=True,
)

CONFIG_HELP = "Watermark config (.toml or .json), the same file as `distillscope serve --watermark`."
TEACHER_HELP = "The watermarking model: its tokenizer and vocabulary size define the green lists."


def _load_config(path: Path) -> Any:
    from distillscope.watermark.config import WatermarkConfig, WatermarkConfigError

    try:
        config = WatermarkConfig.from_file(path)
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
    names = [a.strip() for a in (accounts or "").split(",") if a.strip()]
    if accounts_from is not None:
        from distillscope.records import ExchangeReader, LogFormatError

        try:
            reader = ExchangeReader(accounts_from, on_error="skip")
            names += [exchange.account for exchange in reader]
        except LogFormatError as exc:
            fail(str(exc))
        if reader.errors:
            console.print(f"[yellow]{len(reader.errors)} malformed line(s) skipped in {accounts_from}[/]")
    return list(dict.fromkeys(names))


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


@watermark_app.command("detect")
def detect_command(
    paths: list[Path] = typer.Argument(
        None, help="Text (.txt), JSONL or Parquet files (exchanges: response_text)."
    ),
    text: str | None = typer.Option(None, "--text", help="Score this text instead of files."),
    config_path: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
    accounts: str | None = typer.Option(
        None, help="Comma-separated accounts whose keys to test (per-account mode)."
    ),
    accounts_from: Path | None = typer.Option(None, help="Test every account found in this exchange log."),
    model: str = typer.Option("smollm2-135m-instruct", help=TEACHER_HELP),
    alpha: float = typer.Option(0.01, help="Family-wise significance level (after Holm's correction)."),
    per_document: bool = typer.Option(False, help="One test per document instead of one pooled test."),
    dedup: bool = typer.Option(True, help="Count each distinct (seed, token) pair once."),
    controls: int = typer.Option(0, help="Also test this many unused keys as negative controls."),
    strict: bool = typer.Option(False, help="Stop at the first malformed input line."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON on stdout."),
) -> None:
    """Is this text watermarked, and with which account's key? (exact binomial test, Holm-corrected)"""
    from distillscope.records import LogFormatError
    from distillscope.watermark.detector import detect_texts
    from distillscope.watermark.texts import read_documents

    if not 0 < alpha < 1:
        fail("--alpha must lie between 0 and 1")
    config = _load_config(config_path)
    names = _accounts(accounts, accounts_from)
    texts: list[str] = [] if text is None else [text]
    labels: list[str] = [] if text is None else ["--text"]
    for path in paths or []:
        try:
            documents = read_documents(path, on_error="raise" if strict else "skip")
        except LogFormatError as exc:
            fail(str(exc))
        _report_errors(documents.errors, strict)
        texts += [d.text for d in documents.documents]
        labels += [d.id for d in documents.documents]
        if config.mode == "per-account" and accounts is None and accounts_from is None:
            names += [d.account for d in documents.documents if d.account]
    if not texts:
        fail("nothing to score: give files or --text")
    names = list(dict.fromkeys(names))
    if config.mode == "per-account" and not names:
        fail("per-account mode: name the accounts to test with --accounts or --accounts-from LOG")
    tokenizer, vocab = _tokenizer_and_vocab(model)
    try:
        reports = detect_texts(
            texts,
            config,
            tokenizer,
            vocab,
            accounts=names,
            controls=controls,
            alpha=alpha,
            dedup=dedup,
            per_document=per_document,
        )
    except ValueError as exc:
        fail(str(exc))
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
            console.print(f"no watermark detected at alpha={alpha} (Holm over {len(report.accounts)} key(s))")
    if as_json:
        payload = [
            r.to_dict() | {"label": label}
            for label, r in zip(labels if per_document else ["all"], reports, strict=True)
        ]
        typer.echo(json.dumps(payload if per_document else payload[0], indent=2))


@watermark_app.command("radioactivity")
def radioactivity_command(
    config_path: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
    suspect: str | None = typer.Option(
        None, help="Reading mode: the suspect's local Hugging Face directory."
    ),
    suspect_url: str | None = typer.Option(
        None, help="Black-box mode: the suspect's OpenAI-compatible base URL."
    ),
    suspect_model: str = typer.Option("default", help="Black-box mode: the model name to ask the API for."),
    api_key_env: str | None = typer.Option(
        None, help="Black-box mode: environment variable holding the API key."
    ),
    texts: Path | None = typer.Option(
        None,
        help="Reading mode: texts to read (JSONL/Parquet exchanges or .txt), e.g. the answers the accounts "
        "harvested (with fresh seeds, watermarked text is valid reading).",
    ),
    prompts: Path | None = typer.Option(
        None, help="Black-box mode: prompts (.txt a line, or JSONL). Default: packaged."
    ),
    accounts: str | None = typer.Option(None, help="Comma-separated accounts whose keys to test."),
    accounts_from: Path | None = typer.Option(None, help="Test every account found in this exchange log."),
    control_accounts: str | None = typer.Option(
        None, help="Accounts known NOT to have harvested: extra controls."
    ),
    controls: int = typer.Option(
        5, min=1, help="Unused random keys tested as negative controls (at least 1)."
    ),
    teacher: str = typer.Option("smollm2-135m-instruct", help=TEACHER_HELP),
    limit: int = typer.Option(0, help="Use at most this many texts/prompts (0 = all)."),
    max_new_tokens: int = typer.Option(64, help="Black-box mode: tokens per answer."),
    temperature: float = typer.Option(
        0.0, min=0.0, max=2.0, help="Black-box mode: sampling temperature (raise it if greedy answers loop)."
    ),
    seed: int = typer.Option(0, help="Black-box mode: prompt i is asked with seed + i (reproducible runs)."),
    batch_size: int = typer.Option(8, min=1),
    max_length: int = typer.Option(512, min=8, help="Reading mode: tokens per sequence."),
    fresh_seeds: bool = typer.Option(
        True,
        "--fresh-seeds/--all-seeds",
        help="Reading mode: score only positions whose watermark window is new in its text (lefthash; "
        "makes watermarked reading texts valid). --all-seeds needs unwatermarked texts.",
    ),
    alpha: float = typer.Option(0.01, help="Family-wise significance level (Holm over the account keys)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON on stdout."),
) -> None:
    """Was a suspect model trained on our watermarked answers? Names the accounts' keys; runs controls."""
    if (suspect is None) == (suspect_url is None):
        fail("give exactly one of --suspect (open weights, reading mode) or --suspect-url (black-box mode)")
    if not 0 < alpha < 1:
        fail("--alpha must lie between 0 and 1")
    config = _load_config(config_path)
    names = _accounts(accounts, accounts_from)
    if config.mode == "per-account" and not names:
        fail("per-account mode: name the accounts to test with --accounts or --accounts-from LOG")
    extra_controls = [a.strip() for a in (control_accounts or "").split(",") if a.strip()]
    tokenizer, vocab = _tokenizer_and_vocab(teacher)
    test = _KeyTest(config, names, extra_controls, controls, tokenizer, vocab, alpha)
    if suspect is not None:
        report = _reading(test, suspect, texts, limit, (batch_size, max_length), fresh_seeds)
    else:
        sampling = (max_new_tokens, temperature, seed)
        report = _black_box(test, suspect_url or "", suspect_model, api_key_env, prompts, limit, sampling)
    _print_scores(report, f"radioactivity ({report.mode}) of {report.suspect}: {report.tokens} predictions")
    _print_verdict(report)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))


@dataclass
class _KeyTest:
    """What both radioactivity modes share: the keys to test, their controls, the green-list vocabulary."""

    config: Any
    names: list[str]
    extra_controls: list[str]
    controls: int
    tokenizer: Any
    vocab: int
    alpha: float


def _reading(
    test: _KeyTest, suspect: str, texts: Path | None, limit: int, shape: tuple[int, int], fresh_seeds: bool
) -> Any:
    from rich.progress import Progress

    from distillscope.models import ModelNotFoundError, load_model
    from distillscope.records import LogFormatError
    from distillscope.watermark.radioactivity import reading_mode
    from distillscope.watermark.texts import Document, default_prompts, read_documents

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
    documents = documents[:limit] if limit else documents
    fresh = fresh_seeds and test.config.seeding_scheme == "lefthash"
    if fresh_seeds and not fresh:
        console.print(
            "selfhash seeds include the predicted token: every position is scored, so the reading "
            "texts must not be watermarked with the keys under test"
        )
    try:
        model, _ = load_model(suspect)
    except ModelNotFoundError as exc:
        fail(str(exc))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("reading", total=len(documents))
        report = reading_mode(
            model,
            test.tokenizer,
            documents,
            test.config,
            test.names,
            vocab_size=test.vocab,
            controls=test.controls,
            control_accounts=test.extra_controls,
            alpha=test.alpha,
            batch_size=shape[0],
            max_length=shape[1],
            fresh_seeds=fresh,
            suspect=suspect,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    return report


def _black_box(
    test: _KeyTest,
    url: str,
    model_name: str,
    api_key_env: str | None,
    prompts: Path | None,
    limit: int,
    sampling: tuple[int, float, int],
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
    chats = chats[:limit] if limit else chats
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("asking the suspect", total=len(chats))
            return black_box_mode(
                url,
                model_name,
                chats,
                test.tokenizer,
                test.config,
                test.names,
                vocab_size=test.vocab,
                api_key=api_key,
                max_tokens=sampling[0],
                temperature=sampling[1],
                seed=sampling[2],
                controls=test.controls,
                control_accounts=test.extra_controls,
                alpha=test.alpha,
                progress=lambda done, total: bar.update(task, completed=done),
            )
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


@watermark_app.command("cost")
def cost_command(
    config_path: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
    account: str = typer.Option("cost-probe", help="The account whose key watermarks the answers."),
    model: str = typer.Option("smollm2-135m-instruct", help="The teacher."),
    prompts: Path | None = typer.Option(
        None, help="Prompts (.txt a line, or JSONL). Default: packaged prompts."
    ),
    n: int = typer.Option(16, min=1, help="Number of prompts."),
    max_new_tokens: int = typer.Option(48, min=1),
    batch_size: int = typer.Option(8, min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """What the watermark does to the teacher's answers: agreement and perplexity vs. unwatermarked."""
    from rich.progress import Progress

    from distillscope.models import ModelNotFoundError, load_model
    from distillscope.models.runtime import prompt_ids
    from distillscope.records import LogFormatError
    from distillscope.watermark.cost import watermark_cost
    from distillscope.watermark.processor import processor_for_key
    from distillscope.watermark.texts import default_prompts, read_prompts

    config = _load_config(config_path)
    try:
        chats = default_prompts() if prompts is None else read_prompts(prompts)[0]
        teacher, tokenizer = load_model(model)
    except (LogFormatError, ModelNotFoundError) as exc:
        fail(str(exc))
    chats = chats[:n]
    if not chats:
        fail("no prompts")
    processor = processor_for_key(config, config.key_for(account))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{len(chats)} prompts, with and without the watermark", total=3)
        report = watermark_cost(
            teacher,
            tokenizer,
            [prompt_ids(tokenizer, c) for c in chats],
            processor,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
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
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))


@watermark_app.command("new-secret")
def new_secret_command(
    path: Path = typer.Argument(
        ..., help="File to write a fresh master secret to (mode 600; never overwritten)."
    ),
) -> None:
    """Write a new random master secret (32 bytes, hex) for per-account keys."""
    if path.exists():
        fail(f"{path} exists; refusing to overwrite a master secret (keys derived from it would change)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    console.print(f"wrote a master secret to {path}; point secret_file at it in the watermark config")


@watermark_app.command("key")
def key_command(
    account: str = typer.Argument(..., help="The account (ignored in global mode)."),
    config_path: Path = typer.Option(..., "--config", "-c", help=CONFIG_HELP),
    reveal: bool = typer.Option(
        False, help="Print the integer key itself (a secret) for use with transformers."
    ),
) -> None:
    """Show an account's key id, and with --reveal a transformers WatermarkingConfig for it."""
    from distillscope.watermark.keys import fingerprint

    config = _load_config(config_path)
    key = config.key_for(account)
    payload: dict[str, Any] = {"account": account, "key_id": fingerprint(key), "mode": config.mode}
    if reveal:
        payload["transformers_watermarking_config"] = {
            "greenlist_ratio": config.gamma,
            "bias": config.delta,
            "hashing_key": key,
            "seeding_scheme": config.seeding_scheme,
            "context_width": config.context_width,
        }
    typer.echo(json.dumps(payload, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(watermark_app, name="watermark")
