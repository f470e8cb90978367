"""Campaigns carried by coordination: a quiet hydra behind a proxy pool is caught; look-alikes are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from distillscope.detect import run_detection
from distillscope.detect.signals import mean_pairwise_jaccard, signal_table, top_head_share

from .helpers import T0, ex, write_log

WORDS = [
    "river", "mountain", "budget", "poem", "recipe", "garden", "tax", "contract", "solar", "battery",
    "chess", "tennis", "coffee", "bread", "cheese", "protein", "cell", "election", "climate", "energy",
    "train", "plane", "ship", "football", "music", "film", "novel",
]  # fmt: skip
OPENERS = [
    "can you help me with",
    "what do you think about",
    "quick question on",
    "write something on",
    "fix my notes about",
    "give me ideas for",
    "how should I plan",
    "tell me a joke about",
]


def _person(rng: np.random.Generator, account: str, n: int, ip: str) -> list[dict[str, Any]]:
    """An ordinary user: own phrasing, own answer length and max_tokens, one home IP, daytime."""
    mean = float(rng.uniform(60, 600))
    max_tokens = int(rng.choice([256, 512, 1024, 2048]))
    rows = []
    start = T0 + float(rng.uniform(0, 10 * 86400))
    for i in range(n):
        text = f"{rng.choice(OPENERS)} {' '.join(rng.choice(WORDS, 3))} {int(rng.integers(1e6))}"
        rows.append(
            ex(
                i,
                account,
                start + float(rng.uniform(0, 4 * 86400)),
                text,
                ip=ip,
                params={"max_tokens": max_tokens, "temperature": float(rng.choice([0.2, 0.7, 1.0]))},
                completion_tokens=int(rng.lognormal(np.log(mean), 0.4)),
            )
        )
    return rows


def _hydra_member(
    rng: np.random.Generator, account: str, n: int, pool: list[str], org: str | None
) -> list[dict[str, Any]]:
    """One account of a hydra: the shared playbook (explain prompts, 700-token answers, max_tokens 2048)
    through a shared proxy pool, at an ordinary account's volume."""
    rows = []
    for i in range(n):
        topic = " ".join(rng.choice(WORDS, 2))
        extra = {"org": org} if org else {}
        rows.append(
            ex(
                i,
                account,
                T0 + float(rng.uniform(0, 14 * 86400)),
                f"Explain {topic} in detail, with an example {int(rng.integers(1e6))}.",
                ip=str(rng.choice(pool)),
                params={"max_tokens": 2048, "temperature": 0.7},
                completion_tokens=int(rng.lognormal(np.log(700), 0.15)),
                **extra,
            )
        )
    return rows


def _log(tmp_path: Path, org: str | None = None, playbook: bool = True) -> tuple[Path, list[str]]:
    rng = np.random.default_rng(7)
    rows: list[dict[str, Any]] = []
    for u in range(150):
        rows += _person(rng, f"user{u:03d}", int(rng.integers(15, 90)), f"10.{u}.{u % 7}.{u % 200 + 1}")
    pool = [
        f"203.{int(rng.integers(255))}.{int(rng.integers(255))}.{int(rng.integers(255))}" for _ in range(25)
    ]
    hydra = [f"hydra{k:02d}" for k in range(10)]
    for name in hydra:
        n = int(rng.integers(40, 90))
        rows += (
            _hydra_member(rng, name, n, pool, org)
            if playbook
            else [{**r, "ip": str(rng.choice(pool))} for r in _person(rng, name, n, pool[0])]
        )
    return write_log(tmp_path / "log.jsonl", rows), hydra


def test_quiet_hydra_behind_a_proxy_pool_is_one_campaign(tmp_path: Path) -> None:
    log, hydra = _log(tmp_path)
    result = run_detection(log, tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    flagged = [a for a in hydra if by[a]["flagged"]]
    assert len(flagged) >= 8
    assert len({by[a]["campaign"] for a in flagged}) == 1
    assert any("tied by rare shared infrastructure" in reason for reason in by[flagged[0]]["reasons"])
    assert [a for a in by if a.startswith("user") and by[a]["flagged"]] == []


def test_people_sharing_a_pool_of_addresses_are_not_a_campaign(tmp_path: Path) -> None:
    # the same ten accounts behind the same addresses, but each with its own habits (a carrier NAT)
    log, hydra = _log(tmp_path, playbook=False)
    result = run_detection(log, tmp_path / "out")
    assert result.flagged == []


def test_one_organisation_is_one_customer_not_a_campaign(tmp_path: Path) -> None:
    # the guard logs `org` per exchange: one organisation's accounts running one internal playbook
    log, hydra = _log(tmp_path, org="org_acme")
    result = run_detection(log, tmp_path / "out")
    assert [a for a in hydra if a in result.flagged] == []
    org_rows = result.tables["infra"]
    assert set(org_rows[org_rows["kind"] == "org"]["value"]) == {"org_acme"}


def test_instruction_head_share() -> None:
    batch = [f"Classify this support ticket as bug or billing: item {i}" for i in range(12)]
    sweep = [
        f"Task {i}: {f} the following text. Text: {i}"
        for i, f in enumerate(["summarize", "translate", "classify", "paraphrase"] * 3)
    ]
    assert top_head_share(batch) == 1.0
    assert top_head_share(sweep) == 0.25
    assert np.isnan(top_head_share(["one", "two"]))


def test_mean_pairwise_jaccard_of_character_grams() -> None:
    # 4-gram sets {abcd}, {abcd, bcde}, {abcd, bcde, cdef}: pairs 1/2, 1/3, 2/3
    assert mean_pairwise_jaccard(["abcd", "ABCDE", "abcdef"]) == pytest.approx(0.5)
    assert np.isnan(mean_pairwise_jaccard(["abcd", "abcde"]))


def test_head_share_counted_by_the_engine_wins_over_the_samples() -> None:
    counts = {"sum_comp_tokens": 100.0, "n_comp_tokens": 1, "sum_max_tokens": 0.0, "n_max_tokens": 0}
    counts.update(n_cot=0, n_lp=0, sum_top_lp=0.0, distinct_bias_ids=0)
    acc = pd.DataFrame(
        [
            {"account": "counted", "n": 10, "top_head_n": 4, **counts},
            {"account": "few", "n": 2, "top_head_n": 2, **counts},  # under 3 requests: the samples decide
        ]
    )
    sweep = [f"{verb} the text {i}" for i, verb in enumerate(["summarize", "translate"] * 3)]
    out = signal_table(acc, {"counted": sweep, "few": sweep[:1]}).set_index("account")
    assert out.loc["counted", "top_head_share"] == 0.4  # 4 of 10, not the samples' 0.5
    assert np.isnan(out.loc["few", "top_head_share"])  # one sample: no share


def test_quiet_window_counts_any_time_zone() -> None:
    import pandas as pd

    from distillscope.detect.signals import quiet_window_counts

    # a person awake 07-23 in UTC+9 (quiet 14-22 UTC), a machine spread over the day
    person = [{"account": "p", "hod": (h - 9) % 24, "cnt": 5} for h in range(7, 23)]
    machine = [{"account": "m", "hod": h, "cnt": 10} for h in range(24)]
    counts = quiet_window_counts(pd.DataFrame(person + machine), ["p", "m", "absent"])
    assert counts.tolist() == [0.0, 80.0, 0.0]
