"""One customer or several: who pays for a group of accounts, and whether one playbook runs across payers.

A company pays for its employees' accounts and registers them under one
organisation; a campus or an office sits behind one address range. A group of
accounts mostly behind one range, one payment id or one organisation is *one
customer* (:func:`one_customer`), and one customer's accounts sharing a tool
and a network is no campaign.

A hydra may pay for its accounts with a few cards. Then the payment id that
holds half of a group names only part of it: the rest pays with another card.
Accounts joined by a shared payment id or organisation are one customer
(:func:`customers`, union over both); a group holding two or more customers of
several accounts each is several customers, and when the same playbook ties
the customers *to each other* (:func:`across_customers`: topic and parameter
similarity of members of different customers, against random volume-matched
accounts put in the same customer structure, a Monte Carlo p-value) one
customer does not explain it. Employees with a personal card beside their
company's accounts form no second customer of several accounts, two companies
behind one NAT run their own tools (alike inside, not across), and one company
paying with two cards under one organisation is one customer.

This module tells customers apart and tests one playbook across them; it must
not score accounts, form groups or read logs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from distillscope.detect.calibrate import bands
from distillscope.detect.communities import playbook_similarity
from distillscope.detect.montecarlo import names_rng, sequential_p

#: Share of a group's members behind one range or payment id (or organisation) that makes it one customer.
ONE_CUSTOMER_SHARE = 0.5
#: Fewest accounts of a second customer for a group to span several customers (one or two accounts paying
#: otherwise are an office's stragglers).
SECOND_CUSTOMER = 3
#: Random customer structures drawn at least (more when the level asks for it: see :func:`across_customers`),
#: at most, per batch, and the count of draws as alike at which drawing stops (a sequential Monte Carlo
#: p-value, Besag and Clifford 1991).
CROSS_DRAWS = 20_000
CROSS_DRAWS_MAX = 200_000
CROSS_BATCH = 500
CROSS_STOP = 10
#: Kinds of value that name a customer (who pays), as :func:`site_values` writes them.
PAYER_KINDS = ("payment", "org")


def site_values(infra: pd.DataFrame) -> dict[str, set[str]]:
    """Per account, its organisation, payment ids and the /24 (or /48) ranges with a share of its traffic."""
    if infra.empty:
        return {}
    inf = infra[infra["kind"].isin(["ip24", *PAYER_KINDS])]
    totals = infra[infra["kind"] == "ip24"].groupby("account")["cnt"].sum()
    out: dict[str, set[str]] = {}
    for account, kind, value, cnt in inf[["account", "kind", "value", "cnt"]].itertuples(index=False):
        if kind in PAYER_KINDS or cnt >= 0.3 * float(totals.get(account, cnt)):
            out.setdefault(account, set()).add(f"{kind}:{value}")
    return out


def one_customer(members: list[str], site_of: dict[str, set[str]]) -> tuple[bool, str]:
    """Whether most members sit behind one range or pay with one id (one customer), and which value."""
    counts: dict[str, int] = {}
    for a in members:
        for v in site_of.get(a, ()):
            counts[v] = counts.get(v, 0) + 1
    if not counts:
        return False, ""
    value, count = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return count >= ONE_CUSTOMER_SHARE * len(members), value


def one_range(members: list[str], site_of: dict[str, set[str]]) -> bool:
    """Whether most members sit behind one /24 (or /48) range (a campus, an office's NAT)."""
    ranges = {a: {v for v in site_of.get(a, ()) if v.startswith("ip24:")} for a in members}
    return one_customer(members, ranges)[0]


def customers(members: list[str], site_of: dict[str, set[str]]) -> list[list[str]]:
    """The members by customer, largest first: accounts joined by a shared payment id or organisation
    (transitively: two cards under one organisation are one customer); an account that shares neither is
    a customer of its own."""
    parent = {a: a for a in members}

    def root(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    first: dict[str, str] = {}
    for a in members:
        for v in sorted(site_of.get(a, ())):
            if v.split(":", 1)[0] not in PAYER_KINDS:
                continue
            if v in first:
                parent[root(a)] = root(first[v])
            else:
                first[v] = a
    blocks: dict[str, list[str]] = {}
    for a in members:
        blocks.setdefault(root(a), []).append(a)
    return sorted((sorted(b) for b in blocks.values()), key=lambda b: (-len(b), b[0]))


def several_customers(members: list[str], site_of: dict[str, set[str]]) -> list[list[str]]:
    """The customers of at least :data:`SECOND_CUSTOMER` accounts when there are two or more of them (and
    most members are not behind one range), else []."""
    if one_range(members, site_of):
        return []
    big = [b for b in customers(members, site_of) if len(b) >= SECOND_CUSTOMER]
    return big if len(big) >= 2 else []


def across_customers(
    blocks: list[list[str]], sig: pd.DataFrame, topic_of: object, reference: list[str], level: float = 1e-4
) -> tuple[float, dict[str, float]]:
    """Monte Carlo p-value that members of *different* customers are alike in topic and in parameters.

    The statistics: the mean topic similarity and the mean parameter similarity (answer length,
    max_tokens, reasoning and log-prob rates) over pairs of members of different customers. The null:
    every member replaced by a random reference account of its volume band outside the group, the
    customer structure kept; a draw counts when *either* statistic is as high as observed (so the p-value
    bounds both: intersection-union). Drawing stops once :data:`CROSS_STOP` draws count (p = CROSS_STOP /
    draws) or after :data:`CROSS_DRAWS`, or as many as a p-value of half ``level`` needs (at most
    :data:`CROSS_DRAWS_MAX`; p = (1 + count) / (1 + draws)); the generator is seeded from the
    members' names, so the same log gives the same p in every process. ``topic_of`` is a
    ``coordination.PromptSpace`` holding the members and the reference. Returns (p, the statistics and
    their null means).
    """
    members = [a for b in blocks for a in b]
    inside = set(members)
    ref = [a for a in reference if a not in inside]
    names = members + ref
    by = sig.set_index("account")
    topic = topic_of.similarity(names)  # type: ignore[attr-defined]
    play = playbook_similarity(by.loc[names].reset_index())
    label = np.concatenate([np.full(len(b), i) for i, b in enumerate(blocks)])
    cross = label[:, None] != label[None, :]
    k = len(members)
    obs = [float(m[:k, :k][cross].mean()) for m in (topic, play)]
    first, second = np.nonzero(cross)  # the pairs of members of different customers
    ref_idx = np.arange(k, len(names))
    volume = by.loc[names, "n"].to_numpy(dtype=float)
    ref_band = bands(volume[k:])
    member_band = bands(volume[:k])
    rng = names_rng(members)
    sums = np.zeros(2)
    evaluated = 0
    # gathered through flat indices, pairs along the rows (the memory order 2-D fancy indexing gives,
    # so the means are summed in the same order): a third of the CPU, identical values
    flat_of = [np.ascontiguousarray(m).ravel() for m in (topic, play)]
    width = len(names)

    def batches() -> Iterator[np.ndarray]:
        nonlocal evaluated
        while True:
            draws = np.empty((CROSS_BATCH, k), dtype=np.int64)
            for b in np.unique(member_band):
                cols = np.flatnonzero(member_band == b)
                source = ref_idx[ref_band == b]
                draws[:, cols] = rng.choice(
                    source if len(source) >= 3 else ref_idx, size=(CROSS_BATCH, len(cols))
                )
            alike = np.zeros(CROSS_BATCH, dtype=bool)
            by_pair = draws.T
            pair_at = by_pair[first] * width + by_pair[second]
            for j, flat in enumerate(flat_of):
                null = np.take(flat, pair_at).T.mean(axis=1, dtype=float)
                sums[j] += null.sum()
                alike |= null >= obs[j]
            evaluated += CROSS_BATCH
            yield alike

    limit = int(min(CROSS_DRAWS_MAX, max(CROSS_DRAWS, np.ceil(2.0 / level))))
    p, drawn, _ = sequential_p(batches(), CROSS_STOP, limit)
    stats = {
        "topic": obs[0],
        "playbook": obs[1],
        "topic_null": float(sums[0] / evaluated),
        "playbook_null": float(sums[1] / evaluated),
        "draws": float(drawn),
    }
    return float(p), stats
