"""Lone members of a campaign behind a pool of addresses, crowded or under the links' cap
(``coordination.campaign_pool``, ``pool_users``, ``join_pool``): an account sending most of its requests
through the addresses most of a campaign's members use joins it when its behaviour agrees (flagged alone: on
the campaign's side of random accounts in topic and parameters, inside at the member level in one; not
flagged: its topics inside at the level of every such account tried, its parameters at the member level);
nobody joins through a pool the campaign does not mostly hold, and nobody is flagged on the pool and
parameters alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect import coordination as coord
from distillscope.detect.linkage import Links, build_links

from .helpers import topic_scene

TOPICS, PER_TOPIC = 12, 10
POOL = [f"10.9.9.{i}" for i in range(30)]  # the proxy pool
SCRIPT = {"answer_len": 900.0, "mean_max_tokens": 2048.0, "cot_rate": 0.9}
ELSEWHERE = {"answer_len": 60.0, "mean_max_tokens": 256.0, "cot_rate": 0.0}


def _playbook(topic: int, index: int, rng: np.random.Generator) -> dict[str, float]:
    if topic == 0:  # the hydra: one script's parameters
        return {**SCRIPT, "answer_len": 900 + rng.normal(0, 5)}
    return {
        "answer_len": float(rng.uniform(50, 1200)),
        "mean_max_tokens": float(rng.choice([256.0, 512.0, 1024.0, 4096.0])),
        "cot_rate": float(rng.uniform(0, 0.5)),
    }


def _scene(
    strangers: int = 2,
) -> tuple[list[str], pd.DataFrame, dict[str, np.ndarray], list[str], list[str], list[str]]:
    """The hydra's first 6 accounts are its campaign, the other 4 are lone (t00-06, t00-07 flagged alone,
    t00-08, t00-09 not); ``strangers`` ordinary accounts of other topics also send everything through the
    pool (the first with other parameters, flagged alone; the second with the script's parameters)."""
    names, space, sig = topic_scene(TOPICS, PER_TOPIC, _playbook)
    vectors = {a: np.asarray(space.matrix[space.index[a]]) for a in names}
    hydra = [a for a in names if a.startswith("t00-")]
    others = [a for a in names if a[1:3] in {f"{t:02d}" for t in range(1, TOPICS)} and a.endswith("-05")]
    sig = sig.set_index("account")
    sig.loc[hydra[6], "n"] = 45.0  # a member of 45 requests over 30 addresses: once or twice each
    sig.loc[others[0], list(ELSEWHERE)] = list(ELSEWHERE.values())
    sig.loc[others[1], list(SCRIPT)] = list(SCRIPT.values())
    sig["p_automation"] = 1.0
    return names, sig.reset_index(), vectors, hydra[:6], hydra[6:], others[:strangers]


def _links(
    names: list[str], sig: pd.DataFrame, users: list[str], cap: int = 4
) -> tuple[Links, dict[str, float]]:
    n_by = dict(zip(sig["account"], sig["n"], strict=True))
    rows = []
    for a in users:  # every request through the pool
        n = int(n_by[a])
        rows += [
            (a, "ip", POOL[i % len(POOL)], n // len(POOL) + (i < n % len(POOL))) for i in range(len(POOL))
        ]
    rows += [(a, "ip", f"192.0.2.{k}", int(n_by[a])) for k, a in enumerate(names) if a not in set(users)]
    infra = pd.DataFrame(rows, columns=["account", "kind", "value", "cnt"])
    infra = infra[infra["cnt"] > 0]
    empty = pd.DataFrame(columns=["account", "tmpl", "words", "cnt", "sample_text"])
    bins = pd.DataFrame(columns=["account", "bin"])
    return build_links(names, n_by, empty, empty, infra, bins, cap=cap, population=len(names)), n_by


def test_the_pool_counts_every_request_even_the_rarely_used_addresses() -> None:
    names, sig, _vectors, members, lone, strangers = _scene()
    links, n_by = _links(names, sig, members + lone + strangers)
    values = coord.campaign_pool(members, links)
    assert values == {("ip", v) for v in POOL}
    assert not any(lone[0] in accs for accs in links.crowded.values())  # under the links' filter everywhere
    assert coord.pool_users(values, links, n_by) == sorted(members + lone + strangers)


def test_lone_members_join_and_strangers_of_the_pool_do_not() -> None:
    names, sig, vectors, members, lone, strangers = _scene()
    links, n_by = _links(names, sig, members + lone + strangers)
    users = coord.pool_users(coord.campaign_pool(members, links), links, n_by)
    candidates = lone + strangers
    flagged = {*lone[:2], strangers[0]}
    joined = coord.join_pool(members, users, candidates, sig, {}, vectors, names, flagged)
    # the stranger flagged alone has other parameters and topics; the other has the script's parameters but
    # not the campaign's topics: neither joins (the pool and parameters alike never flag anyone)
    assert sorted(joined) == sorted(lone)


def test_nobody_joins_through_a_pool_the_campaign_does_not_mostly_hold() -> None:
    names, sig, vectors, members, lone, _ = _scene()
    crowd = [a for a in names if not a.startswith("t00-")][:12]
    links, n_by = _links(names, sig, members + lone + crowd)
    users = coord.pool_users(coord.campaign_pool(members, links), links, n_by)
    assert len(users) == 22  # the campaign holds 6 of them
    assert coord.join_pool(members, users, lone, sig, {}, vectors, names, set(lone)) == []


def test_a_machine_does_not_join_a_campaign_of_people() -> None:
    names, sig, vectors, members, lone, _ = _scene()
    links, n_by = _links(names, sig, members + lone)
    users = coord.pool_users(coord.campaign_pool(members, links), links, n_by)
    sig.loc[sig["account"] == lone[0], "p_automation"] = 1e-6
    joined = coord.join_pool(members, users, lone, sig, {}, vectors, names, set(lone[:2]), machine_p=1e-3)
    assert sorted(joined) == sorted(lone[1:])


def test_a_pool_under_the_cap_is_the_campaigns_pool_too() -> None:
    """The hydra's addresses are used by fewer accounts than the cap (ordinary link values, none crowded): the
    pool is the addresses most members use all the same, and the lone members join through it."""
    names, sig, vectors, members, lone, strangers = _scene()
    links, n_by = _links(names, sig, members + lone + strangers, cap=100)
    assert not links.crowded
    values = coord.campaign_pool(members, links)
    assert values == {("ip", v) for v in POOL}
    users = coord.pool_users(values, links, n_by)
    assert users == sorted(members + lone + strangers)
    joined = coord.join_pool(
        members, users, lone + strangers, sig, {}, vectors, names, {*lone[:2], strangers[0]}
    )
    assert sorted(joined) == sorted(lone)


def test_an_address_few_members_use_is_not_the_pool() -> None:
    """An address under the cap that under half of the members use (one member's own line, a few at one
    office) is not the campaign's: its users are not the pool's."""
    names, sig, vectors, members, lone, _ = _scene()
    n_by = dict(zip(sig["account"], sig["n"], strict=True))
    rows = [(a, "ip", "198.51.100.1", int(n_by[a])) for a in members[:2] + lone]
    rows += [(a, "ip", "198.51.100.2", int(n_by[a])) for a in members[2:]]
    infra = pd.DataFrame(rows, columns=["account", "kind", "value", "cnt"])
    empty = pd.DataFrame(columns=["account", "tmpl", "words", "cnt", "sample_text"])
    bins = pd.DataFrame(columns=["account", "bin"])
    links = build_links(names, n_by, empty, empty, infra, bins, cap=100, population=len(names))
    assert coord.campaign_pool(members, links) == {("ip", "198.51.100.2")}
    assert coord.pool_users(coord.campaign_pool(members, links), links, n_by) == sorted(members[2:])
