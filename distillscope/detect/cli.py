"""CLI of this component: not built yet (issue 6)."""

from __future__ import annotations

import typer

from distillscope.clitools import not_built


def register(app: typer.Typer) -> None:
    not_built(app, "detect", issue=6)
    not_built(app, "simulate-traffic", issue=6)
