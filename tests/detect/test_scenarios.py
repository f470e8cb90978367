"""Detection on simulated and hand-built traffic: campaigns found, hard negatives left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distillscope.detect import run_detection
from distillscope.detect.simulate import CAMPAIGN_STYLES, HARD_NEGATIVES, simulate_traffic

from .helpers import T0, ex, write_log


def _by_style(sim: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in sim["result"].accounts:
        out.setdefault(sim["labels"][record["account"]]["style"], []).append(record)
    return out


@pytest.mark.parametrize("style", HARD_NEGATIVES)
def test_hard_negatives_stay_unflagged(standard_sim: dict[str, Any], style: str) -> None:
    records = _by_style(standard_sim)[style]
    assert records, f"the simulation holds no {style} accounts"
    assert [r["account"] for r in records if r["flagged"]] == []


def test_benign_users_rarely_flagged(standard_sim: dict[str, Any]) -> None:
    humans = _by_style(standard_sim)["human"]
    flagged = [r for r in humans if r["flagged"]]
    assert len(humans) >= 100
    assert len(flagged) <= 0.02 * len(humans)


@pytest.mark.parametrize("style", CAMPAIGN_STYLES)
def test_every_campaign_style_is_caught(standard_sim: dict[str, Any], style: str) -> None:
    records = _by_style(standard_sim)[style]
    caught = [r for r in records if r["flagged"]]
    assert len(caught) >= 0.8 * len(records), f"{style}: {len(caught)} of {len(records)}"
    for r in caught:
        assert r["campaign"] and r["reasons"]


def test_hydra_of_50_quiet_accounts_is_one_campaign(tmp_path: Path) -> None:
    sim = simulate_traffic(tmp_path, benign_users=100, days=4, seed=5, scale=50 / 60, campaigns=("hydra",))
    result = run_detection(sim.exchanges_path, tmp_path / "out")
    from distillscope.detect.evaluation import load_labels

    labels = load_labels(sim.labels_path)
    hydra = [a for a in result.accounts if labels[a["account"]]["style"] == "hydra"]
    assert len(hydra) == 50
    flagged = [a for a in hydra if a["flagged"]]
    assert len(flagged) >= 45
    campaigns = {a["campaign"] for a in flagged}
    assert len(campaigns) == 1, campaigns
    (campaign,) = [c for c in result.campaigns if c["campaign"] in campaigns]
    members = set(campaign["accounts"])
    assert all(labels[a]["style"] == "hydra" for a in members)  # no benign account swept in
    assert campaign["evidence"]["accounts"] == len(members) >= 45
    for a in flagged:
        assert any("member of campaign" in r for r in a["reasons"])
        assert any(r.startswith("shares") or r.startswith("synchronised") for r in a["reasons"])
    # each hydra account is quiet on its own: far below the batch customer's volume
    assert campaign["evidence"]["exchanges"] / len(members) < 60


def _batch_customer(n: int) -> list[dict[str, Any]]:
    products = ["lamp", "mat", "bottle", "chair", "grinder", "case", "blanket", "shoe", "board", "speaker"]
    return [
        ex(
            i,
            "batchco",
            T0 + i * 40.0,
            f"Write a 60-word product description for the {products[i % 10]} SKU {10000 + i}. Tone: warm.",
            params={"max_tokens": 120},
            completion_tokens=100,
            ip="52.1.1.1",
            user_agent="batchco/1.0",
        )
        for i in range(n)
    ]


def _humans(k: int, per: int) -> list[dict[str, Any]]:
    topics = [
        "my cat",
        "tax forms",
        "a poem",
        "python lists",
        "pasta",
        "the moon",
        "a trip",
        "jazz",
        "sql",
        "yoga",
    ]
    rows = []
    for u in range(k):
        for i in range(per):
            day, hour = divmod(i, 4)
            ts = T0 + day * 86400 + (10 + 3 * hour) * 3600 + u * 97
            rows.append(
                ex(i, f"human{u}", ts, f"question {i} about {topics[(u + i) % 10]} from me", ip=f"81.{u}.2.3")
            )
    return rows


def test_single_template_batch_customer_is_not_flagged(tmp_path: Path) -> None:
    path = write_log(tmp_path / "log.jsonl", _batch_customer(6000) + _humans(40, 8))
    result = run_detection(path, tmp_path / "out")
    batch = next(a for a in result.accounts if a["account"] == "batchco")
    assert not batch["flagged"]
    assert result.flagged == []


def test_heavy_cot_harvester_is_flagged_with_reasons(tmp_path: Path) -> None:
    subjects = [
        "algebra",
        "history",
        "biology",
        "poetry",
        "law",
        "chemistry",
        "music",
        "economics",
        "go",
        "art",
    ]
    rows = [
        ex(
            i,
            "harvester",
            T0 + i * 30.0,
            f"Question {i} on {subjects[i % 10]} and {subjects[(i * 7) % 10]}: "
            "think step by step and show your full reasoning.",
            params={"max_tokens": 4096},
            completion_tokens=900,
        )
        for i in range(4000)
    ] + _humans(40, 8)
    result = run_detection(write_log(tmp_path / "log.jsonl", rows), tmp_path / "out")
    harvester = next(a for a in result.accounts if a["account"] == "harvester")
    assert harvester["flagged"] and harvester["campaign"]
    assert any("chain-of-thought elicitation in 100%" in r for r in harvester["reasons"])
    assert result.flagged == ["harvester"]


def test_logit_bias_sweep_is_flagged(tmp_path: Path) -> None:
    rows = [
        ex(i, "sweeper", T0 + i * 2.0, "The", params={"max_tokens": 1, "logit_bias": {str(i): 100}})
        for i in range(500)
    ] + _humans(30, 8)
    result = run_detection(write_log(tmp_path / "log.jsonl", rows), tmp_path / "out")
    sweeper = next(a for a in result.accounts if a["account"] == "sweeper")
    assert sweeper["flagged"]
    assert any("logit_bias over 500 distinct token ids" in r for r in sweeper["reasons"])
