"""Active selection: ask the teacher where the current student is most uncertain, retrain, repeat.

Each round: (1) the student is trained for a few steps on everything answered so
far (``distillscope.train.fit_exchanges``, in memory); (2) every prompt of the pool not
yet asked is scored by a cheap probe; (3) the ``round_size`` highest-scoring
prompts are the round. Probes:

- ``entropy`` (free): mean entropy of the student's next-token distribution
  along its own greedy continuation of ``probe_tokens`` tokens;
- ``disagreement`` (costs teacher queries): the student's cross-entropy on the
  teacher's short answer (``probe_tokens``, greedy) to the prompt, obtained through
  ``teacher_probe``; without one, the harvester binds its own helper generations
  (``bind_teacher``), so every probe answer is cached, budgeted, rate-limited and
  counted in the manifest's ``helper_requests``.

Rounds are remembered (and written to ``state_file`` when given), so a resumed
harvest that replays a round gets the same prompts without retraining. This
module follows ``base.QueryStrategy``; torch is imported only when a round is scored.

It must not ask the teacher except through what the harvester gives it (``teacher_probe`` or
``bind_teacher``), so that no probe answer escapes the cache or the budget, and must not write
anything but its ``state_file``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from distillscope.harvest.strategies.base import Query
from distillscope.models.runtime import prompt_ids
from distillscope.records import Exchange

PROBES = ("entropy", "disagreement")


def exchange_key(exchange: Exchange) -> str | None:
    """The :attr:`Query.key` of the request an exchange answered."""
    if exchange.messages is None:
        return None
    messages = tuple({"role": m.get("role"), "content": m.get("content")} for m in exchange.messages)
    return Query(messages).key


class ActiveStrategy:
    """Pick, in rounds, the pool prompts the current student is least sure about (see module doc)."""

    name = "active"

    def __init__(
        self,
        pool: Sequence[Query],
        round_size: int,
        rounds: int | None = None,
        model: Any = None,
        tokenizer: Any = None,
        settings: Any = None,
        probe: str = "entropy",
        probe_tokens: int = 16,
        train_steps: int = 10,
        teacher_probe: Callable[[list[Query]], list[str]] | None = None,
        state_file: str | Path | None = None,
        batch_size: int = 8,
    ) -> None:
        if round_size < 1:
            raise ValueError("round_size must be >= 1")
        if probe not in PROBES:
            raise ValueError(f"probe must be one of {', '.join(PROBES)}")
        self.pool = list(pool)
        self.round_size, self.rounds = round_size, rounds
        self.probe, self.probe_tokens, self.train_steps = probe, probe_tokens, train_steps
        self.teacher_probe, self.batch_size = teacher_probe, batch_size
        self.settings = settings
        self.model, self.tokenizer = model, tokenizer
        self.state_file = Path(state_file) if state_file else None
        self._rounds: dict[int, list[str]] = self._load_state()
        self._trained_on: set[str] = set()
        self.last_scores: dict[str, float] = {}

    # -- QueryStrategy -------------------------------------------------------------------

    def bind_teacher(self, ask: Callable[[list[Query]], list[str | None]]) -> None:
        """The harvester's helper generations become the disagreement probe (unless one was given)."""
        if self.probe != "disagreement" or self.teacher_probe is not None:
            return
        sampling = {"max_tokens": self.probe_tokens, "temperature": 0}

        def probe(queries: list[Query]) -> list[str]:
            asked = [replace(q, meta={**q.meta, "sampling": sampling}) for q in queries]
            return [answer or "" for answer in ask(asked)]

        self.teacher_probe = probe

    def next_round(self, round_index: int, answered: Sequence[Exchange]) -> list[Query]:
        by_key = {q.key: q for q in self.pool}
        if round_index in self._rounds:
            return [by_key[k] for k in self._rounds[round_index] if k in by_key]
        if self.rounds is not None and round_index >= self.rounds:
            return []
        asked = {exchange_key(e) for e in answered} | {k for ks in self._rounds.values() for k in ks}
        remaining = [q for q in self.pool if q.key not in asked]
        if not remaining:
            return []
        self._ensure_model()
        self._retrain(answered)
        scores = self.score(remaining)
        order = sorted(range(len(remaining)), key=lambda i: (-scores[i], i))
        chosen = [remaining[i] for i in order[: self.round_size]]
        self.last_scores = {remaining[i].key: scores[i] for i in order}
        self._rounds[round_index] = [q.key for q in chosen]
        self._save_state()
        return chosen

    # -- probes --------------------------------------------------------------------------

    def score(self, queries: list[Query]) -> list[float]:
        """Higher = ask sooner. Entropy (nats) or cross-entropy on the teacher's probe answer."""
        conversations = [list(q.messages) for q in queries]
        if self.probe == "entropy":
            return greedy_entropy(
                self.model, self.tokenizer, conversations, self.probe_tokens, self.batch_size
            )
        if self.teacher_probe is None:
            raise ValueError(
                "the disagreement probe needs the teacher's short answers: pass teacher_probe, "
                "or run the strategy inside a harvest (which binds its own)"
            )
        answers = self.teacher_probe(queries)
        return answer_cross_entropy(self.model, self.tokenizer, conversations, answers)

    # -- training ------------------------------------------------------------------------

    def _ensure_model(self) -> None:
        if self.model is not None:
            return
        from distillscope.train import TrainSettings, make_student

        self.settings = self.settings or TrainSettings()
        self.model, self.tokenizer, _ = make_student(self.settings)

    def _retrain(self, answered: Sequence[Exchange]) -> None:
        """A few steps on everything answered so far, when something new came in."""
        keys = {exchange_key(e) for e in answered if e.response_text}
        if not keys - self._trained_on or self.train_steps < 1:
            return
        from distillscope.train import TrainSettings, fit_exchanges

        usable = sorted((e for e in answered if e.response_text), key=lambda e: e.ts)
        settings = replace(
            self.settings or TrainSettings(),
            max_steps=self.train_steps, epochs=1000.0, progress=False, resume=False, stop_after=None,
        )  # fmt: skip
        fit_exchanges(self.model, self.tokenizer, usable, settings)
        self._trained_on = keys

    # -- persistence ---------------------------------------------------------------------

    def _load_state(self) -> dict[int, list[str]]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        return {int(k): list(v) for k, v in data.get("rounds", {}).items()}

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rounds": self._rounds}), encoding="utf-8")
        tmp.replace(self.state_file)


