"""Verified harvesting: answers kept only when the task's own checker scores them correct."""

from __future__ import annotations

import pytest

from distillscope.evaluate.tasks import make_task_dataset
from distillscope.harvest.verify import VerifyError, keep_verified, task_address
from distillscope.records import Exchange

TASK = "products:max_digits=1"


def _exchange(i: int, reply: str, address: dict | None, cost: float = 0.001) -> Exchange:
    meta = dict(address or {}) | {"sample": 0}
    return Exchange(
        id=f"ex{i}", ts=1000.0 + i, account="harvest",
        messages=[{"role": "user", "content": f"question {i}"}], response_text=reply,
        cost_usd=cost, provenance={"teacher": "t", "strategy": "random", "query_meta": meta}, status=200,
    )  # fmt: skip


def _answered(index: int, right: bool, i: int) -> Exchange:
    entry = make_task_dataset(TASK, 10, 7)[index]
    answer = int(entry["answer"]) + (0 if right else 1)
    address = {"task": TASK, "seed": 7, "size": 10, "index": index}
    return _exchange(i, f"Let me think. {entry['question']}\nAnswer: {answer}", address)


def test_keeps_only_correct_answers_and_counts_what_was_paid() -> None:
    exchanges = [_answered(0, True, 0), _answered(1, False, 1), _answered(2, True, 2), _answered(3, False, 3)]
    verified = keep_verified(exchanges)
    assert [e.id for e in verified.kept] == ["ex0", "ex2"]
    assert (verified.checked, verified.correct, verified.unverifiable) == (4, 2, 0)
    assert verified.paid_usd == pytest.approx(0.004) and verified.kept_usd == pytest.approx(0.002)
    assert verified.report()["per_task"] == {"products": {"correct": 2, "checked": 4}}
    assert verified.kept[0] is exchanges[0]  # kept exchanges are not changed


def test_an_exchange_without_an_item_address_is_an_error_unless_told() -> None:
    loose = _exchange(9, "Answer: 12", None)
    assert task_address(loose) is None
    with pytest.raises(VerifyError, match="no reasoning-gym item address"):
        keep_verified([_answered(0, True, 0), loose])
    dropped = keep_verified([_answered(0, True, 0), loose], unverifiable="drop")
    assert [e.id for e in dropped.kept] == ["ex0"] and dropped.unverifiable == 1
    kept = keep_verified([_answered(0, True, 0), loose], unverifiable="keep")
    assert [e.id for e in kept.kept] == ["ex0", "ex9"]


def test_a_bad_address_is_a_clear_error() -> None:
    bad = _exchange(5, "Answer: 1", {"task": "no_such_task_xyz", "seed": 0, "size": 3, "index": 0})
    with pytest.raises(VerifyError, match="no_such_task_xyz"):
        keep_verified([bad])
    with pytest.raises(ValueError, match="unverifiable"):
        keep_verified([], unverifiable="maybe")
