"""The retention rounds' pool questions (docs/evidence/train/retain_pool.py): asked, never scored."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "evidence" / "train"))

retain_pool = pytest.importorskip("retain_pool")

from distillscope.evaluate.tasks import make_task_dataset  # noqa: E402


def test_total_asks_distinct_questions_interleaved_while_each_task_has_some_left() -> None:
    metas = retain_pool.pool_questions(None, total=400)
    questions = [m["question"] for m in metas]
    assert len(questions) == 400 == len(set(questions))
    assert not set(questions) & retain_pool.evaluation_questions()
    counts = Counter(m["task"].split(":")[0] for m in metas)
    assert counts == {"products": 79, "basic_arithmetic": 107, "chain_sum": 107, "gcd": 107}
    assert [m["task"] for m in metas[:8]] == list(retain_pool.TASKS) * 2
    for meta in metas[::57]:  # each address regenerates its question, as train --verify will
        item = make_task_dataset(meta["task"], meta["size"], meta["seed"])[meta["index"]]
        assert item["question"] == meta["question"]


def test_the_greedy_pool_starts_with_the_first_rounds_questions() -> None:
    first = retain_pool.pool_questions(50)
    assert len(first) == 200
    assert retain_pool.pool_questions(None, total=400)[:200] == first


def test_asking_more_distinct_questions_than_exist_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="distinct questions"):
        retain_pool.pool_questions(None, total=1000)
    with pytest.raises(SystemExit, match="products:max_digits=1: only 79 distinct"):
        retain_pool.pool_questions(80)
    with pytest.raises(ValueError, match="either"):
        retain_pool.pool_questions(50, total=400)


def test_options_greedy_takes_one_sample_and_the_first_round_is_the_default() -> None:
    args = retain_pool.parse([])
    assert (args.questions, args.samples, args.temperature, args.total) == (50, 2, 0.7, None)
    args = retain_pool.parse(["--total", "400", "--temperature", "0"])
    assert (args.samples, args.total, args.temperature) == (1, 400, 0.0)
    for bad in (["50", "2", "--temperature", "0"], ["--temperature", "-1"], ["0"], ["--total", "0"]):
        with pytest.raises(SystemExit):
            retain_pool.parse(bad)


def test_registered_epochs_fill_at_most_66_steps_from_the_verified_count_alone() -> None:
    import math

    retain_pool_summary = pytest.importorskip("retain_pool_summary")
    epochs = retain_pool_summary.registered_epochs
    assert (epochs(118), epochs(220), epochs(264), epochs(300)) == (4.4, 2.4, 2.0, 1.7)
    for kept in range(10, 401):
        steps = math.ceil(epochs(kept) * kept / 8)
        assert steps <= 66 and math.ceil((epochs(kept) + 0.1) * kept / 8) > 66
    with pytest.raises(ValueError, match="no verified"):
        epochs(0)
