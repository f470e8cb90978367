"""Detection on simulated and hand-built traffic: campaigns found, hard negatives left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distillscope.detect import run_detection
from distillscope.simulate.classic import HARD_NEGATIVES
from distillscope.simulate.randomized import HARD_NEGATIVES as RANDOM_NEGATIVES

from .helpers import T0, ex, write_log


def _by_style(sim: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in sim["result"].accounts:
        out.setdefault(sim["labels"][record["account"]]["style"], []).append(record)
    return out


@pytest.mark.parametrize("style", HARD_NEGATIVES)
def test_classic_hard_negatives_stay_unflagged(standard_sim: dict[str, Any], style: str) -> None:
    records = _by_style(standard_sim).get(style, [])
    assert records, f"the simulation holds no {style} accounts"
    assert [r["account"] for r in records if r["flagged"]] == []


@pytest.mark.parametrize("style", RANDOM_NEGATIVES)
def test_randomized_hard_negatives_stay_unflagged(randomized_sim: dict[str, Any], style: str) -> None:
    records = _by_style(randomized_sim).get(style, [])
    assert records, f"the simulation holds no {style} accounts"
    assert [r["account"] for r in records if r["flagged"]] == []


@pytest.mark.parametrize("fixture", ["standard_sim", "randomized_sim"])
def test_benign_users_rarely_flagged(fixture: str, request: pytest.FixtureRequest) -> None:
    sim = request.getfixturevalue(fixture)
    benign = [r for r in sim["result"].accounts if sim["labels"][r["account"]]["label"] != "campaign"]
    assert len(benign) >= 100
    assert sum(r["flagged"] for r in benign) <= 0.005 * len(benign)


@pytest.mark.parametrize(
    ("fixture", "style", "minimum"),
    [
        ("standard_sim", "cot_campaign", 0.8),
        ("standard_sim", "heavy_extractor", 0.8),
        ("standard_sim", "slow_and_low", 0.8),
        ("randomized_sim", "cot_solo", 0.5),  # one of the two sits just under the default threshold
        ("randomized_sim", "multilingual", 0.8),
        ("randomized_sim", "hydra", 0.8),
        ("randomized_sim", "slow_and_low", 0.8),
    ],
)
def test_campaign_style_is_caught(
    fixture: str, style: str, minimum: float, request: pytest.FixtureRequest
) -> None:
    records = _by_style(request.getfixturevalue(fixture))[style]
    caught = [r for r in records if r["flagged"]]
    assert len(caught) >= minimum * len(records), f"{style}: {len(caught)} of {len(records)}"
    for r in caught:
        assert r["campaign"] and r["reasons"]


def test_grouped_campaigns_hold_no_benign_account(randomized_sim: dict[str, Any]) -> None:
    labels = randomized_sim["labels"]
    multi = [c for c in randomized_sim["result"].campaigns if len(c["accounts"]) > 1]
    assert multi, "no multi-account campaign found"
    for c in multi:
        assert all(labels[a]["label"] == "campaign" for a in c["accounts"]), c["campaign"]
    hydra = {a for a, lab in labels.items() if lab["style"] == "hydra"}
    home = [c for c in multi if set(c["accounts"]) & hydra]
    assert len(home) == 1 and len(set(home[0]["accounts"]) & hydra) >= 0.8 * len(hydra)
    member = next(r for r in randomized_sim["result"].accounts if r["account"] in set(home[0]["accounts"]))
    assert any("member of campaign" in r for r in member["reasons"])
    assert any("ask different prompts" in r for r in member["reasons"])


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
