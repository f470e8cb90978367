"""distillscope: model distillation through APIs, seen from both sides.

The flat public face for Python users. Every name is imported lazily, on first
use, so that ``import distillscope`` stays cheap (no torch, no DuckDB)::

    import distillscope as ds

    exchanges = ds.read_exchanges("log.jsonl")
    result = ds.run_detection("log.jsonl", "det/")
    try:
        ds.run_harvest(ds.HarvestSettings(...))
    except ds.DistillscopeError as exc:   # one root for every known failure
        print(exc)

This module holds the name table only; it must not import a component at import time.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it (or (module, name there)). No public name may equal a
#: sub-package's name: importing ``distillscope.harvest`` sets the package attribute ``harvest``
#: to that module, so the harvest function is ``run_harvest``.
_PUBLIC: dict[str, str | tuple[str, str]] = {
    # errors
    "DistillscopeError": "distillscope.errors",
    "ConfigError": "distillscope.errors",
    "InputError": "distillscope.errors",
    # the exchange record and its logs
    "Exchange": "distillscope.records",
    "read_exchanges": "distillscope.records",
    "write_exchanges": "distillscope.records",
    # as a tactic
    "run_harvest": ("distillscope.harvest.run", "harvest"),
    "HarvestSettings": "distillscope.harvest.settings",
    "HarvestResult": "distillscope.harvest.run",
    "StrategySettings": "distillscope.harvest.strategies.factory",
    "train_student": "distillscope.train.run",
    "TrainSettings": "distillscope.train.settings",
    "evaluate_student": "distillscope.evaluate.run",
    "EvalSettings": "distillscope.evaluate.settings",
    "run_curve": "distillscope.evaluate.curve",
    # as a target
    "run_detection": "distillscope.detect.run",
    "DetectSettings": "distillscope.detect.settings",
    "DetectionResult": "distillscope.detect.run",
    "WatermarkSettings": "distillscope.watermark.config",
    "RadioactivityTest": "distillscope.watermark.settings",
    "ServeSettings": "distillscope.serving",
    "build_app": "distillscope.serving",
    "serve": "distillscope.serving",
    # both sides
    "build_report": "distillscope.report.build",
    "run_demo": "distillscope.demo",
    "DemoSettings": "distillscope.demo",
}

__all__ = [
    "__version__",
    "DistillscopeError",
    "ConfigError",
    "InputError",
    "Exchange",
    "read_exchanges",
    "write_exchanges",
    "run_harvest",
    "HarvestSettings",
    "HarvestResult",
    "StrategySettings",
    "train_student",
    "TrainSettings",
    "evaluate_student",
    "EvalSettings",
    "run_curve",
    "run_detection",
    "DetectSettings",
    "DetectionResult",
    "WatermarkSettings",
    "RadioactivityTest",
    "ServeSettings",
    "build_app",
    "serve",
    "build_report",
    "run_demo",
    "DemoSettings",
]

if TYPE_CHECKING:
    from distillscope.demo import DemoSettings, run_demo
    from distillscope.detect.run import DetectionResult, run_detection
    from distillscope.detect.settings import DetectSettings
    from distillscope.errors import ConfigError, DistillscopeError, InputError
    from distillscope.evaluate.curve import run_curve
    from distillscope.evaluate.run import evaluate_student
    from distillscope.evaluate.settings import EvalSettings
    from distillscope.harvest.run import HarvestResult
    from distillscope.harvest.run import harvest as run_harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.harvest.strategies.factory import StrategySettings
    from distillscope.records import Exchange, read_exchanges, write_exchanges
    from distillscope.report.build import build_report
    from distillscope.serving import ServeSettings, build_app, serve
    from distillscope.train.run import train_student
    from distillscope.train.settings import TrainSettings
    from distillscope.watermark.config import WatermarkSettings
    from distillscope.watermark.settings import RadioactivityTest


def __getattr__(name: str) -> Any:
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module 'distillscope' has no attribute {name!r}")
    module, attribute = where if isinstance(where, tuple) else (where, name)
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
