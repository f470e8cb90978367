"""`distillscope harvest`: query a teacher at scale without losing or double-paying anything.

Only the command lives here: its options are generated from :class:`HarvestSettings`
and :class:`~distillscope.harvest.strategies.factory.StrategySettings` (each setting
written once, with its help, in the dataclass).

This module must not send, cache or price a request itself:
:func:`~distillscope.harvest.run.harvest` does, and this module only reports its errors and its
result.
"""

from __future__ import annotations

import json

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.harvest.settings import HarvestSettings


def harvest_command(settings: HarvestSettings) -> None:
    """Query a teacher at scale: cached, resumable, rate-limited, budgeted, with provenance.

    Run the same command again to resume: answered requests come from the cache and
    are never sent (or paid) twice.
    """
    from distillscope.harvest.run import HarvestError, harvest
    from distillscope.harvest.teacher import TeacherError

    for error in getattr(settings.strategy, "errors", None) or []:
        console.print(f"[yellow]skipped malformed line[/] {error}", highlight=False)
    try:
        result = harvest(settings)
    except (HarvestError, TeacherError, ValueError) as exc:
        fail(str(exc))
    if result.dry_run:
        typer.echo(json.dumps(result.estimate, indent=2))
        return
    if result.interrupted:
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    app.command("harvest", no_args_is_help=True)(settings_options(HarvestSettings, harvest_command))