def greedy_entropy(
    model: Any, tokenizer: Any, conversations: list[list[dict[str, Any]]], tokens: int, batch_size: int = 8
) -> list[float]:
    """Mean next-token entropy along each prompt's greedy continuation (the EOS step included)."""
    import torch

    from distillscope.models.generate import generate

    prompts = [prompt_ids(tokenizer, c) for c in conversations]
    answers = generate(
        model, tokenizer, prompts, max_new_tokens=max(1, tokens), batch_size=batch_size, keep_logits=True
    )
    out = []
    for answer in answers:
        log_p = torch.log_softmax(answer.logits, dim=-1)
        total = torch.zeros(())
        for entropy in -(log_p.exp() * log_p).sum(-1):  # float32, step by step: scores stay bit-stable
            total += entropy
        out.append(float(total / len(answer.logits)))
    return out


def answer_cross_entropy(
    model: Any, tokenizer: Any, conversations: list[list[dict[str, Any]]], answers: list[str]
) -> list[float]:
    """The student's mean cross-entropy (nats/token) on each teacher answer (inf for an empty one)."""
    import torch

    from distillscope.models.generate import pad_token_id, teacher_force

    pairs = [
        (prompt_ids(tokenizer, c), tokenizer.encode(a, add_special_tokens=False))
        for c, a in zip(conversations, answers, strict=True)
    ]
    forced = teacher_force(model, pairs, batch_size=1, max_length=None, pad_id=pad_token_id(tokenizer))
    return [float(-torch.tensor(f.logprobs).mean()) if f.logprobs else math.inf for f in forced]
