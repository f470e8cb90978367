"""Exchanges dataset -> training examples: chat-templated prompt, teacher answer, aligned top-k targets.

The dataset itself (reading, checking, prompt messages) is :mod:`distillscope.exchanges`.
This module builds lists of ints; :func:`collate` is the only place that makes tensors.

This module must not read a file or load a model: it is handed a dataset and a tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distillscope.exchanges import Dataset, DatasetError, prompt_messages
from distillscope.models.runtime import prompt_ids
from distillscope.records import Exchange
from distillscope.train.align import align_answer
from distillscope.train.vocab import TokenMapper


@dataclass
class Example:
    """One training sequence: ids, labels (-100 = no loss) and sparse KD targets."""

    input_ids: list[int]
    labels: list[int]
    # (position p whose logits predict token p + 1, student ids, teacher logprobs)
    kd: list[tuple[int, list[int], list[float]]] = field(default_factory=list)


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
