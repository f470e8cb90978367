"""What the watermark costs the teacher's answers.

For N prompts the teacher answers greedily twice, without and with the
watermark of one key, and we report:

- ``exact_match``: share of answers left entirely unchanged;
- ``common_prefix``: mean number of tokens before the two answers part ways;
- ``agreement``: share of watermarked-answer tokens that are also the
  unwatermarked model's own greedy choice at that point (teacher-forced);
  1.0 for the plain answers by construction;
- ``perplexity`` of the watermarked answers under the unwatermarked model,
  next to the perplexity of the plain answers (the floor);
- the green fraction of both answer sets under the key (the watermark's strength).

This module must not change the model or write files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from distillscope.models.generate import Progress, generate, pad_token_id, teacher_force
from distillscope.watermark.detector import PairTally
from distillscope.watermark.processor import GreenListLogitsProcessor


@dataclass
class CostReport:
    prompts: int
    max_new_tokens: int
    key_id: str
    gamma: float
    delta: float
    tokens_plain: int
    tokens_watermarked: int
    exact_match: float
    common_prefix: float
    agreement: float
    perplexity_plain: float
    perplexity_watermarked: float
    green_fraction_plain: float | None
    green_fraction_watermarked: float | None

    @property
    def perplexity_ratio(self) -> float:
        return self.perplexity_watermarked / self.perplexity_plain

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "perplexity_ratio": self.perplexity_ratio}


def _perplexity(forced: Sequence[Any]) -> float:
    logprobs = [lp for f in forced for lp in f.logprobs]
    return math.exp(-sum(logprobs) / len(logprobs)) if logprobs else float("nan")


def _green_fraction(
    processor: GreenListLogitsProcessor, vocab_size: int, pairs: Sequence[tuple]
) -> float | None:
    spec = processor.spec(vocab_size)
    tally = PairTally(spec, dedup=False)
    for prefix, answer in pairs:
        # The answer's first token is seeded by the end of the prompt: keep just enough of it.
        context = list(prefix[-spec.first_scored :]) if spec.first_scored else []
        tally.add_sequence(context + list(answer))
    return tally.green / tally.scored if tally.scored else None


def watermark_cost(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    processor: GreenListLogitsProcessor,
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> CostReport:
    """Compare greedy answers with and without ``processor`` on ``prompts`` (token ids)."""
    budget = {"max_new_tokens": max_new_tokens, "batch_size": batch_size}
    plain = [g.ids for g in generate(model, tokenizer, prompts, **budget)]
    if progress:
        progress(1, 3)
    marked = [g.ids for g in generate(model, tokenizer, prompts, processors=[processor], **budget)]
    if progress:
        progress(2, 3)
    pad = pad_token_id(tokenizer)
    plain_pairs = [(list(p), a) for p, a in zip(prompts, plain, strict=True)]
    marked_pairs = [(list(p), a) for p, a in zip(prompts, marked, strict=True)]
    forced_plain = teacher_force(model, plain_pairs, batch_size=batch_size, pad_id=pad)
    forced_marked = teacher_force(model, marked_pairs, batch_size=batch_size, pad_id=pad)
    if progress:
        progress(3, 3)
    agree = sum(
        int(p == t) for f in forced_marked for p, t in zip(f.predictions, f.ids[f.start :], strict=True)
    )
    scored = sum(len(f.predictions) for f in forced_marked)
    vocab = model.get_output_embeddings().weight.shape[0]
    return CostReport(
        prompts=len(prompts),
        max_new_tokens=max_new_tokens,
        key_id=processor.key_id,
        gamma=processor.gamma,
        delta=processor.delta,
        tokens_plain=sum(len(a) for a in plain),
        tokens_watermarked=sum(len(a) for a in marked),
        exact_match=sum(int(a == b) for a, b in zip(plain, marked, strict=True)) / max(1, len(prompts)),
        common_prefix=sum(_common_prefix(a, b) for a, b in zip(plain, marked, strict=True))
        / max(1, len(prompts)),
        agreement=agree / scored if scored else float("nan"),
        perplexity_plain=_perplexity(forced_plain),
        perplexity_watermarked=_perplexity(forced_marked),
        green_fraction_plain=_green_fraction(processor, vocab, plain_pairs),
        green_fraction_watermarked=_green_fraction(processor, vocab, marked_pairs),
    )


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
