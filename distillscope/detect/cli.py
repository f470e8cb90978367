"""`distillscope detect` and `distillscope simulate-traffic`, generated from their settings.

This module must not read a log, score or simulate: ``DetectSettings.run()`` and
``SimulateSettings.simulate()`` do, and this module prints what they return (tables on stderr, one
JSON line on stdout).
"""

from __future__ import annotations

import json

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.detect.settings import DetectSettings, SimulateSettings


def detect(settings: DetectSettings) -> None:
    """Find distillation campaigns in exchange logs, also when they are spread over many accounts."""
    from distillscope.detect.summary import summary_table
    from distillscope.records import LogFormatError

    out = settings.out
    assert out is not None  # the settings refuse a run without it
    try:
        with console.status(f"reading, aggregating and scoring with {settings.engine} ..."):
            result = settings.run()
    except (LogFormatError, FileNotFoundError, ValueError, ConnectionError) as exc:
        fail(f"{exc}")
    except KeyboardInterrupt:
        fail("interrupted; nothing was written", code=130)
    except ImportError as exc:
        fail(f"{settings.engine} engine unavailable: {exc} (pip install 'distillscope[spark]' for Spark)")
    for error in result.errors[:10]:
        console.print(f"[yellow]malformed:[/] {error}", highlight=False)
    if len(result.errors) > 10:
        console.print(f"[yellow]... {len(result.errors) - 10} more listed in {out / 'errors.txt'}[/]")
    for note in (result.public or {}).get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if result.exchanges == 0:
        console.print("[bold]The log holds no valid exchanges: nothing to score, nothing flagged.[/]")
    else:
        console.print(summary_table(result))
    typer.echo(
        json.dumps(
            {
                "exchanges": result.exchanges,
                "accounts": len(result.accounts),
                "flagged": len(result.flagged),
                "campaigns": len(result.campaigns),
                "malformed": sum(1 for e in result.errors if e.line > 0),
                "public_benchmark_exchanges": None
                if result.public is None
                else result.public["exchanges_left_out"],
                "out": str(out),
            }
        )
    )


def simulate(settings: SimulateSettings) -> None:
    """Write labelled synthetic API traffic: benign users, hard negatives and distillation campaigns."""
    try:
        with console.status(f"simulating traffic ({settings.design}) ..."):
            result = settings.simulate()
    except ValueError as exc:
        fail(str(exc))
    console.print(
        f"{result.exchanges:,} exchanges from {result.accounts:,} accounts -> {result.exchanges_path}"
    )
    typer.echo(
        json.dumps(
            {
                "design": settings.design,
                "exchanges": result.exchanges,
                "accounts": result.accounts,
                "log": str(result.exchanges_path),
                "labels": str(result.labels_path),
            }
        )
    )


def register(app: typer.Typer) -> None:
    app.command("detect")(settings_options(DetectSettings, detect))
    app.command("simulate-traffic")(settings_options(SimulateSettings, simulate))
