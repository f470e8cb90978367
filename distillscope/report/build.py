"""Build ``report.html`` from a run directory's ``report.json`` (and nothing else).

This module must not measure anything: what is not in report.json is not in the report.
"""

from __future__ import annotations

import os
from pathlib import Path

from distillscope.report.html import render_html
from distillscope.report.schema import Report, load_report


def build_report(run: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Render ``<run>/report.json`` (or a report.json path) to ``report.html`` beside it, atomically."""
    source = Path(run)
    report: Report = load_report(source)
    json_path = source / "report.json" if source.is_dir() else source
    target = Path(out) if out is not None else json_path.with_name("report.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render_html(report), encoding="utf-8")
    os.replace(tmp, target)
    return target
