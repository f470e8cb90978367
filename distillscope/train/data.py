"""Exchanges dataset -> training examples: chat-templated prompt, teacher answer, aligned top-k targets.

Reads a harvest output directory (``exchanges.parquet`` or ``exchanges.jsonl``
plus ``manifest.json``) or one .parquet/.jsonl file. A missing, malformed or
empty dataset is a :class:`DatasetError` with a message that says what to fix;
exchanges that cannot teach anything (no answer, an error status) are skipped
and counted, never silently.

This module builds lists of ints; :func:`collate` is the only place that makes tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.errors import InputError
from distillscope.models.runtime import prompt_ids
from distillscope.records import Exchange, LogFormatError, read_exchanges
from distillscope.train.align import align_answer
from distillscope.train.vocab import TokenMapper


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


@dataclass
class Example:
    """One training sequence: ids, labels (-100 = no loss) and sparse KD targets."""

    input_ids: list[int]
    labels: list[int]
    # (position p whose logits predict token p + 1, student ids, teacher logprobs)
    kd: list[tuple[int, list[int], list[float]]] = field(default_factory=list)


def prompt_messages(exchange: Exchange) -> list[dict[str, Any]]:
    if exchange.messages is not None:
        return [{"role": m.get("role"), "content": m.get("content") or ""} for m in exchange.messages]
    return [{"role": "user", "content": exchange.prompt or ""}]


def build_example(
    exchange: Exchange, tokenizer: Any, mapper: TokenMapper, max_seq_len: int, with_kd: bool
) -> Example | None:
    """One example; ``None`` when the prompt leaves no room for any answer token."""
    prompt = prompt_ids(tokenizer, prompt_messages(exchange))
    aligned = align_answer(exchange.response_text, exchange.logprobs if with_kd else None, tokenizer, mapper)
    answer = list(aligned.ids)
    targets = list(aligned.targets)
    if exchange.finish_reason in (None, "stop") and tokenizer.eos_token_id is not None:
        answer.append(tokenizer.eos_token_id)
        targets.append(None)
    room = max_seq_len - len(prompt)
    if room < 1 or not answer:
        return None
    answer, targets = answer[:room], targets[:room]
    input_ids = prompt + answer
    labels = [-100] * len(prompt) + answer
    kd = [
        (len(prompt) + j - 1, target[0], target[1]) for j, target in enumerate(targets) if target is not None
    ]
    return Example(input_ids, labels, kd)


def build_examples(
    dataset: Dataset, tokenizer: Any, max_seq_len: int, with_kd: bool
) -> tuple[list[Example], dict[str, int]]:
    """Examples for every usable exchange, and counts of what was dropped or aligned."""
    if with_kd and not dataset.has_logprobs:
        raise DatasetError(
            f"{dataset.source}: no exchange carries top_logprobs, which top-k KD needs "
            "(harvest with top_logprobs, or train with --method sft)"
        )
    mapper = TokenMapper(tokenizer)
    examples = []
    stats = {"too_long": 0, "kd_positions": 0}
    for exchange in dataset.exchanges:
        example = build_example(exchange, tokenizer, mapper, max_seq_len, with_kd)
        if example is None:
            stats["too_long"] += 1
            continue
        stats["kd_positions"] += len(example.kd)
        examples.append(example)
    if not examples:
        raise DatasetError(f"{dataset.source}: no exchange fits max_seq_len={max_seq_len} with its prompt")
    return examples, stats


def collate(examples: list[Example], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors; KD targets as [B, T, K] ids/logprobs (-inf pads) and a [B, T] mask."""
    import torch

    length = max(len(e.input_ids) for e in examples)
    k = max((len(ids) for e in examples for _, ids, _ in e.kd), default=1)
    size = len(examples)
    input_ids = torch.full((size, length), pad_id, dtype=torch.long)
    attention = torch.zeros((size, length), dtype=torch.long)
    labels = torch.full((size, length), -100, dtype=torch.long)
    kd_ids = torch.zeros((size, length, k), dtype=torch.long)
    kd_logprobs = torch.full((size, length, k), float("-inf"))
    kd_mask = torch.zeros((size, length), dtype=torch.bool)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        attention[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels)
        for position, ids, logprobs in example.kd:
            kd_ids[row, position, : len(ids)] = torch.tensor(ids)
            kd_logprobs[row, position, : len(ids)] = torch.tensor(logprobs)
            kd_mask[row, position] = True
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "labels": labels,
        "kd_ids": kd_ids,
        "kd_logprobs": kd_logprobs,
        "kd_mask": kd_mask,
    }
