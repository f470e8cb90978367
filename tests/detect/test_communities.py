"""Communities of the candidates' behavioural graph: one operation split by modularity comes out whole,
a node with a few edges into a campaign does not stay in it, and a solo extractor needs more than a
shared instruction template to join others."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect.communities import find_communities, members_inside, merge_alike
from distillscope.detect.linkage import Links


def _blocks(inside: float, across: float, sizes: tuple[int, ...], background: int = 6) -> np.ndarray:
    """A behaviour matrix: blocks of ``sizes`` (``inside`` within, ``across`` between blocks) and
    ``background`` unrelated candidates (0.3 to everyone)."""
    n = sum(sizes) + background
    m = np.full((n, n), 0.3)
    start = 0
    block_of = np.full(n, -1)
    for b, size in enumerate(sizes):
        block_of[start : start + size] = b
        start += size
    for i in range(sum(sizes)):
        for j in range(sum(sizes)):
            m[i, j] = inside if block_of[i] == block_of[j] else across
    np.fill_diagonal(m, 1.0)
    return m


def _names(n: int) -> dict[str, int]:
    return {f"a{i:02d}": i for i in range(n)}


def test_two_halves_of_one_operation_are_merged() -> None:
    m = _blocks(0.9, 0.86, (5, 4))
    index = _names(len(m))
    names = list(index)
    merged = merge_alike([names[:5], names[5:9], [names[9]]], m, index)
    assert sorted(map(len, merged)) == [1, 9]


def test_two_different_operations_stay_apart() -> None:
    m = _blocks(0.9, 0.6, (5, 4))
    index = _names(len(m))
    names = list(index)
    merged = merge_alike([names[:5], names[5:9]], m, index)
    assert sorted(map(len, merged)) == [4, 5]


def test_a_member_with_a_few_edges_into_the_community_leaves_it() -> None:
    m = _blocks(0.9, 0.3, (6,))
    stray = 6  # first background candidate: a little closer to the members than the outside is
    m[stray, :6] = m[:6, stray] = 0.42
    index = _names(len(m))
    names = list(index)
    kept = members_inside(names[:7], m, index)
    assert kept == names[:6]
    # a community whose members are all alike keeps everyone
    assert members_inside(names[:6], m, index) == names[:6]


def _sig(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account", "answer_len", "mean_max_tokens", "cot_rate", "lp_rate"])


OTHER_TOPICS = [
    "plan a birthday party", "fix my bike chain", "best hiking boots", "sourdough starter smells",
    "learn the guitar", "knit a wool scarf", "repaint the kitchen", "train a puppy", "budget for rent",
    "visit lisbon in may", "grow tomatoes indoors", "write a wedding toast", "choose a laptop",
    "clean suede shoes",
]  # fmt: skip


def _solo_pair(solo_playbook: tuple[float, float, float, float]) -> list[list[str]]:
    """Communities of two solo extractors tied by one template (and unrelated candidates); ``solo``'s
    (log answer length, max_tokens, CoT rate, log-prob rate)."""
    samples: dict[str, list[str]] = {
        "first": [f"Explain step by step: the krebs cycle, question {k}" for k in range(9)],
        "second": [f"Explain step by step: tax law case {k}" for k in range(9)],
    }
    rows = [("first", np.log(700), 2048.0, 0.8, 0.0), ("second", *solo_playbook)]
    for i in range(14):  # unrelated candidates, so topic percentiles mean something
        a = f"other{i}"
        samples[a] = [f"{OTHER_TOPICS[i]} number {k}" for k in range(9)]
        rows.append((a, np.log(200 + 40 * i), float(256 * (1 + i % 4)), 0.05 * (i % 3), 0.0))
    sig = _sig(rows)
    kinds = {"template": 1.0}
    links = Links(
        groups=[],
        pair_weight={("first", "second"): kinds},
        partners={"first": {"template": {"second"}}, "second": {"template": {"first"}}},
    )
    found = find_communities(sig, sig["account"].tolist(), {"first", "second"}, samples, links)
    return [c.members for c in found]


def test_solo_extractors_sharing_only_a_template_are_not_one_campaign() -> None:
    # one popular instruction template, another playbook (shorter answers, other max_tokens, fewer CoT asks)
    assert ["first", "second"] not in _solo_pair((np.log(300), 1024.0, 0.5, 0.0))
    # the same template *and* the same playbook: one operation
    assert ["first", "second"] in _solo_pair((np.log(690), 2048.0, 0.8, 0.0))
