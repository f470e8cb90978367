"""Detect distillation in API exchange logs, per account and across accounts (campaigns).

``run_detection(source, out_dir, engine="duckdb")`` reads a log (JSONL, Parquet or
the guard's database), extracts per-account features with DuckDB or Spark, links
accounts by shared templates, infrastructure and timing, scores accounts and
groups, and writes ``accounts.jsonl``, ``campaigns.jsonl`` and ``summary.md``.
``DetectSettings(...).run()`` does the same from the command line's settings.
Labelled logs to test it on come from ``distillscope.simulate`` (its own package).
Imports are lazy so that importing this package stays cheap.

This module must not import DuckDB, Spark or :mod:`distillscope.simulate` at import time: its four
names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distillscope.detect.run import DetectionResult, run_detection
    from distillscope.detect.settings import DetectSettings, SimulateSettings

__all__ = ["DetectSettings", "DetectionResult", "SimulateSettings", "run_detection"]


def __getattr__(name: str) -> Any:
    if name in ("DetectionResult", "run_detection"):
        from distillscope.detect import run

        return getattr(run, name)
    if name in ("DetectSettings", "SimulateSettings"):
        from distillscope.detect import settings

        return getattr(settings, name)
    raise AttributeError(name)
