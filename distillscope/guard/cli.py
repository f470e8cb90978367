"""CLI of this component: not built yet (issue 5)."""

from __future__ import annotations

import typer

from distillscope.clitools import not_built


def register(app: typer.Typer) -> None:
    not_built(app, "keys", issue=5)
    not_built(app, "logs", issue=5)
