"""Evaluations recognised by the log, not only by the account: a chain-of-thought run of a benchmark whose
plain items another team put to two models, and a launch run with its rerun (every item asked twice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from distillscope.detect import run_detection, scoring, sqlparts

from .helpers import T0, ex, write_log
from .test_coordination import WORDS
from .test_playbooks import _people

HOUR = 3600.0
COT = " Let's think step by step."


def _burst(
    rng: np.random.Generator, account: str, prompts: list[str], model: str, start: float, first: int = 0
) -> list[dict[str, Any]]:
    """One run of ``prompts`` on ``model``, back to back, a reasoning benchmark's parameters."""
    return [
        ex(
            first + k,
            account,
            start + 3.0 * k,
            text,
            ip=f"192.0.2.{len(account)}",
            model=model,
            params={"max_tokens": 512, "temperature": 0.0},
            completion_tokens=int(rng.integers(200, 500)),
        )
        for k, text in enumerate(prompts)
    ]


def _fresh(rng: np.random.Generator, count: int) -> list[str]:
    return [_item(rng, "Task", i) + COT for i in range(count)]


def _item(rng: np.random.Generator, head: str, i: int) -> str:
    return f"{head} {i}: {' '.join(rng.choice(WORDS, 3))} {int(rng.integers(1e9))}?"


def _detect(tmp_path: Path, rows: list[dict[str, Any]], out: str) -> dict[str, dict[str, Any]]:
    log = tmp_path / "log.jsonl"
    if not log.exists():
        write_log(log, rows)
    return {r["account"]: r for r in run_detection(log, tmp_path / out).accounts}


def test_a_reasoning_run_of_items_another_team_put_to_two_models_is_an_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    rows = _people(rng, 200, 40, 250)
    bench = [_item(rng, "Problem", i) for i in range(900)]
    # a plain team: the old model two days before launch, the new one on launch day
    rows += _burst(rng, "plain-team", bench, "teacher-v1", T0 + 10 * HOUR)
    rows += _burst(rng, "plain-team", bench, "teacher-v2", T0 + 58 * HOUR, first=len(bench))
    # a reasoning team: the same items with a reasoning request, once, on the new model only
    rows += _burst(rng, "cot-team", [b + COT for b in bench], "teacher-v2", T0 + 59 * HOUR)
    rows += _burst(rng, "extractor", _fresh(rng, 900), "teacher-v2", T0 + 60 * HOUR)
    by = _detect(tmp_path, rows, "out")
    assert by["extractor"]["flagged"]
    assert not by["cot-team"]["flagged"]
    assert any("several models" in reason for reason in by["cot-team"]["reasons"])
    # the log-level rule is what explains it: the account alone asked one model
    monkeypatch.setattr(scoring, "EVALUATION_LOG_SHARE", 2.0)
    assert _detect(tmp_path, rows, "out2")["cot-team"]["flagged"]


def test_a_launch_run_and_its_rerun_on_one_model_repeat_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every item asked exactly twice (half the requests distinct): the rerun collects nothing new."""
    rng = np.random.default_rng(9)
    rows = _people(rng, 200, 40, 250)
    bench = [_item(rng, "Problem", i) + COT for i in range(600)]
    rows += _burst(rng, "rerun-team", bench, "teacher-v2", T0 + 10 * HOUR)
    rows += _burst(rng, "rerun-team", bench, "teacher-v2", T0 + 34 * HOUR, first=len(bench))
    rows += _burst(rng, "extractor", _fresh(rng, 1200), "teacher-v2", T0 + 60 * HOUR)
    by = _detect(tmp_path, rows, "out")
    assert by["extractor"]["flagged"]
    assert not by["rerun-team"]["flagged"]
    monkeypatch.setattr(scoring, "REPEATED_INCLUSIVE", False)
    assert _detect(tmp_path, rows, "out2")["rerun-team"]["flagged"]


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("Q: 2+2? Let's think step by step.", "q: 2+2?", True),
        ("Сколько будет 2+2? Решай шаг за шагом.", "сколько будет 2+2 решай", True),
        ("一步一步 计算：二加二？", "计算 二加二", True),
        ("Q: 2+3?", "Q: 2+2?", False),
        ("Сколько будет 2+2?", "Сколько будет 3+2?", False),
    ],
)
def test_the_question_key_folds_reasoning_requests_and_punctuation_only(
    left: str, right: str, same: bool
) -> None:
    expr = sqlparts.question_sql("t", "duckdb")
    con = duckdb.connect()
    keys = [con.execute(f"SELECT {expr} FROM (SELECT ? AS t)", [t]).fetchall()[0][0] for t in (left, right)]
    assert (keys[0] == keys[1]) is same
    assert all(keys)
