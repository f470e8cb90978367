"""Adaptive attackers for the radioactivity test: how a harvest is changed before a student learns it.

Each function turns the answers a provider served (watermarked, per-account keys)
into what an attacker who tries to scrub the watermark would train on:

- :func:`mix_by_share`: the harvest is only ``share`` of the training answers'
  tokens, the rest unwatermarked text of the same kind (exact token share, checked);
- :func:`paraphrase_messages` / :func:`paraphrase`: every harvested answer is
  rewritten by another model (the unwatermarked teacher) before training;
- :func:`spread_accounts`: the harvest is spread thin over many accounts, each
  key seeing little text (test it with
  :func:`distillscope.watermark.radioactivity.pooled_reading`).

The scenarios themselves (which students, which readings) are run by
``bench/radioactivity.py``. This module must not train models, score keys or
write files.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

PARAPHRASE_INSTRUCTION = (
    "Rewrite the following text in your own words. Keep its meaning, change the wording. "
    "Reply with the rewritten text only.\n\nText: {text}"
)


@dataclass
class MixedSet(Generic[Item]):
    """A training set in which the watermarked items hold ``share`` of the tokens."""

    items: list[Item]
    marked: int  # watermarked items in ``items``
    filler: int  # unwatermarked items in ``items``
    marked_tokens: int
    filler_tokens: int

    @property
    def share(self) -> float:
        """The watermarked share of all tokens, as built (not as asked)."""
        total = self.marked_tokens + self.filler_tokens
        return self.marked_tokens / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": len(self.items),
            "marked": self.marked,
            "filler": self.filler,
            "marked_tokens": self.marked_tokens,
            "filler_tokens": self.filler_tokens,
            "share": self.share,
        }


def mix_by_share(
    marked: Sequence[Item],
    filler: Sequence[Item],
    share: float,
    tokens: Callable[[Item], int],
    *,
    seed: int = 0,
) -> MixedSet[Item]:
    """All of ``marked`` plus just enough ``filler`` (in a seeded random order) for ``share``.

    The watermarked share of tokens ends at or just below ``share`` (the last
    filler item may overshoot by its own length). Raises ``ValueError`` when
    ``filler`` has too few tokens: a smaller mix than asked is never returned silently.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must lie in (0, 1] (got {share})")
    if not marked:
        raise ValueError("no watermarked items to mix")
    rng = random.Random(seed)
    marked_tokens = sum(tokens(x) for x in marked)
    needed = marked_tokens * (1 - share) / share
    pool = list(filler)
    rng.shuffle(pool)
    chosen: list[Item] = []
    filler_tokens = 0
    for item in pool:
        if filler_tokens >= needed:
            break
        chosen.append(item)
        filler_tokens += tokens(item)
    if filler_tokens < needed:
        raise ValueError(
            f"filler too small for a {share:.0%} share: {filler_tokens} tokens, need {needed:.0f}"
        )
    items = [*marked, *chosen]
    rng.shuffle(items)
    return MixedSet(items, len(marked), len(chosen), marked_tokens, filler_tokens)


def paraphrase_messages(text: str) -> list[dict[str, str]]:
    """The chat request that asks a model to rewrite one harvested answer."""
    return [{"role": "user", "content": PARAPHRASE_INSTRUCTION.format(text=text.strip())}]


def paraphrase(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_new_tokens: int = 96,
    temperature: float = 0.7,
    seed: int = 0,
    batch_size: int = 8,
    progress: Any = None,
) -> list[str]:
    """Each text rewritten by ``model`` (sampled, no watermark processor), in order."""
    from distillscope.models.generate import generate
    from distillscope.models.runtime import prompt_ids

    prompts = [prompt_ids(tokenizer, paraphrase_messages(t)) for t in texts]
    answers = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        do_sample=temperature > 0,
        temperature=temperature or 1.0,
        seed=seed,
        progress=progress,
    )
    return [tokenizer.decode(a.ids, skip_special_tokens=True).strip() for a in answers]


def shared_ngrams(original: Sequence[int], rewritten: Sequence[int], n: int = 2) -> float:
    """Share of ``rewritten``'s token n-grams that also occur in ``original`` (how much was copied)."""
    grams = {tuple(original[i : i + n]) for i in range(len(original) - n + 1)}
    own = [tuple(rewritten[i : i + n]) for i in range(len(rewritten) - n + 1)]
    return sum(g in grams for g in own) / len(own) if own else 0.0


def spread_accounts(count: int, prefix: str = "sybil") -> list[str]:
    """Names of ``count`` harvesting accounts for a harvest spread thin."""
    if count < 1:
        raise ValueError("count must be >= 1")
    return [f"{prefix}-{i + 1:03d}" for i in range(count)]
