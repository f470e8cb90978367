"""One offline generation loop and one teacher-forcing pass over a local causal LM.

- :func:`generate`: answers for prompts given as token ids (rendered by
  :func:`distillscope.models.runtime.prompt_ids`), in left-padded batches through
  transformers' ``generate``: greedy, or sampled at a temperature (no top-k/top-p
  cut), with per-call logits processors; a row stops at any of the model's
  end-of-sequence ids (:func:`~distillscope.models.runtime.eos_token_ids`, the set
  the server stops at). Optionally each step's raw next-token logits come back
  (for top-k log-probs, entropies).
- :func:`teacher_force`: for (prefix, continuation) pairs, one forward pass per
  right-padded batch: the model's argmax prediction and the log-probability of
  each continuation token, and optionally the whole log-probability rows.

Evaluation, on-policy sampling, the active strategy's probes, watermark cost and
radioactivity all go through these two functions. The server's
:class:`~distillscope.server.backends.engine.BatchEngine` is the online
counterpart (continuous batching, per-row parameters) and shares the prompt
rendering, the EOS set and the KV-cache keyword through ``models.runtime``.

This module must not render prompts, know OpenAI's JSON shapes, keys or statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from distillscope.models.runtime import eos_token_ids

#: ``progress(done, total)`` after each batch.
Progress = Callable[[int, int], None]


def pad_token_id(tokenizer: Any) -> int:
    """The id that pads a batch: the tokenizer's pad token, else its EOS token."""
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


@dataclass
class Generated:
    """One answer: its ids (cut before the end-of-sequence token) and why it ended."""

    ids: list[int]
    finish_reason: str  # "stop" (an EOS token) or "length"
    prompt_tokens: int
    #: Raw next-token logits of every step taken (float32, CPU), the EOS step included; when asked.
    logits: torch.Tensor | None = None


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    processors: Sequence[Any] = (),
    do_sample: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    keep_logits: bool = False,
    progress: Progress | None = None,
) -> list[Generated]:
    """Answers to prompts given as token ids (see the module doc); the random seed is set once."""
    from transformers import LogitsProcessorList

    pad = pad_token_id(tokenizer)
    eos = eos_token_ids(model, tokenizer)
    sampling: dict[str, Any] = {"do_sample": do_sample}
    if do_sample:
        sampling.update(temperature=temperature, top_k=0, top_p=1.0)
    answers: list[Generated] = []
    torch.manual_seed(seed)
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(p) for p in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(batch):  # left padding: every row ends where generation starts
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        with torch.no_grad():
            out = model.generate(
                input_ids=ids.to(model.device),
                attention_mask=mask.to(model.device),
                max_new_tokens=max_new_tokens,
                logits_processor=LogitsProcessorList(list(processors)),
                pad_token_id=pad,
                eos_token_id=sorted(eos),
                return_dict_in_generate=True,
                output_logits=keep_logits,
                **sampling,
            )
        for row, (prompt, new) in enumerate(zip(batch, out.sequences[:, width:].tolist(), strict=True)):
            answers.append(_answer(prompt, new, eos, out.logits if keep_logits else None, row))
        if progress:
            progress(min(start + batch_size, len(prompts)), len(prompts))
    return answers


def _answer(prompt: list[int], new: list[int], eos: set[int], logits: Any, row: int) -> Generated:
    cut = next((i for i, t in enumerate(new) if t in eos), None)
    ids = new if cut is None else new[:cut]
    steps = len(ids) if cut is None else cut + 1
    kept = torch.stack([logits[s][row].float().cpu() for s in range(steps)]) if logits is not None else None
    return Generated(ids, "length" if cut is None else "stop", len(prompt), kept)


@dataclass
class Forced:
    """Teacher-forced view of one (prefix, continuation) pair."""

    ids: list[int]  # prefix + continuation
    start: int  # index of the first continuation token in ``ids``
    predictions: list[int]  # argmax prediction for each continuation position
    logprobs: list[float]  # log p(continuation token | everything before it)
    #: Log-probability rows over the vocabulary at each continuation position, when asked.
    dist: torch.Tensor | None = None


def teacher_force(
    model: Any,
    pairs: Sequence[tuple[list[int], list[int]]],
    *,
    batch_size: int = 8,
    max_length: int | None = 1024,
    pad_id: int = 0,
    keep_dist: bool = False,
    progress: Progress | None = None,
) -> list[Forced]:
    """Argmax predictions and log-probs of the model over each continuation, prefix given.

    A continuation token needs at least one token before it, so a pair with an
    empty prefix starts predicting at its second token. Sequences longer than
    ``max_length`` are cut at the end (``None``: never).
    """
    out: list[Forced] = []
    limit = max_length if max_length is not None else max((len(p) + len(c) for p, c in pairs), default=1)
    for start in range(0, len(pairs), batch_size):
        batch = [(p + c)[:limit] for p, c in pairs[start : start + batch_size]]
        starts = [max(1, min(len(p), limit)) for p, _ in pairs[start : start + batch_size]]
        width = max(1, max(len(s) for s in batch))
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, seq in enumerate(batch):  # right padding: positions line up with the text
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            logits = logits.float().cpu()
        for row, seq in enumerate(batch):
            out.append(_forced(seq, starts[row], logits[row], keep_dist))
        if progress:
            progress(min(start + batch_size, len(pairs)), len(pairs))
    return out


def _forced(seq: list[int], first: int, logits: torch.Tensor, keep_dist: bool) -> Forced:
    if first >= len(seq):
        return Forced(seq, first, [], [])
    step = logits[first - 1 : len(seq) - 1]
    dist = torch.log_softmax(step, dim=-1)
    targets = torch.tensor(seq[first:], dtype=torch.long)
    logprobs = dist.gather(1, targets[:, None])[:, 0]
    return Forced(seq, first, step.argmax(dim=-1).tolist(), logprobs.tolist(), dist if keep_dist else None)
