"""The duplicate-prompt gate (scoring.shares_prompts): a group is refused for prompts its members ask verbatim
in common only beyond what as many random accounts of the log ask in common by chance.

- A tied hydra whose members re-ask 30% of each other's prompts (they draw from one pool) in a log where any
  ten accounts share ~20% (popular questions) is a campaign; a fixed share of 20% refused it (fresh 2771: a
  hydra of 278 accounts sharing 24.3% against random sets' 17%, missed entirely).
- The same hydra in a log where nobody shares a prompt is refused, as is a class asking one set of prompts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect import scoring
from distillscope.detect.calibrate import p_of_score
from distillscope.detect.communities import chance_share, duplicate_share, excess_share
from distillscope.detect.coordination import CoordinatedGroup
from distillscope.detect.linkage import Links
from distillscope.detect.settings import FLAG_THRESHOLD

ALPHA = p_of_score(FLAG_THRESHOLD)
HYDRA = [f"hydra{i:02d}" for i in range(10)]
PEOPLE = [f"person{i:03d}" for i in range(100)]


def _hydra_samples(kind: str) -> dict[str, list[str]]:
    """20 sampled prompts a member: ``pool``: 6 each asked by one other member too (30% shared), ``class``:
    all members the same 20."""
    if kind == "class":
        return {a: [f"homework question {j}" for j in range(20)] for a in HYDRA}
    out = {}
    for i, a in enumerate(HYDRA):
        pair = i // 2  # members 0-1, 2-3, ... draw 6 prompts in common from the pool
        out[a] = [f"{a} question {j} about plants" for j in range(14)] + [
            f"pool prompt {pair}-{j} about plants" for j in range(6)
        ]
    return out


def _people_samples(popular: bool) -> dict[str, list[str]]:
    """Each person 20 prompts: 15 own and 5 of 30 popular questions (``popular``), or 20 own."""
    rng = np.random.default_rng(7)
    out = {}
    for a in PEOPLE:
        own = [f"{a} asks {j}" for j in range(15 if popular else 20)]
        picks = rng.choice(30, size=5, replace=False) if popular else []
        out[a] = own + [f"what is popular thing {k}?" for k in picks]
    return out


def _sig() -> pd.DataFrame:
    rows = []
    for a in HYDRA:
        rows.append((a, 200.0, 200.0, 800.0, float(np.log(200 * 800)), 1e-9, 1e-9, np.log(800), 0.0))
    for i, a in enumerate(PEOPLE):
        length = 40.0 + 9.0 * i
        rows.append((a, 200.0, 20.0, length, float(np.log(20 * length)), 0.5, 0.5, np.log(length), i / 200))
    cols = ["account", "n", "distinct_prompts", "answer_tokens", "reach", "p_own", "p_account"]
    frame = pd.DataFrame(rows, columns=[*cols, "answer_len", "cot_rate"])
    return frame.assign(mean_max_tokens=np.nan, lp_rate=0.0)


def _accepted(kind: str, popular: bool) -> bool:
    samples = {**_hydra_samples(kind), **_people_samples(popular)}
    links = Links(groups=[])
    for i, a in enumerate(HYDRA):
        for b in HYDRA[i + 1 :]:
            links.pair_weight[(a, b)] = {"ip": 0.7}
    group = CoordinatedGroup(
        tied=list(HYDRA), members=list(HYDRA), p_topic=1e-10, p_playbook=1e-10,
        topic=0.3, topic_null=0.1, playbook=0.9, playbook_null=0.4,
    )  # fmt: skip
    site_of = {a: {f"payment:card{i}"} for i, a in enumerate(HYDRA)}
    out = scoring._accept_coordinated(
        [group], _sig(), samples, ALPHA, scoring.Tuning(), site_of, set(), links, {}
    )
    return [g.members for g, _facts in out] == [HYDRA]


def test_a_hydra_sharing_no_more_than_chance_allows_is_a_campaign() -> None:
    samples = {**_hydra_samples("pool"), **_people_samples(True)}
    share = duplicate_share(HYDRA, samples)
    chance = chance_share(HYDRA, samples, PEOPLE)
    assert share == 0.3
    assert 0.15 < chance < 0.3  # ten random people share popular questions
    assert excess_share(share, chance) < scoring.MAX_DUPLICATE_SHARE < share
    assert _accepted("pool", popular=True)


def test_sharing_beyond_chance_is_refused() -> None:
    assert not _accepted("pool", popular=False)  # nobody else shares: 30% is all beyond chance
    assert not _accepted("class", popular=True)  # one set of prompts for every member
    assert chance_share(HYDRA, _people_samples(False), PEOPLE) == 0.0
    assert excess_share(0.2, 0.2) == 0.0
