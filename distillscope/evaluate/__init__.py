"""Evaluate students against teachers: fidelity, task accuracy, identity, cost; retention curves.

Public API: :func:`evaluate_student` and :func:`run_curve`. Importing this package
stays light: torch is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate_student", "run_curve"]


def evaluate_student(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`distillscope.evaluate.run.evaluate_student`."""
    from distillscope.evaluate.run import evaluate_student as run

    return run(*args, **kwargs)


def run_curve(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`distillscope.evaluate.curve.run_curve`."""
    from distillscope.evaluate.curve import run_curve as run

    return run(*args, **kwargs)
