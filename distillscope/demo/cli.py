"""`distillscope demo`: the red-team exercise from the command line (thin: options in, summary out)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail
from distillscope.demo.run import run_demo
from distillscope.demo.settings import DemoSettings
from distillscope.demo.summary import terminal_summary


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def demo_command(
    quick: bool = typer.Option(
        False, "--quick", help="Smoke test with tiny budgets (numbers show plumbing)."
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="The long exercise: bigger world and harvest, a top-k "
        "KD student, radioactivity and identity probes (about an hour on 2 cores).",
    ),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: runs/<timestamp>)."),
    model: str | None = typer.Option(
        None, "--model", help="Local teacher: embedded SmolLM2 or a HF directory."
    ),
    teacher_url: str | None = typer.Option(
        None, "--teacher-url", help="Put an OpenAI-compatible teacher behind the gateway instead."
    ),
    teacher_model: str | None = typer.Option(None, "--teacher-model", help="Model id at --teacher-url."),
    teacher_key_env: str | None = typer.Option(None, "--teacher-key-env", help="Env var with its API key."),
    benign_users: int | None = typer.Option(None, help="Ordinary users in the simulated world."),
    days: int | None = typer.Option(None, help="Days of simulated history before the live window."),
    live_hydra: int | None = typer.Option(None, help="Hydra accounts that harvest live."),
    extractor_queries: int | None = typer.Option(None, help="Live queries of the solo heavy extractor."),
    hydra_queries: int | None = typer.Option(None, help="Live queries per live hydra account."),
    live_benign: int | None = typer.Option(None, help="Benign accounts still at work in the live window."),
    max_new_tokens: int | None = typer.Option(None, help="Tokens per live answer."),
    top_logprobs: int = typer.Option(5, help="top_logprobs the extractor asks for (0: text only)."),
    train_steps: int | None = typer.Option(None, help="Training steps of the attacker's student."),
    task_size: int | None = typer.Option(None, help="Held-out task items for fidelity and task score."),
    seed: int = typer.Option(0, help="Seed of the simulated world and the harvest."),
    threads: int | None = typer.Option(
        None,
        help="Torch threads for generation, training and evaluation (default: 1 on a busy machine, "
        "else every core).",
    ),
    screenshot: Path | None = typer.Option(
        None, help="Also save a PNG of the report's top (needs chromium)."
    ),
    frontier: Path | None = typer.Option(
        None,
        help="frontier.json written by `distillscope defend evaluate`, shown in the report as measured "
        "there (default: the repository's docs/evidence/defend/frontier.json).",
    ),
) -> None:
    """Red-team exercise on your own model, offline: a simulated population and live attackers through
    the real gateway; what was caught online and offline, who the watermark names, what the attacker's
    student kept. Writes report.html + report.json."""
    try:
        settings = DemoSettings(
            out=out, quick=quick, full=full, model=model, teacher_url=teacher_url,
            teacher_model=teacher_model, teacher_key_env=teacher_key_env, benign_users=benign_users,
            days=days, live_hydra=live_hydra, extractor_queries=extractor_queries,
            hydra_queries=hydra_queries, live_benign=live_benign, max_new_tokens=max_new_tokens,
            top_logprobs=top_logprobs, train_steps=train_steps, task_size=task_size, seed=seed,
            threads=threads, screenshot=screenshot, frontier=frontier,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a polite kill ends like Ctrl-C
    try:
        folder = run_demo(settings)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    terminal_summary(folder, console)
    typer.echo(str(folder / "report.html"))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
