"""The selection-aware test of a peeled topic group: a quiet campaign hidden among people of its topic is
found by how many members peeling keeps against random topic neighbourhoods peeled the same way; a
few alike accounts in every topic are kept as often anywhere and are no campaign."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillscope.detect import coordination as coord

TOPICS, PER_TOPIC, CAMPAIGN = 12, 15, 4


@pytest.fixture(autouse=True)
def _fewer_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """4,000 draws are enough here (one group tested: p = 2 / 4,001 with none keeping as many)."""
    monkeypatch.setattr(coord, "PEEL_DRAWS", 4000)


def _scene(every_topic: bool, seed: int = 3) -> tuple[list[str], coord.PromptSpace, pd.DataFrame]:
    """TOPICS clusters of PER_TOPIC accounts in prompt space; the first cluster's first CAMPAIGN accounts run
    one playbook (the same max_tokens, answer length and share of reasoning asks); the others are people with
    parameters of their own. With ``every_topic``, every cluster has CAMPAIGN such accounts, each cluster
    its own parameters (people of one topic using one app's defaults): then it is nothing unusual."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, 32))
    names, vectors, rows = [], [], []
    for t in range(TOPICS):
        for i in range(PER_TOPIC):
            a = f"t{t:02d}-{i:02d}"
            names.append(a)
            vectors.append(centres[t] + rng.normal(scale=0.6, size=32))
            alike = i < CAMPAIGN and (t == 0 or every_topic)
            rows.append(
                {
                    "account": a,
                    "n": float(rng.integers(20, 300)),
                    "p_reach": 0.3,
                    "shared_prompts": 1.0,
                    "distinct_prompts": 50.0,
                    "answer_len": np.log(200 + 50 * t) + rng.normal(scale=0.02)
                    if alike
                    else rng.uniform(3.5, 7.5),
                    "mean_max_tokens": 1000.0 + 100 * t if alike else float(rng.choice([256, 512, 4096])),
                    "cot_rate": 0.2 + 0.06 * t + rng.normal(scale=0.01) if alike else rng.uniform(0.0, 0.1),
                    "lp_rate": 0.0,
                }
            )
    space = coord.PromptSpace.build(names, {}, dict(zip(names, vectors, strict=True)))
    return names, space, pd.DataFrame(rows)


def _tested(every_topic: bool) -> coord.CoordinatedGroup:
    names, space, sig = _scene(every_topic)
    group = [a for a in names if a.startswith("t00-")]
    (grp,) = coord.test_groups([group], sig, space, grouped_on="topic", population=names, select_level=1e-3)
    return grp


def test_a_quiet_campaign_among_people_of_its_topic_is_found_by_what_peeling_keeps() -> None:
    grp = _tested(every_topic=False)
    # as a whole the topic group's parameters are ordinary: the eleven people outweigh the four
    assert grp.p_playbook > 1e-3
    assert sorted(grp.members) == [f"t00-{i:02d}" for i in range(CAMPAIGN)]
    assert grp.selected and grp.p_value <= 1e-3
    assert grp.selected_hits < coord.PEEL_STOP and grp.selected_draws == coord.PEEL_DRAWS
    assert grp.selected_null < 1.0


def test_a_few_alike_accounts_in_every_topic_are_no_campaign() -> None:
    grp = _tested(every_topic=True)
    assert len(grp.members) >= coord.PEEL_MIN  # peeling keeps the look-alikes here as well ...
    assert not grp.selected and grp.p_value > 1e-3
    # ... and from random neighbourhoods as often: drawing stops early
    assert grp.selected_hits == coord.PEEL_STOP and grp.selected_draws < coord.PEEL_DRAWS


def test_the_null_is_the_same_in_every_run_and_counts_what_peeling_keeps() -> None:
    names, space, sig = _scene(every_topic=False)
    by = sig.set_index("account")
    group = [a for a in names if a.startswith("t00-")]
    reference = coord.reference_sample(names)
    first = coord.peeled_null(group, names, reference, space, by)
    assert first == coord.peeled_null(group, names, reference, space, by)
    # the batched peeling keeps as many as the member rule itself
    ref = [a for a in reference if a not in set(group)]
    universe = group + ref
    topic = space.similarity(universe)
    play = coord.playbook_similarity(by.loc[universe].reset_index())
    idx, ref_idx = np.arange(len(group)), np.arange(len(group), len(universe))
    kept = coord._members_inside(group, idx, topic, play, ref_idx, by, coord.MEMBER_P / len(group))
    z = float(coord.norm.isf(coord.MEMBER_P / len(group)))
    assert coord._peel_batch(idx[None, :], topic, play, ref_idx, z)[0] == len(kept) == CAMPAIGN
