"""Playbooks beyond the raw signals: scripted sessions, re-run benchmarks, campaign members flagged alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from distillscope.detect import run_detection, scoring
from distillscope.detect.coordination import attach

from .helpers import T0, ex, write_log
from .test_coordination import WORDS, _person
from .test_coordination import _log as _hydra_log

HOUR = 3600.0
ASKS = ["Write a short guide about", "Compose a poem on", "List ten facts on", "Draft an email about",
        "Create a quiz on", "Summarise the debate on", "Invent a story linking", "Compare"]  # fmt: skip
FOR = ["for beginners", "for children", "for experts", "as a table", "in French", "briefly", "with examples"]


def _people(rng: np.random.Generator, count: int, low: int, high: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for u in range(count):
        rows += _person(rng, f"user{u:03d}", int(rng.integers(low, high)), f"10.{u}.{u % 7}.{u % 200 + 1}")
    return rows


def _daytime(rng: np.random.Generator, n: int, per_session: int, gap_s: float) -> list[float]:
    """Timestamps in sessions of ``per_session`` requests ``gap_s`` apart, between 09:00 and 18:00 UTC."""
    out: list[float] = []
    day = 0
    while len(out) < n:
        start = T0 + day * 86400 + 9 * HOUR
        for s in range(max(1, int(9 * HOUR // (per_session * gap_s + 2 * HOUR)))):
            t0 = start + s * (per_session * gap_s + 2 * HOUR)
            out += [t0 + k * gap_s + float(rng.uniform(0, 1)) for k in range(per_session)]
        day += 1
    return out[:n]


def _solo(rng: np.random.Generator, account: str, times: list[float]) -> list[dict[str, Any]]:
    """Self-instruct style: new instructions over two random topics, ordinary answers, human hours."""
    return [
        ex(
            i,
            account,
            t,
            f"{rng.choice(ASKS)} {' and '.join(rng.choice(WORDS, 2))} {rng.choice(FOR)} {rng.integers(1e9)}",
            ip="198.51.100.7",
            params={"max_tokens": 1024, "temperature": 0.7},
            completion_tokens=int(rng.lognormal(np.log(400), 0.3)),
        )
        for i, t in enumerate(times)
    ]


def test_unexplained_reach_collected_in_script_long_sessions_is_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = _people(rng, 150, 40, 250)
    # the same volume at human hours: one account in sessions of 300 requests 20 s apart, one in
    # sessions of 12 requests (a person's pace would be fewer still; it is the session length that differs)
    rows += _solo(rng, "scripted", _daytime(rng, 900, 300, 20.0))
    rows += _solo(rng, "paced", _daytime(rng, 900, 12, 60.0))
    result = run_detection(write_log(tmp_path / "log.jsonl", rows), tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    assert by["scripted"]["flagged"]
    assert any("sessions like a script's" in reason for reason in by["scripted"]["reasons"])
    assert not by["paced"]["flagged"]
    assert [a for a in by if a.startswith("user") and by[a]["flagged"]] == []


def test_an_ordinary_reach_collected_round_the_clock_is_flagged_and_the_same_at_human_hours_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hydra member's share: a few hundred new prompts, ordinary answers, no reasoning asks; what it does
    that people do not is send them at every hour of the day."""
    rng = np.random.default_rng(13)
    rows: list[dict[str, Any]] = []
    for u in range(150):
        rows += _solo(rng, f"user{u:03d}", _daytime(rng, int(rng.integers(40, 250)), 10, 90.0))
    week = 5 * 86400.0
    rows += _solo(rng, "round-the-clock", sorted(T0 + float(rng.uniform(0, week)) for _ in range(220)))
    rows += _solo(rng, "human-hours", _daytime(rng, 220, 10, 90.0))
    result = run_detection(write_log(tmp_path / "log.jsonl", rows), tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    assert by["round-the-clock"]["flagged"]
    assert any("round the clock" in reason for reason in by["round-the-clock"]["reasons"])
    assert not by["human-hours"]["flagged"]
    assert [a for a in by if a.startswith("user") and by[a]["flagged"]] == []
    # it is the playbook for an ordinary reach that flags it (its reach is no outlier)
    monkeypatch.setattr(scoring, "TYPICAL_REACH", 0.0)
    again = {r["account"]: r for r in run_detection(tmp_path / "log.jsonl", tmp_path / "out2").accounts}
    assert not again["round-the-clock"]["flagged"]


def _cot_account(
    rng: np.random.Generator, account: str, prompts: list[str], runs: int
) -> list[dict[str, Any]]:
    rows = []
    for r in range(runs):
        start = T0 + r * 2 * 86400 + 10 * HOUR
        for k, text in enumerate(prompts):
            rows.append(
                ex(
                    r * len(prompts) + k,
                    account,
                    start + 3.0 * k,
                    f"{text} Let's think step by step.",
                    ip=f"192.0.2.{len(account)}",
                    model="teacher-v2" if r else "teacher-v1",
                    params={"max_tokens": 512, "temperature": 0.0},
                    completion_tokens=int(rng.integers(200, 500)),
                )
            )
    return rows


def test_a_benchmark_rerun_with_reasoning_is_not_harvesting_but_the_same_volume_of_new_prompts_is(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    rows = _people(rng, 200, 40, 250)
    bench = [f"Problem {i}: what is {i} times {i + 7} minus {i % 13}?" for i in range(1100)]
    rows += _cot_account(rng, "eval-harness", bench, runs=3)  # the same 1,100 items, three runs on two models
    fresh = [f"Problem {i}: {' '.join(rng.choice(WORDS, 3))} {int(rng.integers(1e9))}?" for i in range(1200)]
    rows += _cot_account(rng, "extractor", fresh, runs=1)
    result = run_detection(write_log(tmp_path / "log.jsonl", rows), tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    assert by["extractor"]["flagged"]
    assert not by["eval-harness"]["flagged"]


def test_an_evaluation_of_two_models_on_a_reasoning_benchmark_nobody_else_runs_is_not_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Launch day: the whole benchmark on the old model, 60% of it again on the new one (more than half of
    the requests are distinct prompts, so the repetition rule alone does not explain it)."""
    rng = np.random.default_rng(11)
    rows = _people(rng, 200, 40, 250)
    bench = [f"Problem {i}: {' '.join(rng.choice(WORDS, 3))} {int(rng.integers(1e9))}?" for i in range(1400)]
    harness = _cot_account(rng, "eval-harness", bench, runs=2)
    rows += harness[: len(bench) + int(0.6 * len(bench))]
    fresh = [f"Task {i}: {' '.join(rng.choice(WORDS, 3))} {int(rng.integers(1e9))}?" for i in range(1400)]
    rows += _cot_account(rng, "extractor", fresh, runs=1)
    log = write_log(tmp_path / "log.jsonl", rows)
    result = run_detection(log, tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    assert by["extractor"]["flagged"]
    assert not by["eval-harness"]["flagged"]
    assert any("several models" in reason for reason in by["eval-harness"]["reasons"])
    # the cross-model rule is what explains it: without it the harness looks like the extractor
    monkeypatch.setattr(scoring, "EVALUATION_SHARE", 2.0)
    again = {r["account"]: r for r in run_detection(log, tmp_path / "out2").accounts}
    assert again["eval-harness"]["flagged"]


def _sig(names: list[str], answer: list[float], cot: list[float], n: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account": names,
            "n": n,
            "answer_len": np.log1p(answer),
            "mean_max_tokens": [2048.0 if c > 0.2 else 512.0 for c in cot],
            "cot_rate": cot,
            "lp_rate": 0.0,
        }
    )


def test_a_member_flagged_alone_joins_its_campaign_and_a_look_alike_solo_does_not() -> None:
    rng = np.random.default_rng(0)
    topic = [
        "quantum spin",
        "qubit decoherence",
        "entanglement entropy",
        "bell inequality",
        "quantum tunnelling",
    ]
    members = [f"m{k}" for k in range(8)]
    people = [f"p{k:02d}" for k in range(60)]
    samples: dict[str, list[str]] = {}
    for a in [*members, "member-alone", "solo-same-topic"]:
        samples[a] = [
            f"explain {rng.choice(topic)} step by step, part {int(rng.integers(1e6))}" for _ in range(8)
        ]
    for a in people:
        samples[a] = [f"{' '.join(rng.choice(WORDS, 4))} please" for _ in range(8)]
    names = [*members, "member-alone", "solo-same-topic", *people]
    answer = [700.0] * 9 + [150.0] + list(rng.uniform(80, 600, len(people)))
    cot = [0.6] * 9 + [0.0] + list(rng.uniform(0, 0.1, len(people)))
    sig = _sig(names, answer, cot, [60.0] * len(names))
    found = attach(["member-alone", "solo-same-topic"], {"camp-x": members}, sig, samples, None, names)
    assert found == {"member-alone": "camp-x"}
    # a campaign below the smallest group size takes no one
    assert attach(["member-alone"], {"camp-y": members[:3]}, sig, samples, None, names) == {}


def test_one_organisation_harvesting_reasoning_through_many_accounts_is_still_a_campaign(
    tmp_path: Path,
) -> None:
    """One organisation is one customer, never a campaign by pooled signals; but ten of its accounts that each
    ask for written-out reasoning in every request, with one playbook, are one campaign (without the members'
    own evidence the same organisation is left alone: test_coordination's one-organisation test)."""
    log, hydra = _hydra_log(tmp_path, org="org_acme")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    for row in rows:
        if row["account"] in hydra:
            row["messages"][0]["content"] += " Let's think step by step and show your reasoning."
    rng = np.random.default_rng(3)
    for u in range(12):  # other accounts asking for reasoning, each its own way
        for row in _person(rng, f"thinker{u:02d}", int(rng.integers(30, 90)), f"10.9.{u}.1"):
            row["messages"][0]["content"] += " Think it through step by step."
            rows.append(row)
    result = run_detection(write_log(tmp_path / "cot.jsonl", rows), tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    flagged = [a for a in hydra if by[a]["flagged"]]
    assert len(flagged) >= 8
    assert len({by[a]["campaign"] for a in flagged}) == 1
    assert [a for a in by if not a.startswith("hydra") and by[a]["flagged"]] == []
