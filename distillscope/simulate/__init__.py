"""Labelled API traffic for judging detectors: a randomised scenario generator (and the classic one).

``simulate_randomized(out_dir, seed=...)`` draws a whole scenario from its seed
(domain randomisation: rates, volumes, languages, phrasings, timing,
infrastructure, answer lengths) with ten campaign styles and eight kinds of hard
negatives, and writes ``exchanges.jsonl``, ``labels.jsonl`` and ``scenario.json``.
The classic simulator, the one the detector was first written with, is
``simulate_traffic`` (``distillscope.simulate.classic``; its catalogue is
``CLASSIC_CAMPAIGN_STYLES`` / ``CLASSIC_HARD_NEGATIVES``). Nothing in this package
may be imported by the detector's scoring (only its command line offers them).
Imports are lazy so that importing this package stays cheap.

This module must not import a simulator at import time, and the simulators must not import the
detector they judge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distillscope.simulate.classic import CAMPAIGN_STYLES as CLASSIC_CAMPAIGN_STYLES
    from distillscope.simulate.classic import HARD_NEGATIVES as CLASSIC_HARD_NEGATIVES
    from distillscope.simulate.classic import simulate_traffic
    from distillscope.simulate.randomized import (
        BENIGN_STYLES,
        CAMPAIGN_STYLES,
        HARD_NEGATIVES,
        RandomizedResult,
        generate,
        simulate_randomized,
    )

__all__ = [
    "BENIGN_STYLES",
    "CAMPAIGN_STYLES",
    "CLASSIC_CAMPAIGN_STYLES",
    "CLASSIC_HARD_NEGATIVES",
    "HARD_NEGATIVES",
    "RandomizedResult",
    "generate",
    "simulate_randomized",
    "simulate_traffic",
]


def __getattr__(name: str) -> Any:
    if name == "simulate_traffic" or name.startswith("CLASSIC_"):
        from distillscope.simulate import classic

        return getattr(classic, name.removeprefix("CLASSIC_"))
    if name in __all__:
        from distillscope.simulate import randomized

        return getattr(randomized, name)
    raise AttributeError(name)
