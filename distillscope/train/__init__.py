"""Train students on exchanges: sequence KD (SFT on teacher text), top-k log-prob KD, on-policy.

The face other components use (names load on first use, so importing this
package loads no torch): :func:`train_student` and :class:`TrainSettings` (a
run from a dataset to a student directory), :func:`make_student` (the student a
settings object describes), :func:`fit_exchanges` (a few steps in memory on
exchanges, for active selection), :func:`read_training_info` (a student's
provenance), ``METHODS`` and :class:`TrainingInterrupted`. The pieces live in
``data`` (exchanges -> examples), ``vocab``/``align`` (token strings -> student
ids), ``losses``, ``loop`` (fit, checkpoints), ``onpolicy``/``scorer``, ``student``
and ``card``; other components must not import them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distillscope.lazyface import lazy_getattr
from distillscope.train.settings import METHODS, TrainSettings

if TYPE_CHECKING:
    from distillscope.train.card import read_training_info
    from distillscope.train.loop import TrainingInterrupted
    from distillscope.train.run import fit_exchanges, train_student
    from distillscope.train.student import make_student

__all__ = [
    "METHODS",
    "TrainSettings",
    "TrainingInterrupted",
    "fit_exchanges",
    "make_student",
    "read_training_info",
    "train_student",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "train_student": "distillscope.train.run",
        "fit_exchanges": "distillscope.train.run",
        "make_student": "distillscope.train.student",
        "read_training_info": "distillscope.train.card",
        "TrainingInterrupted": "distillscope.train.loop",
    },
)
