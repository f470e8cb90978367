"""`distillscope detect` and `distillscope simulate-traffic`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distillscope.clitools import console, fail


def detect(
    logs: Path | None = typer.Argument(
        None, help="Exchange log: JSONL, Parquet, or a folder of Parquet files."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Directory for accounts.jsonl, campaigns.jsonl, summary.md."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Read the server's log store instead (sqlite path or URL)."
    ),
    engine: str = typer.Option("duckdb", help="duckdb (embedded, default) or spark."),
    spark_master: str = typer.Option("local[2]", help="Spark master URL for --engine spark."),
    on_error: str = typer.Option("skip", help="Malformed log lines: skip (report and go on) or stop."),
    threshold: float | None = typer.Option(
        None,
        min=0.0,
        max=1.0,
        help="Flag accounts and campaigns at this score (default 0.5: p <= 1e-3; score = -log10(p) / 6).",
    ),
    target_fpr: float | None = typer.Option(
        None,
        min=1e-9,
        max=0.5,
        help="Instead of --threshold: flag at p <= this false-positive rate (valid when the log's tails "
        "are calibrated; measured rates are in docs/detect.md).",
    ),
    threads: int | None = typer.Option(None, min=1, help="DuckDB threads (default: all cores)."),
    embeddings: bool = typer.Option(
        False, help="Add MiniLM topic dispersion and topic similarity (cached; slower on big logs)."
    ),
) -> None:
    """Find distillation campaigns in exchange logs, also when they are spread over many accounts."""
    from distillscope.detect.calibrate import threshold_for_fpr
    from distillscope.detect.run import run_detection
    from distillscope.detect.scoring import FLAG_THRESHOLD
    from distillscope.detect.summary import summary_table
    from distillscope.records import LogFormatError

    if threshold is not None and target_fpr is not None:
        fail("give --threshold or --target-fpr, not both")
    threshold = threshold_for_fpr(target_fpr) if target_fpr is not None else threshold
    threshold = FLAG_THRESHOLD if threshold is None else threshold
    if engine not in ("duckdb", "spark"):
        fail(f"unknown engine {engine!r}; use duckdb or spark")
    if on_error not in ("skip", "stop"):
        fail(f"--on-error must be skip or stop, not {on_error!r}")
    if (logs is None) == (db is None):
        fail("give exactly one source: a LOGS file or --db URL")
    if db is not None:
        try:
            import distillscope.guard.logstore  # noqa: F401
        except ImportError:
            fail(
                "reading the server's database needs the guard component (distillscope.guard.logstore), "
                "which is not installed here; export the log to JSONL and pass it as LOGS"
            )
    try:
        with console.status(f"reading, aggregating and scoring with {engine} ..."):
            result = run_detection(
                logs,
                out,
                engine,
                db_url=db,
                on_error="raise" if on_error == "stop" else "skip",
                threshold=threshold,
                spark_master=spark_master,
                threads=threads,
                embeddings=embeddings,
            )
    except (LogFormatError, FileNotFoundError, ValueError) as exc:
        fail(f"{exc}")
    except KeyboardInterrupt:
        fail("interrupted; nothing was written", code=130)
    except ImportError as exc:
        fail(f"{engine} engine unavailable: {exc} (pip install 'distillscope[spark]' for Spark)")
    for error in result.errors[:10]:
        console.print(f"[yellow]malformed:[/] {error}", highlight=False)
    if len(result.errors) > 10:
        console.print(f"[yellow]... {len(result.errors) - 10} more listed in {out / 'errors.txt'}[/]")
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
                "out": str(out),
            }
        )
    )


def simulate(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Directory for exchanges.{jsonl,parquet} and labels.jsonl."
    ),
    design: str = typer.Option(
        "classic",
        help="classic (the simulator the detector was first written with) or randomized (a second, "
        "independent design: every scenario draws its own rates, volumes, languages, phrasings, timing, "
        "infrastructure and answer lengths; ten campaign styles, eight kinds of hard negatives).",
    ),
    benign_users: int = typer.Option(300, min=0, help="Ordinary users with human timing."),
    days: int | None = typer.Option(
        None, min=1, max=365, help="Days of traffic (default: 7 for classic, drawn 5-14 for randomized)."
    ),
    seed: int = typer.Option(0, help="Random seed (randomized: the whole scenario is drawn from it)."),
    scale: float = typer.Option(1.0, min=0.01, help="Multiply campaign (and, classic, hard-negative) sizes."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    campaigns: str = typer.Option("all", help="Comma-separated campaign styles, 'all' or 'none'."),
    hard_negatives: bool = typer.Option(True, help="Include the hard negatives."),
) -> None:
    """Write labelled synthetic API traffic: benign users, hard negatives and distillation campaigns."""
    if design not in ("classic", "randomized"):
        fail(f"--design must be classic or randomized, not {design!r}")
    if design == "classic":
        from distillscope.detect.simulate import CAMPAIGN_STYLES, HARD_NEGATIVES
    else:
        from distillscope.simulate.randomized import CAMPAIGN_STYLES, HARD_NEGATIVES
    styles = (
        CAMPAIGN_STYLES
        if campaigns == "all"
        else ()
        if campaigns == "none"
        else tuple(s.strip() for s in campaigns.split(",") if s.strip())
    )
    unknown = sorted(set(styles) - set(CAMPAIGN_STYLES))
    if unknown:
        fail(
            f"unknown styles: {', '.join(unknown)} for --design {design}; "
            f"choose from {', '.join(CAMPAIGN_STYLES)}"
        )
    negatives = HARD_NEGATIVES if hard_negatives else ()
    try:
        with console.status(f"simulating traffic ({design}) ..."):
            if design == "classic":
                from distillscope.detect.simulate import simulate_traffic

                result = simulate_traffic(
                    out,
                    benign_users=benign_users,
                    days=days or 7,
                    seed=seed,
                    scale=scale,
                    fmt=fmt,
                    campaigns=styles,
                    hard_negatives=negatives,
                )
            else:
                from distillscope.simulate import simulate_randomized

                result = simulate_randomized(
                    out,
                    seed=seed,
                    benign=benign_users,
                    days=days,
                    campaign_scale=scale,
                    fmt=fmt,
                    campaigns=styles,
                    hard_negatives=negatives,
                )
    except ValueError as exc:
        fail(str(exc))
    console.print(
        f"{result.exchanges:,} exchanges from {result.accounts:,} accounts -> {result.exchanges_path}"
    )
    typer.echo(
        json.dumps(
            {
                "design": design,
                "exchanges": result.exchanges,
                "accounts": result.accounts,
                "log": str(result.exchanges_path),
                "labels": str(result.labels_path),
            }
        )
    )


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
    app.command("simulate-traffic")(simulate)
