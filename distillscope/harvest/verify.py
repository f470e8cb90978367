"""Verified harvesting: keep only the teacher answers that a task's own checker scores correct.

An exchange is verifiable when the query that produced it came from a reasoning-gym task
generator and carried its item's address in the query metadata (``provenance.query_meta``):
``task`` (a reasoning-gym name, optionally with settings: ``products:max_digits=1``),
``seed``, ``size`` and ``index``. The harvest strategy ``reasoning-gym`` writes exactly
that. The item is regenerated from its address and the teacher's answer is scored with
the dataset's own ``score_answer`` on the answer :func:`distillscope.evaluate.tasks.extract_answer`
takes from the reply, the same rule task accuracy uses.

This is what a distiller does with verifiable tasks (rejection sampling): pay for every
answer, train only on the correct ones. The dropped answers were paid for too, so the
report keeps what was spent on all of them beside what was kept.

This module must not talk to a teacher or change the exchanges it keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from distillscope.records import Exchange

ADDRESS = ("task", "seed", "size", "index")


class VerifyError(ValueError):
    """An exchange that cannot be verified, with the reason."""


@dataclass
class Verified:
    """The exchanges kept, and what verification saw: counts and dollars (all paid, and kept)."""

    kept: list[Exchange]
    checked: int
    correct: int
    unverifiable: int
    paid_usd: float
    kept_usd: float
    per_task: dict[str, list[int]] = field(default_factory=dict)  # task -> [correct, checked]

    def report(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "correct": self.correct,
            "kept": len(self.kept),
            "unverifiable": self.unverifiable,
            "paid_usd": round(self.paid_usd, 8),
            "kept_usd": round(self.kept_usd, 8),
            "per_task": {task: {"correct": c, "checked": n} for task, (c, n) in self.per_task.items()},
        }


def task_address(exchange: Exchange) -> dict[str, Any] | None:
    """The reasoning-gym item an exchange answered (``task``, ``seed``, ``size``, ``index``), or None."""
    meta = (exchange.provenance or {}).get("query_meta") or {}
    if not all(key in meta for key in ADDRESS):
        return None
    return {key: meta[key] for key in ADDRESS}


@lru_cache(maxsize=64)
def _dataset(task: str, size: int, seed: int) -> Any:
    from distillscope.evaluate import make_task_dataset

    return make_task_dataset(task, size, seed)


def answer_score(exchange: Exchange) -> float:
    """The task checker's score (0..1) of the teacher's answer; VerifyError when not verifiable."""
    from distillscope.evaluate import extract_answer

    address = task_address(exchange)
    if address is None:
        raise VerifyError(
            f"exchange {exchange.id}: its query carries no reasoning-gym item address "
            f"({', '.join(ADDRESS)} in provenance.query_meta); harvest with the reasoning-gym strategy"
        )
    try:
        dataset = _dataset(str(address["task"]), int(address["size"]), int(address["seed"]))
        entry = dataset[int(address["index"])]
    except Exception as exc:  # reasoning-gym raises KeyError/ValueError/IndexError for a bad address
        raise VerifyError(f"exchange {exchange.id}: reasoning-gym item {address}: {exc}") from exc
    reply = extract_answer(exchange.response_text or "", str(entry.get("answer")))
    return float(dataset.score_answer(answer=reply, entry=entry))


def keep_verified(
    exchanges: Sequence[Exchange], min_score: float = 1.0, unverifiable: str = "error"
) -> Verified:
    """The exchanges whose answer scores >= ``min_score``.

    ``unverifiable``: ``error`` (default: raise VerifyError naming the first one), ``drop`` or ``keep``.
    """
    if unverifiable not in ("error", "drop", "keep"):
        raise ValueError("unverifiable must be error, drop or keep")
    if not 0.0 < min_score <= 1.0:
        raise ValueError("min_score must be within (0, 1]")
    kept: list[Exchange] = []
    per_task: dict[str, list[int]] = {}
    checked = correct = skipped = 0
    for exchange in exchanges:
        address = task_address(exchange)
        if address is None:
            if unverifiable == "error":
                answer_score(exchange)  # raises with the reason
            skipped += 1
            if unverifiable == "keep":
                kept.append(exchange)
            continue
        good = answer_score(exchange) >= min_score
        checked += 1
        correct += good
        counts = per_task.setdefault(str(address["task"]).split(":")[0], [0, 0])
        counts[0] += good
        counts[1] += 1
        if good:
            kept.append(exchange)
    return Verified(
        kept=kept,
        checked=checked,
        correct=correct,
        unverifiable=skipped,
        paid_usd=float(sum(e.cost_usd or 0.0 for e in exchanges)),
        kept_usd=float(sum(e.cost_usd or 0.0 for e in kept)),
        per_task=per_task,
    )
