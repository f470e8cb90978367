"""The `distillscope` command: a thin typer app, one sub-command per component.

No logic lives here. Each component's ``cli.py`` exposes ``register(app)`` and
keeps its heavy imports (torch, transformers, duckdb, ...) inside the commands, so
that ``distillscope --help`` stays fast.

This module must not hold a command's logic, and must not import torch, transformers or DuckDB,
directly or through the ``cli.py`` modules it registers at import time.
"""

from __future__ import annotations

import typer

from distillscope import __version__
from distillscope.errors import DistillscopeError

app = typer.Typer(
    name="distillscope",
    help=(
        "Model distillation through APIs, seen from both sides.\n\n"
        "As a tactic: harvest a teacher you may use, train a student, measure what it kept.\n"
        "As a target: serve your model behind a gateway that logs, scores, watermarks and "
        "detects distillation campaigns, and share what you catch."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"distillscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """distillscope: distill a teacher, or protect your own model from being distilled."""


def _register_all() -> None:
    from distillscope.defend.cli import register as defend
    from distillscope.demo import register as demo
    from distillscope.detect.cli import register as detect
    from distillscope.evaluate.cli import register as evaluate
    from distillscope.guard.cli import register as guard
    from distillscope.harvest.cli import register as harvest
    from distillscope.models.cli import register as models
    from distillscope.probe.cli import register as probe
    from distillscope.report.cli import register as report
    from distillscope.serving.cli import register as server
    from distillscope.share.cli import register as share
    from distillscope.train.cli import register as train
    from distillscope.watermark.cli import register as watermark

    for register in (
        demo,
        server,
        guard,
        harvest,
        train,
        evaluate,
        detect,
        watermark,
        defend,
        probe,
        share,
        report,
        models,
    ):
        register(app)


_register_all()


def main() -> None:
    try:
        app()
    except DistillscopeError as exc:
        # A known failure that a command did not turn into its own message: say it
        # plainly (no traceback) and exit 2, like every other usage error.
        from distillscope.clitools import console

        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
