"""CLI of this component: not built yet (issue 8)."""

from __future__ import annotations

import typer

from distillscope.clitools import not_built


def register(app: typer.Typer) -> None:
    not_built(app, "report", issue=8)
