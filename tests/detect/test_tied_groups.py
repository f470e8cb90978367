"""scoring._accept_coordinated and _split_remainders: what a group tied by rare infrastructure takes in.

- One customer (most members behind one payment id) vetoes a tied group only when its typical member is not
  extraordinary on its own: a hydra paying through one card for ten accounts, each harvesting like a
  machine, is still a campaign; ten ordinary accounts of one company are not.
- ... nor when the group is several customers (two cards of five accounts each) tied to each other by one
  playbook (detect/customers.py); two cards under one organisation are one customer.
- A tied group takes from a candidates' campaign its members only those tied to it: when three or more are
  tied to none of its members (same topics and playbook, other infrastructure), they stay a campaign of
  their own on the evidence of the community they were found in; a member or two without a tie go with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect import scoring
from distillscope.detect.calibrate import p_of_score
from distillscope.detect.communities import Community
from distillscope.detect.coordination import CoordinatedGroup
from distillscope.detect.linkage import Links
from distillscope.detect.settings import FLAG_THRESHOLD

ALPHA = p_of_score(FLAG_THRESHOLD)
HYDRA = [f"hydra{i:02d}" for i in range(10)]


def _sig(p_account: float, others: list[str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The hydra (10 accounts, 200 distinct prompts each), ``others`` like it, 100 ordinary accounts."""
    rows, samples = [], {}
    for a in HYDRA + others:
        rows.append((a, 200.0, 200.0, 800.0, float(np.log(200 * 800)), 1.0, p_account, np.log(800), 0.0))
        samples[a] = [f"{a} question {i} about plants" for i in range(20)]
    for i in range(100):
        a = f"person{i:03d}"
        length = 40.0 + 9.0 * i  # each person its own answer length and reasoning rate
        rows.append((a, 200.0, 20.0, length, float(np.log(20 * length)), 0.5, 0.5, np.log(length), i / 200))
        samples[a] = [f"{a} asks {j}" for j in range(20)]
    cols = ["account", "n", "distinct_prompts", "answer_tokens", "reach", "p_own", "p_account"]
    frame = pd.DataFrame(rows, columns=[*cols, "answer_len", "cot_rate"])
    return frame.assign(mean_max_tokens=np.nan, lp_rate=0.0), samples


def _ties() -> Links:
    links = Links(groups=[])
    for i, a in enumerate(HYDRA):
        for b in HYDRA[i + 1 :]:
            links.pair_weight[(a, b)] = {"ip": 0.7}
    return links


def _group() -> CoordinatedGroup:
    return CoordinatedGroup(
        tied=list(HYDRA), members=list(HYDRA), p_topic=1e-10, p_playbook=1e-10,
        topic=0.3, topic_null=0.1, playbook=0.9, playbook_null=0.4,
    )  # fmt: skip


def _accept(p_account: float, paying: dict[str, str], others: list[str], earlier: dict[str, str]) -> list:
    sig, samples = _sig(p_account, others)
    site_of = {a: {f"payment:{card}"} for a, card in paying.items()}
    tested = [_group()]
    return scoring._accept_coordinated(
        tested, sig, samples, ALPHA, scoring.Tuning(), site_of, set(), _ties(), earlier
    )


def test_one_customer_vetoes_a_tied_group_only_of_ordinary_members() -> None:
    one_card = dict.fromkeys(HYDRA, "card1")
    accepted = _accept(1e-9, one_card, [], {})
    assert [g.members for g, _facts in accepted] == [HYDRA]
    assert _accept(0.3, one_card, [], {}) == []  # ordinary members behind one payment: one customer
    assert _accept(1e-5, one_card, [], {}) == []  # flagged alone, but not at alpha squared
    own_cards = {a: f"card{i}" for i, a in enumerate(HYDRA)}
    assert [g.members for g, _f in _accept(0.3, own_cards, [], {})] == [HYDRA]  # not one customer


def test_two_cards_tied_by_one_playbook_are_several_customers() -> None:
    two_cards = {a: ("card1" if i % 2 else "card2") for i, a in enumerate(HYDRA)}  # 5 + 5
    accepted = _accept(0.3, two_cards, [], {})
    assert [g.members for g, _facts in accepted] == [HYDRA]
    customers = accepted[0][1]["customers"]
    assert customers["sizes"] == [5, 5] and customers["p"] <= ALPHA
    assert sorted(customers["payers"]) == [["payment:card1"], ["payment:card2"]]
    # the same two cards registered under one organisation: one customer
    sig, samples = _sig(0.3, [])
    site_of = {a: {f"payment:{card}", "org:acme"} for a, card in two_cards.items()}
    tested = [_group()]
    args = (sig, samples, ALPHA, scoring.Tuning(), site_of, set(), _ties(), {})
    assert scoring._accept_coordinated(tested, *args) == []


def test_a_tied_group_takes_only_its_tied_members_from_a_candidates_campaign() -> None:
    others = ["slow0", "slow1", "slow2", "slow3"]
    earlier = {a: "c0" for a in HYDRA + others}
    accepted = _accept(1e-9, {}, others, earlier)
    assert [g.members for g, _f in accepted] == [HYDRA]
    # two untied members are too few for a campaign of their own: they go with the group as before
    earlier = {a: "c0" for a in HYDRA + others[:2]}
    accepted = _accept(1e-9, {}, others[:2], earlier)
    assert [g.members for g, _f in accepted] == [sorted(HYDRA + others[:2])]


def test_the_untied_rest_is_a_campaign_of_its_own_with_its_reasons() -> None:
    others = ["slow0", "slow1", "slow2", "slow3"]
    members = sorted(HYDRA + others)
    community = Community(members, 0.84, 1e-16, 0.0, 40, 0)
    facts = {"pooled_reach": 14.0, "p_reach": 1e-5, "p_members": 1e-9, "typical": 1e-9, "one_customer": ""}
    found = {"c0": (members, 1e-9, community, facts)}
    group_of = {a: ("c0", 1e-9, community, facts) for a in members}
    hydra = Community(list(HYDRA), 0.9, 1e-10, 0.0, 0, 0)
    for a in HYDRA:
        group_of[a] = ("c-hydra", 1e-10, hydra, facts)
    samples = {a: [f"{a} question {i}" for i in range(5)] for a in members}
    scoring._split_remainders(found, group_of, samples, Links(groups=[]))
    new = scoring.campaign_id(others)
    assert {a: group_of[a][0] for a in others} == dict.fromkeys(others, new)
    assert all(group_of[a][0] == "c-hydra" for a in HYDRA)
    cid, p, com, split_facts = group_of["slow0"]
    assert p == 1e-9 and com.members == others and found[new][0] == others
    reasons = scoring._campaign_reasons("slow0", cid, com, split_facts, Links(groups=[]))
    assert reasons[0].startswith(f"member of campaign {new}: 4 of the 14 accounts of a community")
    assert "the other 10 are tied by rare shared infrastructure or timing" in reasons[0]
    assert "campaign c-hydra, another operation" in reasons[0]
