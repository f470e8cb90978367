"""`distillscope train`: train a student on an exchanges dataset (sequence KD, top-k KD, mixed, on-policy).

Only the command lives here: its options are generated from :class:`TrainSettings`
(each setting written once, with its help, in the dataclass).

This module must not hold training logic or import torch at import time:
:func:`~distillscope.train.run.train_student` is imported inside the command, and its errors become
messages and exit codes.
"""

from __future__ import annotations

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.train.settings import TrainSettings


def train_command(settings: TrainSettings) -> None:
    """Train a student on a teacher's exchanges; writes safetensors, tokenizer and a model card."""
    from distillscope.exchanges import DatasetError
    from distillscope.models import ModelNotFoundError
    from distillscope.train.checkpoint import CheckpointError
    from distillscope.train.loop import TrainingInterrupted
    from distillscope.train.run import train_student
    from distillscope.train.scorer import ScoringBudgetExhausted, ScoringUnsupported

    try:
        path = train_student(settings)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(130) from None
    except (
        DatasetError, CheckpointError, ModelNotFoundError, ValueError, ScoringUnsupported,
        ScoringBudgetExhausted,
    ) as exc:  # fmt: skip
        fail(str(exc))
    console.print(f"student -> {path}")
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("train")(settings_options(TrainSettings, train_command))
