"""Batched helpers around a local causal LM for the watermark tests (prompts are rendered by
:func:`distillscope.models.runtime.prompt_ids`, as the server renders them).

- :func:`generate`: greedy or sampled answers for many prompts, with per-call logits processors;
- :func:`teacher_force`: for (prefix, continuation) pairs, the model's argmax prediction and the
  log-probability of each continuation token (one forward pass per batch).

Everything runs under ``torch.inference_mode`` on the model's device. This
module must not know about keys or statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

Progress = Callable[[int, int], None]


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    processors: Sequence[Any] = (),
    do_sample: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[list[int]]:
    """Answers (token ids, cut at the end-of-sequence token) for prompts given as token ids."""
    from transformers import LogitsProcessorList

    pad = _pad_id(tokenizer)
    eos = {int(tokenizer.eos_token_id)} if tokenizer.eos_token_id is not None else set()
    answers: list[list[int]] = []
    torch.manual_seed(seed)
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(p) for p in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(batch):  # left padding: every row ends where generation starts
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                logits_processor=LogitsProcessorList(list(processors)),
                pad_token_id=pad,
            )
        for row in out[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in eos), len(row))
            answers.append(row[:cut])
        if progress:
            progress(min(start + batch_size, len(prompts)), len(prompts))
    return answers


@dataclass
class Forced:
    """Teacher-forced view of one (prefix, continuation) pair."""

    ids: list[int]  # prefix + continuation
    start: int  # index of the first continuation token in ``ids``
    predictions: list[int]  # argmax prediction for each continuation position
    logprobs: list[float]  # log p(continuation token | everything before it)


def teacher_force(
    model: Any,
    pairs: Sequence[tuple[list[int], list[int]]],
    *,
    batch_size: int = 8,
    max_length: int = 1024,
    pad_id: int = 0,
    progress: Progress | None = None,
) -> list[Forced]:
    """Argmax predictions and log-probs of the model over each continuation, prefix given.

    A continuation token needs at least one token before it, so a pair with an
    empty prefix starts predicting at its second token. Sequences longer than
    ``max_length`` are cut at the end.
    """
    out: list[Forced] = []
    for start in range(0, len(pairs), batch_size):
        batch = [(p + c)[:max_length] for p, c in pairs[start : start + batch_size]]
        starts = [max(1, min(len(p), max_length)) for p, _ in pairs[start : start + batch_size]]
        width = max(1, max(len(s) for s in batch))
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, seq in enumerate(batch):  # right padding: positions line up with the text
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            logits = logits.float().cpu()
        for row, seq in enumerate(batch):
            first = starts[row]
            if first >= len(seq):
                out.append(Forced(seq, first, [], []))
                continue
            step = logits[row, first - 1 : len(seq) - 1]
            targets = torch.tensor(seq[first:], dtype=torch.long)
            logprobs = torch.log_softmax(step, dim=-1).gather(1, targets[:, None])[:, 0]
            out.append(Forced(seq, first, step.argmax(dim=-1).tolist(), logprobs.tolist()))
        if progress:
            progress(min(start + batch_size, len(pairs)), len(pairs))
    return out
