"""The exchanges dataset (harvest output): read and check it, and the prompt of each exchange.

Reads a harvest output directory (``exchanges.parquet`` or ``exchanges.jsonl``
plus ``manifest.json``) or one .parquet/.jsonl file, through :mod:`distillscope.records`.
A missing, malformed or empty dataset is a :class:`DatasetError` with a message
that says what to fix; exchanges that cannot teach anything (no answer, an error
status) are skipped and counted, never silently. Train, evaluate, the active
strategy and the model tools all read datasets here.

This module must not import torch or tokenizers: records in, records out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.errors import InputError
from distillscope.records import Exchange, LogFormatError, read_exchanges


class DatasetError(InputError):
    """An exchanges dataset that cannot be trained on, with the reason."""


@dataclass
class Dataset:
    """The usable exchanges of a dataset, ordered by harvest time, and what was skipped."""

    source: Path
    exchanges: list[Exchange]
    manifest: dict[str, Any] | None
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        return float(sum(e.cost_usd or 0.0 for e in self.exchanges))

    @property
    def has_logprobs(self) -> bool:
        return any(_has_top(e) for e in self.exchanges)

    def teacher(self) -> str | None:
        for exchange in self.exchanges:
            prov = exchange.provenance or {}
            name = prov.get("teacher") or prov.get("model") or exchange.model
            if name:
                return str(name)
        return (self.manifest or {}).get("teacher")


def _has_top(exchange: Exchange) -> bool:
    return bool(exchange.logprobs) and any(t.get("top_logprobs") for t in exchange.logprobs or [])


def _dataset_file(path: Path) -> Path:
    if path.is_dir():
        for name in ("exchanges.parquet", "exchanges.jsonl"):
            if (path / name).exists():
                return path / name
        raise DatasetError(f"{path}: no exchanges.parquet or exchanges.jsonl in this directory")
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.suffix not in (".parquet", ".jsonl", ".json"):
        raise DatasetError(f"{path}: expected a harvest directory, a .parquet or a .jsonl file")
    return path


def _manifest(path: Path) -> dict[str, Any] | None:
    folder = path if path.is_dir() else path.parent
    candidate = folder / "manifest.json"
    if not candidate.exists():
        return None
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{candidate}: unreadable manifest ({exc})") from exc
    return data if isinstance(data, dict) else None


def load_dataset(path: str | Path, limit: int | None = None) -> Dataset:
    """Read and check an exchanges dataset; keep exchanges with an answer, oldest first."""
    path = Path(path)
    file = _dataset_file(path)
    try:
        records = read_exchanges(file, on_error="raise")
    except LogFormatError as exc:
        raise DatasetError(f"malformed dataset: {exc}") from exc
    if not records:
        raise DatasetError(f"{file}: the dataset holds no exchanges")
    skipped = {"no_answer": 0, "error_status": 0, "no_messages": 0}
    usable = []
    for exchange in records:
        if exchange.status is not None and exchange.status >= 400:
            skipped["error_status"] += 1
        elif not exchange.response_text and not exchange.logprobs:
            skipped["no_answer"] += 1
        elif exchange.messages is None and exchange.prompt is None:
            skipped["no_messages"] += 1
        else:
            usable.append(exchange)
    if not usable:
        raise DatasetError(
            f"{file}: none of its {len(records)} exchanges has an answer to train on (skipped: {skipped})"
        )
    # Stable sort: ties keep file order (harvest rounds are written in order).
    usable.sort(key=lambda e: e.ts)
    if limit is not None:
        usable = usable[:limit]
    return Dataset(file, usable, _manifest(path), {k: v for k, v in skipped.items() if v})


def prompt_messages(exchange: Exchange) -> list[dict[str, Any]]:
    """The chat messages an exchange asked (a plain prompt becomes one user message)."""
    if exchange.messages is not None:
        return [{"role": m.get("role"), "content": m.get("content") or ""} for m in exchange.messages]
    return [{"role": "user", "content": exchange.prompt or ""}]


def calibration_texts(dataset: Dataset, n: int = 32) -> list[str]:
    """The first ``n`` prompts of a dataset as plain text (for ``auto:N``'s layer-redundancy measure)."""
    return [
        "\n".join(str(m.get("content") or "") for m in prompt_messages(exchange))
        for exchange in dataset.exchanges[:n]
    ]
