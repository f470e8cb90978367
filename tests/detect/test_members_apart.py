"""Members of one campaign split over several topic groups: each group's member test is judged against a
reference without the other passing groups, where that keeps more than random topic neighbourhoods peeled
against the same reference keep (coordination._members_apart); a quiet account of a topic group that failed
as a whole joins no campaign of one topic; a group's pooled reach is judged against the bulk of the log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillscope.detect import coordination as coord

from .helpers import topic_scene

TOPICS, PER_TOPIC, SPLIT, MEMBERS = 12, 15, 4, 11


def _scene(seed: int = 3) -> tuple[list[str], coord.PromptSpace, pd.DataFrame]:
    """TOPICS clusters of PER_TOPIC accounts in prompt space; in each of the first SPLIT clusters the first
    MEMBERS accounts run one campaign's playbook (the same max_tokens, answer length and share of reasoning
    asks in every cluster: one operation over several topics); everyone else is a person with parameters
    of their own."""

    def playbook(t: int, i: int, rng: np.random.Generator) -> dict[str, float]:
        if t < SPLIT and i < MEMBERS:
            return {
                "answer_len": np.log(600) + rng.normal(scale=0.05),
                "mean_max_tokens": 2048.0,
                "cot_rate": 0.6 + rng.normal(scale=0.03),
            }
        return {
            "answer_len": rng.uniform(3.5, 7.5),
            "mean_max_tokens": float(rng.choice([256, 512, 1024, 4096])),
            "cot_rate": rng.uniform(0.0, 0.3),
        }

    return topic_scene(TOPICS, PER_TOPIC, playbook, seed)


def _tested() -> list[coord.CoordinatedGroup]:
    names, space, sig = _scene()
    groups = [[a for a in names if a.startswith(f"t{t:02d}-")] for t in range(TOPICS)]
    return coord.test_groups(groups, sig, space, grouped_on="topic", population=names, select_level=1e-3)


def test_a_campaign_split_over_topic_groups_keeps_its_members_in_each() -> None:
    tested = _tested()
    for t, grp in enumerate(tested):
        if t < SPLIT:
            # each group passes as a whole, and its campaign members are kept (before: the other groups'
            # members in the reference share the playbook, and the member test kept none of them)
            assert grp.p_playbook <= 1e-3
            assert len(grp.members) >= coord.PEEL_MIN
            assert set(grp.members) <= {f"t{t:02d}-{i:02d}" for i in range(MEMBERS)}
        else:
            assert grp.p_playbook > 1e-3 and len(grp.members) < coord.PEEL_MIN


def test_members_apart_are_taken_only_beyond_random_neighbourhoods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were random topic neighbourhoods peeled against the same reference to keep as many (here: the
    selection-aware null says so), the narrower reference is the selection speaking and the member test's
    members stay as they were (none)."""
    calls: list[int] = []

    def as_many(group: list[str], *args: object) -> tuple[float, int, int, float]:
        calls.append(len(group))
        return 1.0, 100, 100, float(MEMBERS)

    monkeypatch.setattr(coord, "peeled_null", as_many)
    tested = _tested()
    assert calls == [PER_TOPIC] * SPLIT
    assert all(len(g.members) < coord.PEEL_MIN for g in tested)


def test_the_members_apart_are_the_same_in_every_run() -> None:
    assert [g.members for g in _tested()] == [g.members for g in _tested()]


def test_one_passing_group_is_left_as_the_member_test_found_it() -> None:
    """With one passing group there is no other group to leave out of its reference: nothing changes."""
    names, space, sig = _scene()
    group = [a for a in names if a.startswith("t00-")]
    tested = coord.test_groups([group], sig, space, grouped_on="topic", population=names)
    again = coord.test_groups([group], sig, space, grouped_on="topic", population=names, select_level=1e-3)
    assert tested[0].members == again[0].members


def test_a_barred_account_joins_no_campaign_it_is_barred_from() -> None:
    """``attach``'s ``barred``: an account otherwise joining a campaign stays out of the campaign that bars
    it and may still join the others."""
    from .test_attach import _scene as attach_scene

    sig, samples, pool = attach_scene(0.5, 700, 0.8)
    campaigns = {"c": [f"camp{i}" for i in range(6)]}
    assert coord.attach(["edge"], campaigns, sig, samples, None, pool) == {"edge": "c"}
    args = (["edge"], campaigns, sig, samples, None, pool)
    assert coord.attach(*args, barred={"c": {"edge"}}) == {}
    assert coord.attach(*args, barred={"d": {"edge"}}) == {"edge": "c"}


def test_a_groups_pooled_reach_is_judged_against_the_bulk_of_the_log() -> None:
    """A log a quarter of whose accounts are campaigns collecting far more than the rest: against every
    account's median and MAD a group collecting beyond the bulk's top 1% missed the 1% gate."""
    from distillscope.detect import calibrate as cal
    from distillscope.detect.scoring import pooled_reach

    rng = np.random.default_rng(1)
    reach = np.concatenate([rng.normal(11.0, 1.0, 1500), rng.normal(15.0, 0.5, 500)])
    rows = pd.DataFrame({"distinct_prompts": [100.0] * 8, "answer_tokens": [np.exp(13.6) / 800] * 8})
    pooled, p = pooled_reach(rows, reach)
    assert pooled == np.log(np.exp(13.6))
    whole = float(cal.robust_tail(np.array([pooled]), reach, 0.5)[1][0])
    assert whole > 0.01 >= p
