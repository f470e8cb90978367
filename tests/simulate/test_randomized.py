"""The randomised simulator: reproducible per seed, every style present and labelled, valid logs, a CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from distillscope.records import read_exchanges
from distillscope.simulate import CAMPAIGN_STYLES, HARD_NEGATIVES, generate, simulate_randomized


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("rsim")
    return simulate_randomized(out, seed=5, benign=60, days=5, campaign_scale=0.3)


def test_every_style_and_hard_negative_is_present_and_labelled(small) -> None:
    labels = [json.loads(line) for line in small.labels_path.read_text().splitlines()]
    styles = Counter(lab["style"] for lab in labels)
    assert set(CAMPAIGN_STYLES) <= set(styles)
    assert set(HARD_NEGATIVES) <= set(styles)
    assert styles["ordinary"] == 60
    for lab in labels:
        assert lab["label"] == ("campaign" if lab["style"] in CAMPAIGN_STYLES else "benign")
    rows = read_exchanges(small.exchanges_path)  # raises on any malformed record
    assert len(rows) == small.exchanges
    logged = {r.account for r in rows}
    assert logged == {lab["account"] for lab in labels}
    assert [r.ts for r in rows] == sorted(r.ts for r in rows)


def test_same_seed_same_bytes_other_seed_other_scenario(tmp_path: Path, small) -> None:
    again = simulate_randomized(tmp_path / "again", seed=5, benign=60, days=5, campaign_scale=0.3)
    assert again.exchanges_path.read_bytes() == small.exchanges_path.read_bytes()
    other, _ = generate(seed=6, benign=60, days=5, campaign_scale=0.3)
    assert other.sc.lang_weights != again.scenario.lang_weights
    assert other.sc.models != again.scenario.models or other.sc.launch_day != again.scenario.launch_day


def test_slow_and_low_accounts_cover_disjoint_slices_of_one_topic_space() -> None:
    sim, labels = generate(seed=9, benign=10, days=5, campaigns=("slow_and_low",), hard_negatives=())
    members = {lab["account"] for lab in labels if lab["style"] == "slow_and_low"}
    assert len(members) >= 4
    slices = {a: set(sim.notes[a]["topics"]) for a in members}
    space = sim.notes[next(iter(members))]["space"]
    accounts = sorted(slices)
    for i, a in enumerate(accounts):
        for b in accounts[i + 1 :]:
            assert not (slices[a] & slices[b]), (a, b)
    assert set().union(*slices.values()) == set(space)  # together they cover the whole space
    used: dict[str, set[str]] = defaultdict(set)
    for row in sim.rows:
        if row["account"] in members:
            text = row["messages"][-1]["content"].lower()
            used[row["account"]].update(t for t in space if t.lower() in text)
    assert all(used[a] <= slices[a] for a in members)
    assert sum(len(u) for u in used.values()) > len(members)
    # each member looks like a person: one browser, human volumes
    per = Counter(row["account"] for row in sim.rows if row["account"] in members)
    assert max(per.values()) <= 400


def test_a_large_slow_and_low_campaign_still_gives_every_member_a_slice_of_its_own() -> None:
    """At a large --scale (the benchmark's shape: a quarter of 2,000 accounts in campaigns) a campaign can
    have more members than one or two domains have topic items; each member still gets a non-empty slice."""
    import numpy as np

    from distillscope.simulate.randomized import Scenario, Sim, slow_and_low

    sim = Sim(Scenario.draw(2702, 10, 5, 1.0), np.random.default_rng([2702, 2]))
    slow_and_low(sim, 25.0)  # 200-725 members
    members = [a.name for a in sim.accounts]
    assert len(members) > 8 * 24  # more than the largest two-domain space (24 topics x 8 aspects)
    slices = [set(sim.notes[a]["topics"]) for a in members]
    seen: set[str] = set()
    for topics in slices:
        assert topics and not (topics & seen)
        seen |= topics
    assert seen == set(sim.notes[members[0]]["space"])


def test_hard_negatives_have_their_defining_traits() -> None:
    sim, labels = generate(seed=3, benign=20, days=6, campaigns=(), hard_negatives=HARD_NEGATIVES)
    style = {lab["account"]: lab["style"] for lab in labels}
    by_style: dict[str, list[dict]] = defaultdict(list)
    for row in sim.rows:
        by_style[style[row["account"]]].append(row)
    corp = by_style["corporate_nat"]
    assert len({r["payment_id"] for r in corp}) == 1 and len({r["org"] for r in corp}) == 1
    assert len({r["account"] for r in corp}) >= 5 and len({r["ip"] for r in corp}) <= 3
    assert all(r["ip"].startswith("100.") for r in by_style["cgnat"])
    evals = by_style["eval_harness"]
    assert {r["model"] for r in evals} == set(sim.sc.models)
    assert all(r["params"].get("logprobs") or r["params"]["max_tokens"] == 512 for r in evals)


def test_unknown_style_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown style"):
        generate(seed=1, benign=5, campaigns=("nope",))


def test_cli_randomized_design(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "distillscope.cli",
        "simulate-traffic",
        "--design",
        "randomized",
        "--out",
        str(tmp_path / "o"),
        "--benign-users",
        "15",
        "--days",
        "5",
        "--scale",
        "0.2",
        "--seed",
        "2",
        "--campaigns",
        "hydra,random_words",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    info = json.loads(run.stdout.strip().splitlines()[-1])
    assert info["design"] == "randomized" and info["exchanges"] > 0
    labels = [json.loads(x) for x in Path(info["labels"]).read_text().splitlines()]
    assert {lab["style"] for lab in labels if lab["label"] == "campaign"} == {"hydra", "random_words"}
    bad = subprocess.run(cmd[:-1] + ["cot_campaign"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown styles" in (bad.stdout + bad.stderr)
