"""Helpers for detect tests: hand-built exchange logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

T0 = 1_772_409_600.0  # 2026-03-02 00:00 UTC


def write_log(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one per line."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def ex(i: int, account: str, ts: float, prompt: str, **extra: Any) -> dict[str, Any]:
    row = {
        "id": f"{account}-{i:06d}",
        "ts": ts,
        "account": account,
        "messages": [{"role": "user", "content": prompt}],
    }
    row.update(extra)
    return row
