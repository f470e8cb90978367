"""guard component (see DESIGN.md): keys, the exchange log, the online score and policy, replay.

The face other components use (names load on first use, so importing this package
stays cheap): the public-benchmark registry (:class:`BenchmarkStore`,
:func:`load_files`, :class:`BenchmarkError`) and how a logged exchange is keyed
for it (:func:`body_of`, :func:`request_question`), so the offline detector
matches exactly the questions the online ledger matches. The serving stack, the
demo and the root CLI assemble the rest from the modules themselves.

This module must not import a submodule at import time (no database driver, no FastAPI), and
components other than the assemblers must not reach past it into guard's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distillscope.lazyface import lazy_getattr

if TYPE_CHECKING:
    from distillscope.guard.benchmarks import BenchmarkError, BenchmarkStore, load_files
    from distillscope.guard.risk import body_of, request_question

_FACE = {
    "BenchmarkError": "distillscope.guard.benchmarks",
    "BenchmarkStore": "distillscope.guard.benchmarks",
    "load_files": "distillscope.guard.benchmarks",
    "body_of": "distillscope.guard.risk",
    "request_question": "distillscope.guard.risk",
}

__all__ = ["BenchmarkError", "BenchmarkStore", "body_of", "load_files", "request_question"]

__getattr__ = lazy_getattr(__name__, _FACE)
