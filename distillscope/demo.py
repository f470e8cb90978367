"""The red-team demo: both sides against each other on the embedded default. Not built yet (issue 8)."""

from __future__ import annotations

import typer

from distillscope.clitools import not_built


def register(app: typer.Typer) -> None:
    not_built(app, "demo", issue=8)
