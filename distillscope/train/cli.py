"""CLI of this component: not built yet (issue 4)."""

from __future__ import annotations

import typer

from distillscope.clitools import not_built


def register(app: typer.Typer) -> None:
    not_built(app, "train", issue=4)
