"""Who stays in a coordinated group: members are peeled one at a time, not judged all at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from distillscope.detect import coordination as coord


def _matrices(true: int, outsiders: int, refs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Topic and parameter similarity over [true members | look-alike outsiders | reference accounts]:
    true members are alike among themselves; outsiders and references are like anyone else, each with its
    own offset (accounts differ systematically, not only by noise)."""
    rng = np.random.default_rng(seed)
    n = true + outsiders + refs
    matrices = []
    for base, inside, spread in ((0.05, 0.30, 0.02), (0.50, 0.78, 0.16)):
        offset = rng.normal(0.0, spread, n)
        m = base + (offset[:, None] + offset[None, :]) / 2 + rng.normal(0.0, 0.005, (n, n))
        m[:true, :true] = inside + rng.normal(0.0, 0.005, (true, true))
        # the outsiders share the topic's words but not the parameters: a little below anyone else
        m[:true, true : true + outsiders] = base - spread / 3
        m = np.clip((m + m.T) / 2, 0.0, 1.0)
        np.fill_diagonal(m, 1.0)
        matrices.append(m)
    return matrices[0], matrices[1]


def _frame(names: list[str], shared: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame(
        {"p_reach": 0.2, "shared_prompts": shared * 100, "distinct_prompts": 100.0}, index=pd.Index(names)
    )


def test_look_alike_outsiders_do_not_hide_a_campaign() -> None:
    true, outsiders, refs = 7, 3, 60
    topic, play = _matrices(true, outsiders, refs)
    names = [f"a{i}" for i in range(true + outsiders + refs)]
    group = names[: true + outsiders]
    idx, ref_idx = np.arange(true + outsiders), np.arange(true + outsiders, len(names))
    level = coord.MEMBER_P / len(group)
    # judged all at once (the old rule), the outsiders pull every true member under the bar
    k = len(idx)
    block = play[np.ix_(idx, idx)]
    mean_in = (block.sum(axis=1) - np.diag(block)) / (k - 1)
    null = play[np.ix_(ref_idx, idx)].mean(axis=1)
    bar = null.mean() + norm.isf(level) * null.std()
    assert (mean_in[:true] <= bar).all()
    kept = coord._members_inside(group, idx, topic, play, ref_idx, _frame(names), level)
    assert kept == names[:true]


def test_peeling_keeps_nobody_from_a_group_of_strangers() -> None:
    topic, play = _matrices(0, 10, 60, seed=1)
    names = [f"a{i}" for i in range(70)]
    kept = coord._members_inside(
        names[:10], np.arange(10), topic, play, np.arange(10, 70), _frame(names), coord.MEMBER_P / 10
    )
    assert len(kept) < coord.MIN_GROUP


def test_a_tied_member_may_share_more_prompts_than_a_topic_member() -> None:
    true = 8
    topic, play = _matrices(true, 0, 60, seed=2)
    names = [f"a{i}" for i in range(true + 60)]
    frame = _frame(names, shared=0.55)
    args = (names[:true], np.arange(true), topic, play, np.arange(true, len(names)), frame, coord.MEMBER_P)
    assert coord._members_inside(*args, coord.TIED_MEMBER_SHARED) == names[:true]
    assert coord._members_inside(*args, coord.MEMBER_SHARED) == []
    assert coord._members_inside(*args[:-2], _frame(names, shared=0.7), coord.MEMBER_P) == []


def _off_topic_member(true: int, refs: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A group of ``true`` members whose last member runs the same script (parameters like the others')
    but whose sampled prompts are no closer to the others' topic than anyone else's."""
    topic, play = _matrices(true, 0, refs, seed=seed)
    last = true - 1
    topic[last, :true] = topic[:true, last] = 0.05
    topic[last, last] = 1.0
    return topic, play, [f"a{i}" for i in range(true + refs)]


def test_a_tied_member_stays_on_its_parameters_when_its_topic_is_off() -> None:
    true, refs = 12, 60
    topic, play, names = _off_topic_member(true, refs, seed=3)
    args = (names[:true], np.arange(true), topic, play, np.arange(true, true + refs), _frame(names))
    # grouped on topic (or untied), the topic test still decides: the member leaves
    assert coord._members_inside(*args, coord.MEMBER_P) == names[: true - 1]
    # tied by rare infrastructure, its parameters inside at the members' family level keep it
    assert coord._members_inside(*args, coord.MEMBER_P, coord.TIED_MEMBER_SHARED, tied=True) == names[:true]


def test_a_tied_account_with_its_own_parameters_still_leaves() -> None:
    true, refs = 12, 60
    topic, play, names = _off_topic_member(true, refs, seed=4)
    last = true - 1
    play[last, :true] = play[:true, last] = 0.5  # parameters like anyone else's
    play[last, last] = 1.0
    args = (names[:true], np.arange(true), topic, play, np.arange(true, true + refs), _frame(names))
    assert (
        coord._members_inside(*args, coord.MEMBER_P, coord.TIED_MEMBER_SHARED, tied=True) == names[: true - 1]
    )


def test_tied_strangers_are_not_kept_on_parameters() -> None:
    topic, play = _matrices(0, 10, 60, seed=1)
    names = [f"a{i}" for i in range(70)]
    kept = coord._members_inside(
        names[:10], np.arange(10), topic, play, np.arange(10, 70), _frame(names), coord.MEMBER_P, tied=True
    )
    assert len(kept) < coord.MIN_GROUP
