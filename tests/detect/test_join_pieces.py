"""Pieces of one campaign: campaigns the grouping cut over disjoint slices of one topic space, running one
playbook, are joined into one (coordination.join_pieces); a campaign with the same parameters on another
topic space, or with other parameters on the same space, stays apart; a join relabels, it flags nobody."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect import coordination as coord

SLICES, PER_SLICE, PEOPLE = 4, 8, 300


def _scene(seed: int = 5) -> tuple[dict[str, list[str]], pd.DataFrame, dict[str, np.ndarray], list[str]]:
    """Four pieces of one campaign (disjoint slices around one topic centre, one playbook: max_tokens 2048,
    ~600-token answers, reasoning asked in 60%); a campaign of the same playbook on a topic space of its own
    ("other"); a campaign on the first one's topic space with a playbook of its own ("params"); PEOPLE
    ordinary accounts with topics and parameters of their own; a group of the first one's playbook and topic
    space at twenty times its volume ("heavy": solo extractors, another operation), and at its volume but
    scripted round the clock ("clock": machines, where the pieces keep human hours)."""
    rng = np.random.default_rng(seed)
    space_a, space_b = rng.normal(size=32), rng.normal(size=32)
    vectors: dict[str, np.ndarray] = {}
    rows: list[dict[str, float | str]] = []
    campaigns: dict[str, list[str]] = {}

    def add(name: str, centre: np.ndarray, play: dict[str, float], scale: int = 1) -> None:
        vectors[name] = centre + rng.normal(scale=0.5, size=32)
        n = float(rng.integers(20, 300) * scale)
        row: dict[str, float | str] = {"account": name, "n": n, "lp_rate": 0.0}
        machine = (
            1e-6 if name.startswith("clock") else 1.0
        )  # scripted round the clock, or keeping human hours
        rows.append({**row, **play, "p_reach": 0.3, "shared_prompts": 1.0, "distinct_prompts": 50.0})
        rows[-1]["p_automation"] = machine

    def campaign_play(length: float, max_tokens: float, cot: float) -> dict[str, float]:
        return {
            "answer_len": np.log(length) + rng.normal(scale=0.05),
            "mean_max_tokens": max_tokens,
            "cot_rate": cot + rng.normal(scale=0.03),
        }

    pieces = [("piece", space_a, (600.0, 2048.0, 0.6), s) for s in range(SLICES)]
    pieces += [("other", space_b, (600.0, 2048.0, 0.6), 0), ("params", space_a, (150.0, 512.0, 0.0), 0)]
    pieces += [("heavy", space_a, (600.0, 2048.0, 0.6), 0), ("clock", space_a, (600.0, 2048.0, 0.6), 0)]
    for kind, centre, play, s in pieces:
        slice_centre = centre + rng.normal(scale=1.0, size=32)  # a slice of its topic space
        cid = f"{kind}{s}"
        campaigns[cid] = [f"{cid}-{i:02d}" for i in range(PER_SLICE)]
        for a in campaigns[cid]:
            add(a, slice_centre, campaign_play(*play), 20 if kind == "heavy" else 1)
    people = [f"person-{i:03d}" for i in range(PEOPLE)]
    for a in people:
        add(
            a,
            rng.normal(size=32) * 1.5,
            {
                "answer_len": rng.uniform(3.5, 7.5),
                "mean_max_tokens": float(rng.choice([256, 512, 1024, 4096])),
                "cot_rate": rng.uniform(0.0, 0.3),
            },
        )
    pool = sorted(vectors)
    return campaigns, pd.DataFrame(rows), vectors, pool


def test_pieces_of_one_campaign_are_joined_and_other_campaigns_stay_apart() -> None:
    campaigns, sig, vectors, pool = _scene()
    joins = coord.join_pieces(campaigns, sig, {}, vectors, pool)
    pieces = {f"piece{s}" for s in range(SLICES)}
    # every piece but one joins, all into one of the pieces (before: four campaigns of one operation)
    assert set(joins) | set(joins.values()) == pieces
    assert len(set(joins.values())) == 1 and len(joins) == SLICES - 1
    # the same playbook on another topic space, other parameters on the same space, the same playbook and
    # space at twenty times the volume or run by machines: other operations
    assert not {"other0", "params0", "heavy0", "clock0"} & (set(joins) | set(joins.values()))


def test_no_join_without_a_piece_beyond_chance() -> None:
    """Random sets of ordinary accounts cut into 'campaigns' share neither playbook nor topic space."""
    campaigns, sig, vectors, pool = _scene()
    people = [a for a in pool if a.startswith("person-")]
    fake = {f"people{k}": people[k * PER_SLICE : (k + 1) * PER_SLICE] for k in range(6)}
    assert coord.join_pieces(fake, sig, {}, vectors, pool) == {}


def test_the_joins_are_the_same_in_every_run() -> None:
    campaigns, sig, vectors, pool = _scene()
    assert coord.join_pieces(campaigns, sig, {}, vectors, pool) == coord.join_pieces(
        campaigns, sig, {}, vectors, pool
    )


def _faint(
    vectors: dict[str, np.ndarray], campaigns: dict[str, list[str]], weight: float
) -> dict[str, np.ndarray]:
    """The scene's vectors with piece3 on a faint slice: ``weight`` of the pieces' topic centre, the rest
    noise (0: a topic of its own)."""
    rng = np.random.default_rng(3)
    centre = np.mean([vectors[a] for k in range(3) for a in campaigns[f"piece{k}"]], axis=0)
    return {**vectors, **{a: weight * centre + rng.normal(size=32) * 1.5 for a in campaigns["piece3"]}}


def test_the_topic_test_counts_only_the_pairings_put_to_it() -> None:
    """Pieces of people that fail the parameter test do not raise the topic test's bar: a piece on a faint
    slice of the campaign's topic space joins beside twelve such pieces (before: Bonferroni over all 171
    pairings, and it stayed apart), and a piece on a topic of its own still does not."""
    campaigns, sig, vectors, pool = _scene()
    people = [a for a in pool if a.startswith("person-")]
    crowd = {f"people{k}": people[k * PER_SLICE : (k + 1) * PER_SLICE] for k in range(12)}
    faint = coord.join_pieces({**campaigns, **crowd}, sig, {}, _faint(vectors, campaigns, 0.1), pool)
    assert faint.get("piece3") == "piece0" and not set(crowd) & (set(faint) | set(faint.values()))
    apart = coord.join_pieces({**campaigns, **crowd}, sig, {}, _faint(vectors, campaigns, 0.0), pool)
    assert "piece3" not in apart and apart.get("piece1") == "piece0"


def test_a_pending_piece_joins_a_campaign_never_another_pending_piece() -> None:
    campaigns, sig, vectors, pool = _scene()
    # piece0 pending and first in order: the campaign it joins keeps its name
    joins = coord.join_pieces(campaigns, sig, {}, vectors, pool, pending={"piece0", "piece3"})
    assert set(joins) | set(joins.values()) == {f"piece{s}" for s in range(SLICES)}
    assert len(set(joins.values())) == 1 and not {"piece0", "piece3"} & set(joins.values())
    # two pending slices of one campaign and no campaign of theirs: nothing joins
    alone = {c: campaigns[c] for c in ("piece1", "piece2", "other0", "params0")}
    assert coord.join_pieces(alone, sig, {}, vectors, pool, pending={"piece1", "piece2"}) == {}


def test_a_slice_too_small_alone_is_flagged_when_it_joins_a_campaign() -> None:
    """scoring._join_pieces: a group of one topic that passed its test but collected too little alone
    (``immaterial``) joins the campaign whose slice it is, on its own p-value; a group of people does not."""
    from distillscope.detect import scoring
    from distillscope.detect.communities import Community

    campaigns, sig, vectors, pool = _scene()

    def group(members: list[str], p: float) -> coord.CoordinatedGroup:
        return coord.CoordinatedGroup(members, members, 1.0, p, 0.0, 0.0, 0.0, 0.0, grouped_on="topic")

    group_of = {}
    for cid in ("piece0", "piece1"):
        com = Community(campaigns[cid], 0.9, 1e-6, 0.0, 0, 0)
        group_of |= {
            a: (cid, 1e-6, com, {"coordinated": group(campaigns[cid], 1e-6)}) for a in campaigns[cid]
        }
    people = [a for a in pool if a.startswith("person-")][:PER_SLICE]
    immaterial = [(group(campaigns["piece2"], 2e-4), {}), (group(people, 3e-4), {})]
    scoring._join_pieces(sig, {}, vectors, 1e-3, group_of, pool, immaterial)
    into = group_of[campaigns["piece0"][0]][0]
    for a in campaigns["piece2"]:
        cid, p, _com, facts = group_of[a]
        assert cid == into and p == 2e-4 and facts["slice_p"] == 2e-4 and facts["piece"] == PER_SLICE
    assert not set(people) & set(group_of)
