"""`distillscope share export|match`: STIX 2.1 indicators of distillation campaigns, without prompt text.

This module must not sketch, hash or match anything itself (:mod:`~distillscope.share.export` and
:mod:`~distillscope.share.match` do), and must not print prompt text: only counts, account names and
paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distillscope.clitools import console, fail

share_app = typer.Typer(
    help="Share campaign indicators with peers (STIX 2.1; no prompt text, salted infrastructure).",
    no_args_is_help=True,
)

SALT_FILE = typer.Option(
    None, "--salt-file", help="File with the salt shared with the peer (default: $DISTILLSCOPE_SHARE_SALT)."
)


def _salt(salt_file: Path | None) -> bytes:
    from distillscope.share.sketch import SaltError, load_salt

    try:
        return load_salt(salt_file)
    except SaltError as exc:
        fail(str(exc))


def _report_malformed(errors: list) -> None:
    if errors:
        console.print(f"[yellow]skipped {len(errors)} malformed log line(s)[/], first: {errors[0]}")


@share_app.command("export")
def export(
    detect_dir: Path = typer.Argument(
        ..., help="Output folder of `distillscope detect` (campaigns.jsonl, accounts.jsonl)."
    ),
    logs: str = typer.Option(
        ..., "--logs", help="The exchange log detect ran on (JSONL/Parquet or a log store URL)."
    ),
    out: Path = typer.Option(Path("bundle.json"), "--out", help="Where to write the STIX bundle."),
    salt_file: Path | None = SALT_FILE,
    producer: str = typer.Option("distillscope user", help="Your organisation's name in the bundle."),
    min_cluster: int = typer.Option(
        3, help="Export only prompt templates seen in at least this many exchanges."
    ),
) -> None:
    """Export detected campaigns as a STIX 2.1 bundle (MinHash templates, salted infrastructure hashes)."""
    from distillscope.logs import open_log
    from distillscope.records import LogFormatError
    from distillscope.share.export import ShareInputError, build_bundle, read_detection, write_bundle

    salt = _salt(salt_file)
    if min_cluster < 1:
        fail("--min-cluster must be at least 1")
    try:
        campaigns = read_detection(detect_dir)
        members = {a for c in campaigns for a in c.accounts}
        log = open_log(logs)
        rows = [e for e in log if e.account in members]
        bundle = build_bundle(campaigns, rows, salt, producer=producer, min_cluster=min_cluster)
    except (ShareInputError, LogFormatError) as exc:
        fail(str(exc))
    _report_malformed(log.errors)
    write_bundle(bundle, out)
    kinds: dict[str, int] = {}
    for obj in bundle["objects"]:
        kinds[obj["type"]] = kinds.get(obj["type"], 0) + 1
    console.print(f"{len(campaigns)} campaign(s), {len(rows)} exchanges -> {out} {kinds}")
    typer.echo(str(out))


@share_app.command("match")
def match(
    bundle: Path = typer.Argument(..., help="A peer's STIX bundle (from `distillscope share export`)."),
    logs: str = typer.Argument(..., help="Your exchange log (JSONL/Parquet or a log store URL)."),
    salt_file: Path | None = SALT_FILE,
    threshold: float = typer.Option(0.5, help="Minimum estimated Jaccard similarity for a template match."),
    out: Path | None = typer.Option(None, "--out", help="Also write the matches as JSONL here."),
) -> None:
    """Match a peer's indicators against your own log; print matching accounts (JSON lines on stdout)."""
    from rich.table import Table

    from distillscope.logs import open_log
    from distillscope.records import LogFormatError
    from distillscope.share.export import ShareInputError
    from distillscope.share.match import load_bundle, match_logs
    from distillscope.share.sketch import SaltError

    salt = _salt(salt_file)
    try:
        shared = load_bundle(bundle)
        log = open_log(logs)
        result = match_logs(shared, log, salt, threshold)
    except (ShareInputError, SaltError, LogFormatError, ValueError) as exc:
        fail(str(exc))
    _report_malformed(log.errors)
    table = Table(title=f"{len(result.accounts)} account(s) match, of {result.scanned} exchanges scanned")
    for column in ("account", "matched / exchanges", "template hits", "infrastructure hits", "campaigns"):
        table.add_column(column)
    for row in result.accounts:
        table.add_row(
            row.account,
            f"{row.matched_exchanges} / {row.exchanges}",
            str(row.template_hits),
            ", ".join(f"{k}: {v}" for k, v in row.infra_hits.items()) or "-",
            ", ".join(row.campaigns),
        )
    console.print(table)
    lines = [json.dumps(r, ensure_ascii=False) for r in result.to_rows()]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    for line in lines:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.add_typer(share_app, name="share")
