"""The red-team demo: distill your own endpoint through its gateway, and see what leaked and what was caught.

``distillscope demo`` (``make demo``) runs, on one machine and offline, every
component through its Python API: a simulated population with hard negatives and
two distillation styles in the gateway's log, then a live window in which the
attackers harvest the embedded teacher through the real gateway while benign
accounts keep working; the online guard, the policy, the offline detector and
the watermark judge it; the attacker's student is measured before and after.
See :mod:`distillscope.demo.run` for the stages. This package only wires the
components together; it must not re-implement any of them.
"""

from __future__ import annotations

from distillscope.demo.cli import demo_command, register
from distillscope.demo.run import DemoRun, StageUnavailable, report_json, run_demo
from distillscope.demo.settings import DemoSettings

__all__ = [
    "DemoRun",
    "DemoSettings",
    "StageUnavailable",
    "demo_command",
    "register",
    "report_json",
    "run_demo",
]
