"""`distillscope demo`: the red-team exercise from the command line (thin: options in, summary out).

The options are the fields of :class:`~distillscope.demo.settings.DemoSettings`.

This module must not run a stage or judge a result: :func:`~distillscope.demo.run.run_demo` and
:func:`~distillscope.demo.summary.terminal_summary` do.
"""

from __future__ import annotations

import signal
from typing import Any

import typer

from distillscope.clitools import console, settings_options
from distillscope.demo.run import run_demo
from distillscope.demo.settings import DemoSettings
from distillscope.demo.summary import terminal_summary


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def demo(settings: DemoSettings) -> None:
    """Red-team exercise on your own model, offline: a simulated population and live attackers through
    the real gateway; what was caught online and offline, who the watermark names, what the attacker's
    student kept. Writes report.html + report.json."""
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a polite kill ends like Ctrl-C
    try:
        folder = run_demo(settings)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    terminal_summary(folder, console)
    typer.echo(str(folder / "report.html"))


#: The typer command: one option per field of DemoSettings.
demo_command = settings_options(DemoSettings, demo)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
