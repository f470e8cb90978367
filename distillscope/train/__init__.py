"""Train students on exchanges: sequence KD (SFT on teacher text) and top-k log-prob KD.

Public API: :func:`train_student` and :class:`TrainSettings`; the pieces live in
``data`` (dataset -> examples), ``vocab``/``align`` (token strings -> student ids),
``losses``, ``loop`` (fit, checkpoints), ``student`` and ``card``.
Importing this package stays light: torch is loaded on first use.
"""

from __future__ import annotations

from pathlib import Path

from distillscope.train.settings import METHODS, TrainSettings

__all__ = ["METHODS", "TrainSettings", "train_student"]


def train_student(settings: TrainSettings) -> Path:
    """Train a student as ``settings`` say; returns the Hugging Face model directory."""
    from distillscope.train.run import train_student as run

    return run(settings)
