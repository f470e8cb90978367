"""Evaluate students against teachers: fidelity, task accuracy, identity, cost; retention curves.

The face (names load on first use, so importing this package loads no torch):
:func:`evaluate_student` with :class:`EvalSettings`, :func:`run_curve`, :func:`fidelity`,
:func:`teacher_continuations`, :func:`make_teacher` / :class:`LocalTeacher`, the task set
(:func:`task_items`, :data:`INSTRUCTION`, :func:`extract_answer`, :func:`task_accuracy`) and
:func:`exchanges_from_model` (teacher exchanges written straight from a local model).

This module must not import a submodule at import time, and components other than the assemblers
(the root CLI and face, serving, the demo) must not reach past it into evaluate's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distillscope.lazyface import lazy_getattr

if TYPE_CHECKING:
    from distillscope.evaluate.curve import run_curve
    from distillscope.evaluate.fidelity import fidelity, student_greedy
    from distillscope.evaluate.generate import exchanges_from_model
    from distillscope.evaluate.run import evaluate_student, teacher_continuations
    from distillscope.evaluate.settings import EvalSettings
    from distillscope.evaluate.tasks import (
        INSTRUCTION,
        extract_answer,
        make_task_dataset,
        task_accuracy,
        task_items,
    )
    from distillscope.evaluate.teachers import LocalTeacher, make_teacher

__all__ = [
    "INSTRUCTION",
    "EvalSettings",
    "LocalTeacher",
    "evaluate_student",
    "exchanges_from_model",
    "extract_answer",
    "fidelity",
    "make_task_dataset",
    "make_teacher",
    "run_curve",
    "student_greedy",
    "task_accuracy",
    "task_items",
    "teacher_continuations",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        "evaluate_student": "distillscope.evaluate.run",
        "EvalSettings": "distillscope.evaluate.settings",
        "teacher_continuations": "distillscope.evaluate.run",
        "run_curve": "distillscope.evaluate.curve",
        "fidelity": "distillscope.evaluate.fidelity",
        "student_greedy": "distillscope.evaluate.fidelity",
        "exchanges_from_model": "distillscope.evaluate.generate",
        "task_accuracy": "distillscope.evaluate.tasks",
        "task_items": "distillscope.evaluate.tasks",
        "extract_answer": "distillscope.evaluate.tasks",
        "make_task_dataset": "distillscope.evaluate.tasks",
        "INSTRUCTION": "distillscope.evaluate.tasks",
        "make_teacher": "distillscope.evaluate.teachers",
        "LocalTeacher": "distillscope.evaluate.teachers",
    },
)
