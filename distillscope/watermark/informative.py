"""Which token positions of a text could carry the watermark at all (given the model that served it).

A green-list watermark moves the decoder only where the model had a choice. Where
the model's own next-token distribution is nearly certain (arithmetic written out
greedily, code, boilerplate) the token is the same with or without the watermark,
and under ANY key it is green with probability gamma: it adds noise, no evidence,
and a long low-entropy text can hide a greedy harvester's key completely. The
provider holds the model, so it can score only the positions where the watermark
could have acted (the idea of SWEET, Lee et al. 2023, "Who wrote this code?"):

- the top token leads the runner-up by less than the watermark's ``delta`` in logit
  (a greedy decoder's choice there flips when the runner-up is green), or
- the distribution's entropy is at least ``min_entropy`` nats (a sampler had a choice).

When the sampling temperature of each answer is known (the request's, from the
exchange log), the entropy clause reads the distribution the sampler drew from,
``softmax(logits / T)``: at temperature 0.3 a spread-out model distribution is
nearly greedy, and a greedy answer (T = 0) is open only where the gap is below
``delta`` (elsewhere its token is the top token with or without the watermark, so
those positions carry no evidence at all). The gap clause is the same at every
temperature (adding ``delta`` to the runner-up overtakes the top token exactly when
the gap is below ``delta``, whatever ``T`` divides both by).

The selection depends only on the text and the unwatermarked model, never on a
key, so for a key the text was not generated with, the selected (context, token)
pairs are still green with probability gamma: the exact binomial test of the
detector stays valid (control keys check it in every report).

This module computes the selection; the test itself is the detector's
(:func:`distillscope.watermark.detector.detect_sequences` with ``keep=``). It must
not generate text and must not look at any key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import spec_for

#: Entropy (nats) above which a sampler is taken to have had a choice.
MIN_ENTROPY = 1.0


@dataclass(frozen=True)
class Selection:
    """What the selection kept: a mask per sequence over its scored positions, and the totals."""

    keep: list[list[bool]]
    positions: int
    kept: int
    rule: str


def open_to_watermark(
    log_probs: torch.Tensor, max_gap: float, min_entropy: float, temperature: float = 1.0
) -> list[bool]:
    """Per row of next-token log-probs: could a watermark of bias ``max_gap`` have acted there, for an
    answer sampled at ``temperature`` (0: greedy)?"""
    if log_probs.numel() == 0:
        return []
    top = log_probs.topk(2, dim=-1).values
    gap = top[:, 0] - top[:, 1]
    if temperature <= 0.0:  # greedy: only a near tie can flip the choice
        return (gap < max_gap).tolist()
    tempered = torch.log_softmax(log_probs / temperature, dim=-1) if temperature != 1.0 else log_probs
    entropy = -(tempered.exp() * tempered).sum(dim=-1)
    return ((gap < max_gap) | (entropy >= min_entropy)).tolist()


def informative_positions(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[list[dict[str, Any]]],
    sequences: Sequence[Sequence[int]],
    config: WatermarkSettings,
    *,
    min_entropy: float = MIN_ENTROPY,
    batch_size: int = 8,
    temperatures: Sequence[float] | None = None,
) -> Selection:
    """For each answer (its token ids, as the detector scores them, after its conversation), which of
    its scored positions the model left open to the watermark.

    ``temperatures`` (one per answer: the sampling temperature its request asked for, 0 for greedy)
    makes the entropy clause read the distribution each answer was sampled from; without it every
    answer is read at temperature 1. Like the text, the temperatures are known without any key."""
    from distillscope.models.generate import pad_token_id, teacher_force
    from distillscope.models.runtime import prompt_ids

    if len(conversations) != len(sequences):
        raise ValueError("one conversation per answer is needed")
    if temperatures is not None and len(temperatures) != len(sequences):
        raise ValueError("one temperature per answer is needed")
    temps = [1.0] * len(sequences) if temperatures is None else [max(0.0, float(t)) for t in temperatures]
    first = spec_for(config, 1, max(2, len(tokenizer))).first_scored  # the same for every key
    pairs = [
        (prompt_ids(tokenizer, list(c)), list(ids)) for c, ids in zip(conversations, sequences, strict=True)
    ]
    keep: list[list[bool]] = []
    pad = pad_token_id(tokenizer)
    for start in range(0, len(pairs), batch_size):  # a batch at a time: full distributions are large
        chunk = pairs[start : start + batch_size]
        with torch.no_grad():
            forced = teacher_force(model, chunk, batch_size=batch_size, max_length=None, pad_id=pad,
                                   keep_dist=True)  # fmt: skip
        for (_, ids), view, temp in zip(chunk, forced, temps[start : start + batch_size], strict=True):
            rows = view.dist if view.dist is not None else torch.zeros((0, 1))
            mask = open_to_watermark(rows, float(config.delta), min_entropy, temp)
            keep.append(mask[first:] if len(ids) > first else [])
    positions = sum(len(m) for m in keep)
    return Selection(
        keep=keep,
        positions=positions,
        kept=sum(sum(m) for m in keep),
        rule=f"positions where the model's top token leads the runner-up by less than delta = "
        f"{config.delta:g} or its entropy is at least {min_entropy:g} nats"
        + (
            " at the answer's own sampling temperature (greedy answers: the gap alone)"
            if temperatures
            else ""
        ),
    )
