"""Log-prob defences: what the API reports of the model's distribution, degraded on purpose.

A distiller that asks for ``top_logprobs`` learns far more per query than one that
reads text only (top-k KD). Each defence takes the ``logprobs`` object of one
OpenAI choice, chat (``{"content": [{token, logprob, bytes, top_logprobs}]}``) or
legacy completions (``{tokens, token_logprobs, top_logprobs, text_offset}``), and
returns a defended copy:

- ``round_to``: log-probs rounded to this many decimals (coarser = less signal);
- ``noise``: Gaussian noise of this standard deviation (nats) on every reported
  log-prob, drawn from a generator seeded per answer so a repeat shows the same
  noise (averaging repeats of one request gains nothing);
- ``max_top``: at most this many ``top_logprobs`` alternatives per token;
- ``hide_tail``: the alternatives renormalised to sum to one, so the mass
  outside the reported top-k (what top-k KD keeps as a tail bucket) cannot be read off.

The sampled token and the text never change. With every strength off,
:func:`defend_logprobs` returns its input object unchanged (byte-identical
answers). This module must not import torch and must not know about HTTP.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogprobDefence:
    """Strengths of the log-prob defences; the defaults turn every one off."""

    round_to: int | None = None
    noise: float = 0.0
    max_top: int | None = None
    hide_tail: bool = False

    def __post_init__(self) -> None:
        if self.round_to is not None and not 0 <= self.round_to <= 6:
            raise ValueError(f"round_to must be 0..6 decimals, got {self.round_to}")
        if not math.isfinite(self.noise) or self.noise < 0:
            raise ValueError(f"noise must be a finite standard deviation >= 0, got {self.noise}")
        if self.max_top is not None and self.max_top < 0:
            raise ValueError(f"max_top must be >= 0, got {self.max_top}")

    @property
    def active(self) -> bool:
        return self.round_to is not None or self.noise > 0 or self.max_top is not None or self.hide_tail


def defend_logprobs(logprobs: Any, defence: LogprobDefence, seed: str = "") -> Any:
    """A defended copy of one choice's ``logprobs`` (chat or legacy); the input when nothing is on."""
    if logprobs is None or not defence.active:
        return logprobs
    rng = random.Random(hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest())
    out = copy.deepcopy(logprobs)
    if isinstance(out, dict) and isinstance(out.get("content"), list):
        for entry in out["content"]:
            _defend_chat_entry(entry, defence, rng)
        return out
    if isinstance(out, dict) and "token_logprobs" in out:
        _defend_legacy(out, defence, rng)
    return out


def _defend_chat_entry(entry: dict[str, Any], defence: LogprobDefence, rng: random.Random) -> None:
    if entry.get("logprob") is not None:
        entry["logprob"] = _value(entry["logprob"], defence, rng)
    top = entry.get("top_logprobs")
    if not top:
        return
    top = top[: defence.max_top] if defence.max_top is not None else top
    values = _alternatives([t["logprob"] for t in top], defence, rng)
    entry["top_logprobs"] = [{**t, "logprob": v} for t, v in zip(top, values, strict=True)]


def _defend_legacy(out: dict[str, Any], defence: LogprobDefence, rng: random.Random) -> None:
    out["token_logprobs"] = [None if v is None else _value(v, defence, rng) for v in out["token_logprobs"]]
    tops = out.get("top_logprobs") or []
    for i, top in enumerate(tops):
        if not top:
            continue
        items = list(top.items())
        items = items[: defence.max_top] if defence.max_top is not None else items
        values = _alternatives([v for _, v in items], defence, rng)
        tops[i] = {token: v for (token, _), v in zip(items, values, strict=True)}


def _alternatives(values: list[float], defence: LogprobDefence, rng: random.Random) -> list[float]:
    if defence.hide_tail and values:
        top = max(values)
        total = top + math.log(sum(math.exp(v - top) for v in values))
        values = [v - total for v in values]
    return [_value(v, defence, rng) for v in values]


def _value(value: float, defence: LogprobDefence, rng: random.Random) -> float:
    if defence.noise > 0:
        value = value + rng.gauss(0.0, defence.noise)
    value = min(value, 0.0)  # a log-probability never exceeds 0, noise or not
    if defence.round_to is not None:
        value = round(value, defence.round_to)
    return value
