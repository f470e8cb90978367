"""Task-generator queries from ``reasoning-gym``: procedurally generated problems with checkable answers.

``reasoning_gym.create_dataset(task, size=count, seed=seed)`` makes the items;
each query keeps the question, reference answer and metadata in its meta (and so
in the exchange's provenance), so evaluation can score a student with the
dataset's own ``score_answer``. Several tasks may be mixed (``"a,b"``): each gets
``count`` items.

This module must not talk to a teacher.
"""

from __future__ import annotations

import json
from typing import Any

from distillscope.harvest.strategies.base import Query, StaticStrategy


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def reasoning_gym_queries(task: str, count: int, seed: int = 0, system: str | None = None) -> list[Query]:
    """``count`` problems of ``task`` (reproducible for a given seed)."""
    import reasoning_gym

    try:
        dataset = reasoning_gym.create_dataset(task, size=count, seed=seed)
    except Exception as exc:  # reasoning_gym raises KeyError/ValueError for unknown names or bad configs
        raise ValueError(f"reasoning-gym task {task!r}: {exc}") from exc
    queries = []
    for index in range(count):
        item = dataset[index]
        meta = {
            "source": "reasoning_gym",
            "task": task,
            "seed": seed,
            "size": count,
            "index": index,
            "question": item["question"],
            "answer": _json_safe(item.get("answer")),
            "metadata": _json_safe(item.get("metadata") or {}),
        }
        queries.append(Query.user(item["question"], system=system, **meta))
    return queries


class ReasoningGymStrategy(StaticStrategy):
    """Problems from one or more reasoning-gym tasks, in one round."""

    name = "reasoning-gym"

    def __init__(self, tasks: str | list[str], count: int, seed: int = 0, system: str | None = None) -> None:
        if count <= 0:
            raise ValueError("count must be > 0")
        names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
        if not names:
            raise ValueError("name at least one reasoning-gym task (e.g. gsm_symbolic)")
        queries = [q for name in names for q in reasoning_gym_queries(name, count, seed, system)]
        super().__init__(queries)
        self.params = {"tasks": names, "count": count, "seed": seed}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


def score(exchange_meta: dict[str, Any], answer: str | None) -> float:
    """Score ``answer`` for a harvested item with its dataset's own ``score_answer`` (0..1)."""
    import reasoning_gym

    dataset = reasoning_gym.create_dataset(
        exchange_meta["task"], size=exchange_meta["size"], seed=exchange_meta["seed"]
    )
    entry = dataset[exchange_meta["index"]]
    return float(dataset.score_answer(answer, entry))
