"""The query-strategy interface: what to ask the teacher next.

A strategy hands the harvester prompts in rounds. Static strategies (a prompts
file, random words, task generators) return everything in their first round;
adaptive ones (self-instruct, active selection) look at what was answered so far
before choosing the next round. The harvester owns sending, caching, budgets and
output; a strategy never talks HTTP itself except through the ``ask`` callable it
may be given for helper generations (e.g. self-instruct), which goes through the
same cache and budget.

This module must not import torch or any model code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from distillscope.records import Exchange


@dataclass(frozen=True)
class Query:
    """One prompt to send: chat ``messages`` plus metadata carried into the exchange.

    ``meta`` travels to the exchange's provenance (e.g. the task name, the
    reference answer of a reasoning-gym item, the source line number).
    """

    messages: tuple[dict[str, str], ...]
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def user(cls, text: str, system: str | None = None, **meta: Any) -> Query:
        messages: list[dict[str, str]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": text})
        return cls(tuple(messages), dict(meta))

    @property
    def key(self) -> str:
        """A stable content hash of the messages (not the metadata)."""
        blob = json.dumps(list(self.messages), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@runtime_checkable
class QueryStrategy(Protocol):
    """Chooses prompts in rounds; an empty round ends the harvest."""

    #: Short name recorded in every exchange's provenance (``strategy``).
    name: str

    def next_round(self, round_index: int, answered: Sequence[Exchange]) -> list[Query]:
        """The prompts of round ``round_index`` (0-based), given every exchange answered so far.

        Must be deterministic for the same inputs (a resumed run replays rounds and
        finds their answers in the cache), and must return ``[]`` when the strategy
        has nothing more to ask.
        """
        ...


#: Helper generations for adaptive strategies: queries in, the teacher's answer texts out, in order
#: (None where no answer came: a failure, a stop, or an exhausted budget). Goes through the harvest's
#: cache and budget; answers to these helper queries are not rows of the dataset.
Ask = Callable[[Sequence[Query]], list[str | None]]


@runtime_checkable
class TeacherAware(Protocol):
    """Optional: a strategy that needs the teacher for helper generations (e.g. self-instruct).

    The harvester calls ``bind_teacher(ask)`` once before the first round. ``ask``
    blocks and must be called from ``next_round`` (which the harvester runs in a
    worker thread), never from the event loop.
    """

    def bind_teacher(self, ask: Ask) -> None: ...


class StaticStrategy:
    """A strategy whose prompts are known up front: one round, then done."""

    name = "static"

    def __init__(self, queries: Sequence[Query], name: str | None = None) -> None:
        self._queries = list(queries)
        if name:
            self.name = name

    def next_round(self, round_index: int, answered: Sequence[Exchange]) -> list[Query]:
        return list(self._queries) if round_index == 0 else []
