"""Countermeasures applied per request: which ones are on, for whom, and how an answer is changed.

:class:`Countermeasures` holds the strengths a server runs with (log-prob
defences, an antidistillation processor, a watermark ``delta`` dial) and their
scope: every request (``"all"``) or only requests the guard's policy flags with
the ``defend`` action (``"flagged"``). :meth:`Countermeasures.for_request` gives
one request's :class:`RequestDefence` (or None when nothing applies): it adds the
logits processors the local backend runs and rewrites the ``logprobs`` of the
answer or of each stream chunk in place.

Log-prob noise is seeded per token by a keyed hash of (server salt, account,
request body without its streaming options, choice index, token position): a
repeat of a request shows the same noise, so averaging repeats gains nothing, and
the noise cannot be recomputed and subtracted by a client, which does not know
the salt. A streamed and a whole answer to the same request get the same noise.

This module works on OpenAI-shaped dicts; it must not know about HTTP, keys or
stores, and must not import torch (the antidistillation processor is built elsewhere).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

from distillscope.defend.logprobs import LogprobDefence, defend_logprobs

SCOPES = ("all", "flagged")
#: Request fields that do not change the answer's content (a stream and a whole answer match).
_NOT_CONTENT = ("stream", "stream_options", "user")


@dataclass
class Countermeasures:
    """Strengths of the server's countermeasures and who they apply to; the defaults are all off."""

    logprobs: LogprobDefence = field(default_factory=LogprobDefence)
    antidistill: Any | None = None  # an AntidistillationProcessor with lam > 0, or None
    watermark_delta: float | None = None  # replaces the watermark's delta where the defences apply
    scope: str = "all"
    salt: bytes = field(default_factory=lambda: os.urandom(16), repr=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.watermark_delta is not None and not 0 <= self.watermark_delta < float("inf"):
            raise ValueError(f"watermark_delta must be a finite number >= 0, got {self.watermark_delta}")

    @property
    def active(self) -> bool:
        """Whether any countermeasure is on."""
        return self.logprobs.active or self.antidistill is not None or self.watermark_delta is not None

    def describe(self) -> list[str]:
        """One short phrase per countermeasure that is on (for the CLI's start-up line)."""
        out = []
        d = self.logprobs
        if d.round_to is not None:
            out.append(f"log-probs rounded to {d.round_to} decimals")
        if d.noise:
            out.append(f"log-prob noise sd {d.noise}")
        if d.max_top is not None:
            out.append(f"top_logprobs capped at {d.max_top}")
        if d.hide_tail:
            out.append("tail mass hidden")
        if self.antidistill is not None:
            out.append(f"antidistillation sampling lambda {self.antidistill.lam}")
        if self.watermark_delta is not None:
            out.append(f"watermark delta {self.watermark_delta}")
        return out

    def for_request(self, account: str, flagged: bool, body: dict[str, Any]) -> RequestDefence | None:
        """What applies to one request of ``account`` (``flagged`` by the policy), or None."""
        if not self.active or (self.scope == "flagged" and not flagged):
            return None
        content = {k: v for k, v in body.items() if k not in _NOT_CONTENT}
        message = json.dumps([account, content], sort_keys=True, ensure_ascii=True, default=str)
        seed = hmac.new(self.salt, message.encode("ascii"), hashlib.sha256).hexdigest()
        return RequestDefence(self, seed)


class RequestDefence:
    """The countermeasures of one request (see :meth:`Countermeasures.for_request`)."""

    def __init__(self, measures: Countermeasures, seed: str) -> None:
        self.measures = measures
        self.seed = seed
        self._positions: dict[int, int] = {}  # choice index -> tokens already defended (streams)

    def processors(self, base: list[Any]) -> list[Any]:
        """``base`` (the account's watermark processors) with the delta dial, plus antidistillation."""
        delta = self.measures.watermark_delta
        out = []
        for processor in base:
            if delta is not None and hasattr(processor, "delta") and hasattr(processor, "key_id"):
                processor = copy.copy(processor)  # the cached per-account processor stays as it was
                processor.delta = delta
            out.append(processor)
        if self.measures.antidistill is not None:
            out.append(self.measures.antidistill)
        return out

    def answer(self, answer: dict[str, Any]) -> None:
        """Defend the ``logprobs`` of every choice of an answer or of a stream chunk, in place."""
        defence = self.measures.logprobs
        if not defence.active:
            return
        for choice in answer.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("logprobs") is None:
                continue
            index = int(choice.get("index") or 0)
            start = self._positions.get(index, 0)
            choice["logprobs"], used = self._defend(choice["logprobs"], index, start)
            self._positions[index] = start + used

    def _defend(self, logprobs: Any, index: int, start: int) -> tuple[Any, int]:
        defence = self.measures.logprobs

        def seed(position: int) -> str:
            return f"{self.seed}:{index}:{position}"

        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            entries = logprobs["content"]
            defended = [
                defend_logprobs({"content": [entry]}, defence, seed(start + i))["content"][0]
                for i, entry in enumerate(entries)
            ]
            return {**logprobs, "content": defended}, len(entries)
        if isinstance(logprobs, dict) and isinstance(logprobs.get("token_logprobs"), list):
            names = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
            keys = [k for k in names if isinstance(logprobs.get(k), list)]
            count = len(logprobs["token_logprobs"])
            out = {**logprobs, **{k: [] for k in keys}}
            for i in range(count):
                one = {k: [logprobs[k][i]] for k in keys if i < len(logprobs[k])}
                defended = defend_logprobs(one, defence, seed(start + i))
                for k in keys:
                    if k in defended:
                        out[k].append(defended[k][0])
            return out, count
        return logprobs, 0
