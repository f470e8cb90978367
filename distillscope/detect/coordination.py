"""Campaigns carried by coordination: accounts tied by rare infrastructure or timing that run one playbook.

A hydra spreads one extraction over many accounts behind a proxy pool; each
account asks ordinary-looking questions at ordinary volume, so none is a
candidate on its own evidence. What gives them away is coordination, and this
module tests it without letting the grouping grade its own work:

1. *Grouping on coordination*: accounts are tied when they share rare
   infrastructure (IPs, /24 or /48 ranges, user agents, weighted by rarity in the
   whole log, :mod:`~distillscope.detect.linkage`) strongly enough
   (:data:`TIE_MIN`), or are active in the same 10-minute bins. A payment id or an
   organisation never ties accounts (one customer paying for its staff is normal);
   groups mostly behind one range, one payment id or one organisation are one
   customer and are not tested. Groups are Louvain communities of the tie graph.
2. *Testing on behaviour*, which the grouping never looked at: the group's mean
   pairwise topic similarity (TF-IDF of character 3-5-grams of sampled prompts,
   or MiniLM centroids) and playbook similarity (answer length, max_tokens, CoT
   and log-prob rates) are each compared with random *volume-matched* sets of the
   same size drawn from the log's accounts (a normal tail over
   :data:`NULL_DRAWS` draws); the group's p-value is the larger of the two
   (intersection-union: the same topics *and* the same parameters). Accounts that
   merely share a carrier NAT or a VPN exit are unrelated people, so their
   behaviour is no more alike than random accounts'.
3. *Members*: a member is kept when its own traffic is inside the playbook (its
   mean similarity to the other members in the upper 5% tail of random
   accounts' similarity to them, for topic and playbook; 5% / group size for a
   group formed on topic alone) and it does something
   of its own: it collects at least as much as the log's typical account (reach
   tail <= :data:`MEMBER_REACH_P`) with prompts nobody else asks verbatim.

Groups of one topic without ties (slow and low: home IPs, human hours) are
formed from the accounts that pass the member's own condition, as mutual
nearest neighbours in prompt space, and tested on the playbook alone (the
grouping already used topic). Such a group that also holds ordinary people of
its topic fails that test as a whole; it may still pass on what peeling kept,
against random topic neighbourhoods of its size peeled the same way
(:func:`peeled_null`, a selection-aware Monte Carlo test). Each round's p-values
are Bonferroni-multiplied by the number of groups it tested. One campaign split over several topic groups
sits in the reference of each of its groups' member tests; the members of a passing group are judged again
without the other passing groups, and kept only where that keeps more than the same peeling keeps from
random topic neighbourhoods against the same reference (:func:`_members_apart`).

Campaigns that are pieces of one (the grouping cut one operation over disjoint slices of its topic space: a
slow-and-low campaign over several communities or topic groups) are joined when the pieces run one playbook
as alike across as inside and ask within one topic space, each beyond random sets of the piece's size
(:func:`join_pieces`); joining relabels accounts already flagged and flags nobody here. The caller may also
offer pending pieces (groups that passed their own test but collect too little alone), which join only a
campaign; the caller flags their members on their own group's test.

This module groups and tests; it must not score single accounts or read logs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from distillscope.detect.calibrate import bands
from distillscope.detect.communities import MERGE_RATIO, playbook_similarity
from distillscope.detect.linkage import CROWDED_KINDS, KIND_MAX, Links
from distillscope.detect.montecarlo import names_rng, sequential_p

#: Pair strength of shared rare infrastructure (without payment ids) that ties two accounts.
TIE_MIN = 0.3
#: Smallest group tested (a coordinated campaign spreads over several accounts).
MIN_GROUP = 5
#: Accounts with fewer requests are not tied into groups (too little behaviour to compare).
MIN_REQUESTS = 10
#: Accounts of the log the null sets are drawn from (volume-matched per member).
REFERENCE = 400
NULL_DRAWS = 200
#: A member's own reach tail must be at most this (it collects at least the typical account's share).
MEMBER_REACH_P = 0.5
#: A member's prompts are its own: at most this share of its distinct prompts asked by other accounts.
MEMBER_SHARED = 0.5
#: The same for a member of a group tied by rare infrastructure or timing: the ties and the topic and
#: parameter tests already place it, so only an account that mostly re-asks other accounts' prompts is left
#: out (a hydra's members draw from one prompt pool and re-ask a third to a half of theirs; on the tuning
#: logs the benign accounts' median share is 0.38-0.46 and their upper decile 0.7).
TIED_MEMBER_SHARED = 0.6
#: A member's similarity to the rest of its group must reach this upper tail of random accounts'
#: similarity to the group (a normal tail over the reference accounts), Bonferroni-divided by the
#: group's size for a group formed on topic alone; members of a tied group are tied already.
MEMBER_P = 0.05
SEED = 0
#: How close an account must be to join a campaign (see :func:`attach`): this share of the way from random
#: accounts' mean similarity to the members up to the loosest member's similarity to the others.
ATTACH_WAY = 2 / 3
#: An account joins a campaign only within this factor of its members' smallest and largest volume (unless it
#: looks like a person and is inside at the whole family's level in both tests: see :func:`attach`).
VOLUME_FACTOR = 4.0
#: An automation tail (scoring's ``p_automation``) at or below this marks an account run by a machine, when
#: the caller gives no level of its own (scoring passes its alpha).
MACHINE_P = 1e-3
NEIGHBOURS = 10
TOPIC_SAMPLES = 8
TOPIC_CHARS = 160
#: Selection-aware test of a peeled topic group (see :func:`peeled_null`): the fewest members kept, the most
#: random neighbourhoods drawn, how many drawn at once, and the count of neighbourhoods keeping as many at
#: which drawing stops (a sequential Monte Carlo p-value, Besag and Clifford 1991).
PEEL_MIN = 3
PEEL_DRAWS = 20_000
PEEL_BATCH = 250
PEEL_STOP = 10
#: A random neighbourhood of g accounts: a random account and g - 1 drawn from its nearest
#: ``ceil(PEEL_SPREAD * g)`` in prompt space (a seed and its g - 1 nearest would give only as many distinct
#: neighbourhoods as accounts, too few for a p-value at the detector's level).
PEEL_SPREAD = 1.5
#: Pieces of one campaign (see :func:`join_pieces`): the smallest piece tried, and how many of the random sets
#: at least as alike as a piece stop the drawing (a sequential Monte Carlo p-value, as for peeling).
PIECE_MIN = 3
PIECE_STOP = 10
#: Kinds of link that tie accounts (a payment id marks one customer and never ties).
TIE_KINDS = ("ip", "ip24", "ua", "timing")
#: Crowded addresses (above the links' cap) are one pool when their accounts overlap by this Jaccard share
#: (see :func:`crowded_groups`); a pool's group is the accounts using at least this share of its addresses.
CROWDED_JACCARD = 0.5
CROWDED_CORE = 0.5
#: A campaign's pool (see :func:`join_pool`): an account sending at least this share of its requests through
#: the addresses (crowded or not) most of the campaign's members use is a user of the pool, and the campaign
#: must hold at least this share of the pool's users (a pool shared with many others is no campaign's
#: infrastructure).
POOL_THROUGH = 0.5
POOL_OWNED = 0.5


@dataclass
class CoordinatedGroup:
    """A group tied by coordination, its behaviour test and the members kept."""

    tied: list[str]  # every account the ties grouped
    members: list[str]  # those inside the playbook with evidence of their own
    p_topic: float
    p_playbook: float
    topic: float  # mean pairwise topic similarity of the tied group
    topic_null: float  # its mean over random volume-matched sets
    playbook: float
    playbook_null: float
    kinds: dict[str, int] = field(default_factory=dict)  # tied pairs by kind of link
    # "ties" (infrastructure, timing), "topic" (then only the playbook tests it) or "candidates" (a small
    # community of the candidates' behavioural graph, tested on topic and playbook: scoring._small_groups)
    grouped_on: str = "ties"
    # a group of one topic whose parameter test failed as a whole, judged on what peeling kept instead
    # (:func:`peeled_null`): its p-value (Bonferroni over both routes and the groups tested), the random
    # neighbourhoods drawn and their mean number of members kept
    p_selected: float = 1.0
    selected_draws: int = 0
    selected_hits: int = 0  # neighbourhoods drawn that kept as many members
    selected_null: float = 0.0

    @property
    def p_value(self) -> float:
        if self.grouped_on == "topic":
            return min(self.p_playbook, self.p_selected)
        return max(self.p_topic, self.p_playbook)

    @property
    def selected(self) -> bool:
        """Whether the group passes on what peeling kept (its parameter test as a whole did not)."""
        return self.p_selected < self.p_playbook


def tie_strength(kinds: dict[str, float]) -> float:
    """0..1: how strongly rare infrastructure and timing (never payment ids) tie a pair."""
    return min(1.0, sum(min(w, KIND_MAX.get(k, w)) for k, w in kinds.items() if k in TIE_KINDS))


def _ties(kinds: dict[str, float]) -> bool:
    return tie_strength(kinds) >= TIE_MIN or kinds.get("timing", 0.0) > 0


def tied_to(account: str, others: set[str], links: Links) -> bool:
    """Whether ``account`` is tied to any of ``others`` by rare infrastructure or timing (as in
    :func:`tie_groups`)."""
    pairs = links.pair_weight
    return any(
        _ties(pairs.get((account, b)) or pairs.get((b, account)) or {}) for b in others if b != account
    )


def tie_groups(links: Links, accounts: list[str]) -> list[list[str]]:
    """Louvain communities (>= MIN_GROUP) of the graph of coordination ties."""
    import networkx as nx

    graph = nx.Graph()
    chosen = set(accounts)
    for (a, b), kinds in links.pair_weight.items():
        if a not in chosen or b not in chosen:
            continue
        if _ties(kinds):
            graph.add_edge(a, b, weight=tie_strength(kinds))
    if graph.number_of_edges() == 0:
        return []
    groups = nx.community.louvain_communities(graph, weight="weight", seed=SEED)
    return sorted((sorted(g) for g in groups if len(g) >= MIN_GROUP), key=lambda g: (-len(g), g[0]))


def crowded_groups(links: Links, accounts: list[str], taken: set[str]) -> list[list[str]]:
    """Candidate groups of crowded addresses (``Links.crowded``: used by more than the links' cap): the
    addresses whose accounts overlap by :data:`CROWDED_JACCARD` or more form one pool (connected components),
    and its group is the accounts among ``accounts``, not in ``taken``, using at least :data:`CROWDED_CORE` of
    the pool's addresses (>= MIN_GROUP). A proxy pool and a carrier NAT look alike here: this only brings
    a group to the behaviour tests (:func:`test_groups`), it never flags nor ties anyone."""
    chosen = set(accounts) - taken
    values = sorted(links.crowded)
    sets = [links.crowded[v] & chosen for v in values]
    parent = list(range(len(values)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            union = len(sets[i] | sets[j])
            if union and len(sets[i] & sets[j]) / union >= CROWDED_JACCARD:
                parent[root(j)] = root(i)
    pools: dict[int, list[int]] = {}
    for i in range(len(values)):
        pools.setdefault(root(i), []).append(i)
    groups = []
    for members in pools.values():
        uses: dict[str, int] = {}
        for i in members:
            for a in sets[i]:
                uses[a] = uses.get(a, 0) + 1
        core = sorted(a for a, c in uses.items() if c >= CROWDED_CORE * len(members))
        if len(core) >= MIN_GROUP:
            groups.append(core)
    return sorted(groups, key=lambda g: (-len(g), g[0]))


@dataclass
class PromptSpace:
    """Unit-length prompt vectors per account: TF-IDF of character 3-4-grams of the first
    :data:`TOPIC_SAMPLES` sampled prompts (:data:`TOPIC_CHARS` characters each), or MiniLM centroids."""

    index: dict[str, int]
    matrix: Any  # scipy sparse (TF-IDF) or numpy (embeddings), one unit-length row per account

    @classmethod
    def build(
        cls, accounts: list[str], samples: dict[str, list[str]], vectors: dict[str, np.ndarray] | None = None
    ) -> PromptSpace:
        index = {a: i for i, a in enumerate(accounts)}
        if vectors is not None and accounts and all(a in vectors for a in accounts):
            v = np.stack([vectors[a] for a in accounts])
            return cls(index, v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9))
        from scipy.sparse import csr_matrix
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = [
            " \n".join(t[:TOPIC_CHARS] for t in samples.get(a, [])[:TOPIC_SAMPLES]).lower() for a in accounts
        ]
        if not any(d.strip() for d in docs):
            return cls(index, csr_matrix((len(accounts), 1)))

        # grams in more than a fifth of the accounts (a language's function words) say nothing of topic
        # and make the similarity products dense; they are left out
        def vectorise(max_df: float) -> Any:
            tfidf = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(3, 4),
                sublinear_tf=True,
                max_features=1 << 15,
                max_df=max_df,
                dtype=np.float32,
            )
            return tfidf.fit_transform(docs)

        try:
            return cls(index, vectorise(0.2 if len(docs) >= 50 else 1.0))
        except ValueError:  # every gram in more than a fifth of the accounts: one vocabulary, keep them all
            return cls(index, vectorise(1.0))

    def rows(self, names: list[str]) -> Any:
        return self.matrix[[self.index[a] for a in names]]

    def similarity(self, names: list[str]) -> np.ndarray:
        m = self.rows(names)
        sim = m @ m.T
        return np.clip(sim.toarray() if hasattr(sim, "toarray") else sim, 0.0, 1.0)


def topic_groups(accounts: list[str], space: PromptSpace) -> list[list[str]]:
    """Louvain communities (>= MIN_GROUP) of the mutual nearest-neighbour graph of the accounts' prompts:
    each account keeps its :data:`NEIGHBOURS` most similar accounts, and an edge needs both ends to keep
    each other."""
    import networkx as nx

    if len(accounts) < MIN_GROUP:
        return []
    x = space.rows(accounts)
    k = min(NEIGHBOURS, len(accounts) - 1)
    near: list[set[int]] = []
    sims: dict[tuple[int, int], float] = {}
    for start in range(0, len(accounts), 1000):
        block = x[start : start + 1000] @ x.T
        block = block.toarray() if hasattr(block, "toarray") else np.array(block)
        for row, i in enumerate(range(start, min(start + 1000, len(accounts)))):
            block[row, i] = -1.0
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        for r, t in enumerate(top):
            mine = {int(j) for j in t if block[r, j] > 0}
            near.append(mine)
            for j in mine:
                sims[(start + r, j)] = float(block[r, j])
    graph = nx.Graph()
    for i, mine in enumerate(near):
        for j in mine:
            if j > i and i in near[j]:
                graph.add_edge(accounts[i], accounts[j], weight=sims[(i, j)])
    if graph.number_of_edges() == 0:
        return []
    groups = nx.community.louvain_communities(graph, weight="weight", seed=SEED)
    return sorted((sorted(g) for g in groups if len(g) >= MIN_GROUP), key=lambda g: (-len(g), g[0]))


def _mean_offdiag(m: np.ndarray) -> float:
    k = len(m)
    return float((m.sum() - np.trace(m)) / max(1, k * (k - 1)))


def test_groups(
    groups: list[list[str]],
    sig: pd.DataFrame,
    space: PromptSpace,
    grouped_on: str = "ties",
    population: list[str] | None = None,
    select_level: float | None = None,
) -> list[CoordinatedGroup]:
    """Behaviour tests of each group against random volume-matched sets of the accounts it was formed from.

    With ``select_level``, a group of one topic whose parameter test fails at that level as a whole but
    whose peeling kept at least :data:`PEEL_MIN` members gets the selection-aware test of
    :func:`peeled_null` (Bonferroni over both routes and the groups tested), together with the same
    parameter test of the members kept (the larger p-value counts)."""
    if not groups:
        return []
    rng = np.random.default_rng(SEED)
    by = sig.set_index("account")
    pool = population if population is not None else request_pool(sig)
    if len(pool) < 2 * MIN_GROUP:
        return []
    # the reference: the population the groups were formed from; each group is compared with the
    # accounts outside it (other groups' members included)
    reference = reference_sample(pool)
    ref_topic = space.similarity(reference)
    ref_pos = {a: i for i, a in enumerate(reference)}
    out = []
    for group in groups:
        inside = set(group)
        ref = [a for a in reference if a not in inside]
        if len(ref) < MIN_GROUP:
            continue
        names = list(group) + ref
        topic = _topic_block(space, list(group), ref, ref_topic, ref_pos)
        play = playbook_similarity(by.loc[names].reset_index())
        k = len(group)
        idx, ref_idx = np.arange(k), np.arange(k, len(names))
        ref_band = bands(by.loc[ref, "n"].to_numpy(dtype=float))
        by_band = {int(b): ref_idx[ref_band == b] for b in np.unique(ref_band)}
        draws = _matched_draws(rng, bands(by.loc[group, "n"].to_numpy(dtype=float)), by_band, ref_idx)
        t_obs = _mean_offdiag(topic[:k, :k])
        p_obs = _mean_offdiag(play[:k, :k])
        t_null = _draw_means(topic, draws)
        p_null = _draw_means(play, draws)
        level = MEMBER_P / len(group) if grouped_on == "topic" else MEMBER_P
        max_shared = MEMBER_SHARED if grouped_on == "topic" else TIED_MEMBER_SHARED
        tied = grouped_on in ("ties", "crowded")
        members = _members_inside(group, idx, topic, play, ref_idx, by, level, max_shared, tied)
        tested = len(groups)  # Bonferroni over the groups tested in this round
        out.append(
            grp := CoordinatedGroup(
                tied=group,
                members=members,
                p_topic=min(1.0, tested * _tail(t_obs, t_null)),
                p_playbook=min(1.0, tested * _tail(p_obs, p_null)),
                topic=t_obs,
                topic_null=float(t_null.mean()),
                playbook=p_obs,
                playbook_null=float(p_null.mean()),
                grouped_on=grouped_on,
            )
        )
        if (
            select_level is not None
            and grouped_on == "topic"
            and grp.p_playbook > select_level
            and len(members) >= PEEL_MIN
        ):
            p_raw, grp.selected_draws, grp.selected_hits, grp.selected_null = peeled_null(
                group, pool, reference, space, by
            )
            # and the members kept must be alike in parameters beyond random volume-matched sets of their
            # size, as a whole group must (intersection-union; a necessary condition only, since peeling
            # chose them for it): people whose one shared trait is the phrase their topic group was formed
            # on (every prompt ending in "think step by step") share its reasoning rate by construction
            (kept,) = test_groups([members], sig, space, grouped_on="topic", population=pool)
            grp.p_selected = min(1.0, max(2 * tested * p_raw, tested * kept.p_playbook))
    if select_level is not None and grouped_on == "topic":
        _members_apart(out, sig, space, pool, reference, select_level)
    return out


def _members_apart(
    tested: list[CoordinatedGroup],
    sig: pd.DataFrame,
    space: PromptSpace,
    pool: list[str],
    reference: list[str],
    level: float,
) -> None:
    """Members of the groups of one topic whose parameter test passes as a whole, judged against a reference
    without the other passing groups' accounts, where that keeps more members than peeling keeps from random
    topic neighbourhoods of the group's size judged against the same reference (in place).

    One campaign split over several topic groups is in the reference of each of its groups' member tests,
    and its members' parameters are alike: development log 2702 (~2,100 accounts, a slow-and-low campaign of
    135 over seven topic groups) kept none. A reference chosen by the data (without the passing groups) is
    narrower than the one an ordinary account is judged against, so the members kept against it are not
    taken at the member bar alone: the count kept is compared with what the same peeling, against the same
    reference, keeps from random topic neighbourhoods of the group's size drawn outside the passing groups
    (:func:`peeled_null`), and only a count beyond them at the member test's level (:data:`MEMBER_P`,
    Bonferroni over the passing groups) replaces the members. ``level`` is the groups' (their parameter
    test passes at it). On 2702 random neighbourhoods kept 0.00 members on average (1,500 draws each).
    Must not: change a group's p-value (its test used the whole reference), or touch a group that fails."""
    passing = [g for g in tested if g.p_playbook <= level]
    apart = {a for g in passing for a in g.tied}
    if len(passing) < 2:
        return
    ref = [a for a in reference if a not in apart]
    outside = [a for a in pool if a not in apart]
    if len(ref) < 2 * MIN_GROUP:
        return
    by = sig.set_index("account")
    # enough draws for PEEL_STOP neighbourhoods as extreme at the member test's level over the groups tried
    limit = min(PEEL_DRAWS, int(np.ceil(PEEL_STOP * len(passing) / MEMBER_P)))
    for grp in passing:
        kept = _peeled_members(grp.tied, ref, space, by)
        if len(kept) <= len(grp.members):
            continue
        p_raw, _, _, _ = peeled_null(grp.tied, outside, ref, space, by, limit)
        if len(passing) * p_raw <= MEMBER_P:
            grp.members = kept


def _peeled_members(group: list[str], ref: list[str], space: PromptSpace, by: pd.DataFrame) -> list[str]:
    """The members :func:`_members_inside` keeps of a group of one topic against the accounts ``ref``."""
    names = list(group) + [a for a in ref if a not in set(group)]
    topic = space.similarity(names)
    play = playbook_similarity(by.loc[names].reset_index())
    k = len(group)
    return _members_inside(group, np.arange(k), topic, play, np.arange(k, len(names)), by, MEMBER_P / k)


def reference_sample(pool: list[str]) -> list[str]:
    """The accounts the null sets are drawn from: at most REFERENCE of ``pool`` (seeded)."""
    rng = np.random.default_rng(SEED)
    return sorted(rng.choice(sorted(pool), size=min(REFERENCE, len(pool)), replace=False).tolist())


def _topic_block(
    space: PromptSpace, group: list[str], ref: list[str], ref_topic: np.ndarray, ref_pos: dict[str, int]
) -> np.ndarray:
    """Topic similarity over group + ref, reusing the reference block computed once."""
    cross = space.rows(group) @ space.rows(group + ref).T
    cross = np.clip(cross.toarray() if hasattr(cross, "toarray") else np.asarray(cross), 0.0, 1.0)
    k, r = len(group), [ref_pos[a] for a in ref]
    out = np.empty((k + len(ref), k + len(ref)))
    out[:k, :] = cross
    out[k:, :k] = cross[:, k:].T
    out[k:, k:] = ref_topic[np.ix_(r, r)]
    return out


def _draw_means(m: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Mean off-diagonal similarity of each drawn set (rows of ``draws``)."""
    n_draws, k = draws.shape
    if n_draws * k * k <= 4_000_000:
        sub = m[draws[:, :, None], draws[:, None, :]]
        diag = m[draws, draws].sum(axis=1)
        return (sub.sum(axis=(1, 2)) - diag) / max(1, k * (k - 1))
    return np.array([_mean_offdiag(m[np.ix_(d, d)]) for d in draws])


def _tail(observed: float, null: np.ndarray) -> float:
    spread = max(float(null.std()), 1e-3)
    return float(max(norm.sf((observed - float(null.mean())) / spread), 1e-16))


def _matched_draws(
    rng: np.random.Generator, group_bands: np.ndarray, by_band: dict[int, np.ndarray], every: np.ndarray
) -> np.ndarray:
    """NULL_DRAWS x members: each member replaced by a random reference account of its volume band."""
    draws = np.empty((NULL_DRAWS, len(group_bands)), dtype=np.int64)
    for b in np.unique(group_bands):
        cols = np.flatnonzero(group_bands == b)
        source = by_band.get(int(b))
        if source is None or len(source) < 3:
            source = every
        draws[:, cols] = rng.choice(source, size=(NULL_DRAWS, len(cols)))
    return draws


def _members_inside(
    group: list[str],
    idx: np.ndarray,
    topic: np.ndarray,
    play: np.ndarray,
    ref_idx: np.ndarray,
    by: pd.DataFrame,
    level: float,
    max_shared: float = MEMBER_SHARED,
    tied: bool = False,
) -> list[str]:
    """Members inside the group's playbook (topic and parameters) that collect something of their own.

    A member is inside when its mean similarity to the *other members* is in the upper ``level`` tail of
    random accounts' similarity to them, for topic and for parameters. The members are peeled one at a
    time: while any fails, the one furthest outside (lowest of its two standardised similarities) leaves
    and the rest are judged again against the members left. A few look-alike people in a group of one
    topic (Louvain puts every neighbour somewhere) pull every member's mean similarity down, and judged
    all at once not one member of a genuine campaign was inside; the group's own p-value was computed on
    the whole group before any peeling, so the peeling never grades its own work.

    In a group ``tied`` by rare infrastructure or timing, the tie is evidence of its own (as a group of one
    topic is tested on the parameters alone): a member whose parameters are inside at the level of every
    member tested (``level`` divided by the group's size) stays even when its topic is not. A hydra member
    of a few dozen requests may have its sampled prompts on a corner of the campaign's topic space; its
    parameters (answer length, max_tokens, reasoning and log-prob rates) are the script's.
    """
    z = float(norm.isf(level))
    # the parameter test alone, Bonferroni over the members: the bar a tied member's parameters must pass
    z_params = float(norm.isf(level / len(idx)))
    current = np.arange(len(idx))
    inside = np.ones(len(idx), dtype=bool)
    while len(current) >= 2:
        cols = idx[current]
        k = len(cols)
        scores = []
        for m in (topic, play):
            block = m[np.ix_(cols, cols)]
            mean_in = (block.sum(axis=1) - np.diag(block)) / max(1, k - 1)
            null = m[np.ix_(ref_idx, cols)].mean(axis=1)
            scores.append((mean_in - float(null.mean())) / max(float(null.std()), 1e-3))
        worst = np.minimum(scores[0], scores[1])
        if tied:  # inside on parameters alone at the members' family level counts as inside
            worst = np.maximum(worst, scores[1] - z_params + z)
        inside = worst > z
        if inside.all() or k <= MIN_GROUP:
            break
        current = np.delete(current, int(np.argmin(worst)))
    kept = set(current[inside].tolist())
    own = does_own_part(by.loc[group], max_shared)
    return [a for i, a in enumerate(group) if i in kept and own[i]]


def request_pool(sig: pd.DataFrame) -> list[str]:
    """The accounts of at least :data:`MIN_REQUESTS` requests, in the signal table's order: the population
    the group tests, the joins and the duplicate gate's chance sets are drawn from."""
    return sig.loc[sig["n"] >= MIN_REQUESTS, "account"].tolist()


def does_own_part(rows: pd.DataFrame, max_shared: float = MEMBER_SHARED) -> np.ndarray:
    """Which accounts do a part of their own (a coordinated member's own condition): they collect at least
    what the log's typical account does (reach tail <= :data:`MEMBER_REACH_P`) and ask mostly their own
    prompts (a share of at most ``max_shared`` asked by others too). The request count is the caller's."""
    shared = (rows["shared_prompts"] / rows["distinct_prompts"].clip(lower=1)).to_numpy()
    return (typical_reach_p(rows) <= MEMBER_REACH_P) & (shared <= max_shared)


def typical_reach_p(rows: pd.DataFrame) -> np.ndarray:
    """Reach tails against every account of the log (median and MAD, campaigns included): what "collects
    at least the log's typical account" means in the grouping (``p_reach_log`` of the signal table;
    ``p_reach`` in tables built without it)."""
    col = "p_reach_log" if "p_reach_log" in rows else "p_reach"
    return rows[col].to_numpy(dtype=float)


def peeled_null(
    group: list[str],
    pool: list[str],
    reference: list[str],
    space: PromptSpace,
    by: pd.DataFrame,
    limit: int | None = None,
) -> tuple[float, int, int, float]:
    """Selection-aware test of a peeled group of one topic: how often a random topic neighbourhood of the
    same size, peeled exactly the same way (:func:`_members_inside` at the level of a topic group), keeps
    at least as many members as ``group`` did. Returns (p, neighbourhoods drawn, how many of them kept as
    many, their mean kept).

    Peeling keeps the members most alike in topic and parameters, so the kept members' own similarity is
    no test (it selected them); the number kept is compared with what peeling keeps from neighbourhoods
    of accounts that share a topic without being a campaign: a random account of ``pool`` outside the
    group and g - 1 accounts drawn from its nearest ``ceil(PEEL_SPREAD * g)`` in prompt space. Drawing
    stops once :data:`PEEL_STOP` neighbourhoods kept as many (p = PEEL_STOP / draws) or after ``limit``
    draws (:data:`PEEL_DRAWS` unless the caller needs fewer; p = (1 + count) / (1 + draws)). The generator
    is seeded from the group's account names (a hash independent of the process), so the same log gives
    the same p everywhere.
    """
    g = len(group)
    universe = sorted(set(pool) | set(group))
    pos = {a: i for i, a in enumerate(universe)}
    topic = space.similarity(universe)
    play = playbook_similarity(by.loc[universe].reset_index())
    ref_rows = np.array([pos[a] for a in reference if a in pos])
    z = float(norm.isf(MEMBER_P / g))
    observed = np.array([[pos[a] for a in group]])
    moments = [_reference_moments(m, ref_rows) for m in (topic, play)]  # once for every batch
    kept_obs = int(_peel_batch(observed, topic, play, ref_rows, z, moments)[0])
    inside = set(group)
    outside = np.array([pos[a] for a in universe if a not in inside])
    spread = min(len(outside) - 1, int(np.ceil(PEEL_SPREAD * g)))
    if spread < g - 1:
        return 1.0, 0, 0, 0.0
    # each outside account's nearest outside accounts, most similar first (ties by name order)
    near = topic[np.ix_(outside, outside)].copy()
    np.fill_diagonal(near, -np.inf)
    nearest = outside[np.argsort(-near, axis=1, kind="stable")[:, :spread]]
    rng = names_rng(group)
    counts: list[np.ndarray] = []

    def batches() -> Iterator[np.ndarray]:
        while True:
            seeds = rng.integers(len(outside), size=PEEL_BATCH)
            picks = np.argsort(rng.random((PEEL_BATCH, spread)), axis=1)[:, : g - 1]
            draws = np.concatenate([outside[seeds][:, None], nearest[seeds[:, None], picks]], axis=1)
            counts.append(_peel_batch(draws, topic, play, ref_rows, z, moments))
            yield counts[-1] >= kept_obs

    p, drawn, hits = sequential_p(batches(), PEEL_STOP, PEEL_DRAWS if limit is None else limit)
    return p, drawn, hits, float(np.concatenate(counts)[:drawn].mean())


def _reference_moments(m: np.ndarray, ref_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the reference rows of a similarity matrix, once for every set drawn from it: each
    account's total similarity to the references, the Gram matrix of those similarities, and how many
    reference rows each account is (in float64, so removing a set's own rows loses nothing)."""
    refm = m[ref_rows].astype(float)
    return refm.sum(axis=0), refm.T @ refm, np.bincount(ref_rows, minlength=m.shape[0]).astype(float)


def _set_moments(
    draws: np.ndarray, m: np.ndarray, moments: tuple[np.ndarray, np.ndarray, np.ndarray], n_ref: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each drawn set's similarities within, their diagonal, and the mean and covariance over the
    reference accounts outside the set of its members' similarities: the sums over every reference
    minus the set's own reference rows (at most g rows a set, where the references are hundreds)."""
    colsum, gram, mult = moments
    within = m[draws[:, :, None], draws[:, None, :]].astype(float)
    own = within * mult[draws][:, :, None]
    n_valid = n_ref - mult[draws].sum(axis=1)
    mean = (colsum[draws] - own.sum(axis=1)) / n_valid[:, None]
    second = gram[draws[:, :, None], draws[:, None, :]] - np.matmul(own.transpose(0, 2, 1), within)
    cov = second / n_valid[:, None, None] - mean[:, :, None] * mean[:, None, :]
    return within, np.diagonal(within, axis1=1, axis2=2), mean, cov


def _peel_batch(
    draws: np.ndarray,
    topic: np.ndarray,
    play: np.ndarray,
    ref_rows: np.ndarray,
    z: float,
    moments: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """How many members :func:`_members_inside` keeps of each drawn set (rows of ``draws``, indices into
    ``topic``/``play``), all sets peeled at once: the same standardised similarities (a member's mean
    similarity to the other members left against the reference accounts outside the set), the same
    removal of the member furthest outside, the same stop at :data:`MIN_GROUP` members. ``moments``:
    :func:`_reference_moments` of ``topic`` and ``play`` (computed here when not given)."""
    n_sets, g = draws.shape
    if moments is None:
        moments = [_reference_moments(m, ref_rows) for m in (topic, play)]
    parts = [_set_moments(draws, m, mo, len(ref_rows)) for m, mo in zip((topic, play), moments, strict=True)]
    current = np.ones((n_sets, g), dtype=bool)
    inside = np.ones((n_sets, g), dtype=bool)
    active = np.ones(n_sets, dtype=bool)
    while active.any():
        cur = current.astype(float)
        k = cur.sum(axis=1)
        scores = []
        for within, diag, mean, cov in parts:
            mean_in = (np.matmul(within, cur[:, :, None])[:, :, 0] - diag) / np.maximum(1.0, k - 1)[:, None]
            mu = (mean * cur).sum(axis=1) / k
            var = (np.matmul(cov, cur[:, :, None])[:, :, 0] * cur).sum(axis=1) / k**2
            spread = np.maximum(np.sqrt(np.maximum(var, 0.0)), 1e-3)
            scores.append((mean_in - mu[:, None]) / spread[:, None])
        worst = np.where(current, np.minimum(scores[0], scores[1]), np.inf)
        now_inside = worst > z
        inside = np.where(active[:, None], now_inside, inside)
        done = (now_inside | ~current).all(axis=1) | (k <= MIN_GROUP) | (k < 2)
        drop = active & ~done
        rows = np.flatnonzero(drop)
        current[rows, np.argmin(worst[rows], axis=1)] = False
        active &= ~done
    return (current & inside).sum(axis=1)


@dataclass
class Closeness:
    """Each of ``names``' similarity to the ``members`` (columns, in the given order): topic (cosine in one
    prompt space, clipped to 0..1) and playbook (:func:`communities.playbook_similarity`), with each name's
    volume and whether it is a machine (automation tail at or below ``machine_p``). One all-pairs matrix is
    never built: every account is compared with the members only."""

    topic: np.ndarray
    play: np.ndarray
    volume: np.ndarray
    machine: np.ndarray

    @classmethod
    def of(
        cls,
        names: list[str],
        members: list[str],
        sig: pd.DataFrame,
        samples: dict[str, list[str]],
        vectors: dict[str, np.ndarray] | None,
        machine_p: float = MACHINE_P,
    ) -> Closeness:
        space = PromptSpace.build(names, samples, vectors)
        cross = space.rows(names) @ space.rows(members).T
        topic = np.clip(cross.toarray() if hasattr(cross, "toarray") else np.asarray(cross), 0.0, 1.0)
        by = sig.set_index("account")
        play = playbook_similarity(by.loc[names].reset_index(), by.loc[members].reset_index())
        volume = by.loc[names, "n"].to_numpy(dtype=float)
        automation = by.loc[names, "p_automation"] if "p_automation" in by else pd.Series(1.0, index=names)
        machine = automation.fillna(1.0).to_numpy(dtype=float) <= machine_p
        return cls(topic, play, volume, machine)


def attach(
    singles: list[str],
    campaigns: dict[str, list[str]],
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    pool: list[str],
    min_size: int = MIN_GROUP,
    machine_p: float = MACHINE_P,
    quiet: Collection[str] = (),
    barred: dict[str, Collection[str]] | None = None,
) -> dict[str, str]:
    """Accounts that sit inside one campaign's topics *and* playbook: which campaign each joins.

    ``singles`` are accounts flagged on their own evidence (a campaign member that asks for reasoning
    would otherwise come out as a campaign of one) and accounts doing a part of their own that no
    grouping reached (the caller decides who qualifies). Such an account joins a campaign (of at least
    :data:`MIN_GROUP`) when its mean topic similarity and its mean playbook similarity to the members
    are both in the upper tail of random accounts' similarity to them (level :data:`MEMBER_P`, divided
    by the campaign's size and by the number of campaigns), the stronger of the two also at the level of
    the whole family (:data:`MEMBER_P` divided by twice the number of accounts tried times the number of
    campaigns: every pairing is a test, and either test may carry the family, so the chance that any
    unrelated account joins any campaign stays under :data:`MEMBER_P`), and in both it is
    at least :data:`ATTACH_WAY` of the way from random accounts' similarity to the loosest member's
    similarity to the others, and its volume is within :data:`VOLUME_FACTOR` of the members' range (a
    heavy solo extractor asking the same kind of questions is another operation). The best such
    campaign wins. Returns account -> campaign.

    Machines and people (``p_automation``, the automation tail, at or below ``machine_p``: harvesting round
    the clock or in sessions of hundreds of requests): a machine does not join a campaign none of whose
    members is one (a solo extractor scripted through one session is another operation than accounts that
    keep human hours), and an account busier than the volume range joins only when it is no machine and
    both of its tests pass at the whole family's level (a slow-and-low campaign's busiest members keep
    human hours at 7-8x its typical member's volume; a solo extractor of the same topics at that volume
    is scripted).

    A ``quiet`` account (no evidence of its own: the caller decides) joins only when its topic test passes
    at the whole family's level by itself: its own prompts inside the campaign's topics are then the part it
    does, while parameters alike (answer lengths, max_tokens, reasoning asks) are what an ordinary user of
    the campaign's app shares and must not carry it (development 2105 without three ordinary accounts, with
    split topic groups: an ordinary 15-request account, p_own 0.8, joined on playbook z 5.1, topic z 2.7).
    """
    big = {cid: sorted(ms) for cid, ms in campaigns.items() if len(ms) >= min_size}
    if not singles or not big:
        return {}
    members = sorted({a for ms in big.values() for a in ms})
    reference = [a for a in reference_sample(pool) if a not in set(members) | set(singles)]
    if len(reference) < 2 * MIN_GROUP:
        return {}
    names = sorted(set(singles)) + members + reference
    pos = {a: i for i, a in enumerate(names)}
    col = {a: j for j, a in enumerate(members)}
    near_by = Closeness.of(names, members, sig, samples, vectors, machine_p)
    topic, play, volume, machine = near_by.topic, near_by.play, near_by.volume, near_by.machine
    ref_idx = np.array([pos[a] for a in reference])
    out: dict[str, str] = {}
    best: dict[str, float] = {}
    for cid, ms in big.items():
        idx = np.array([pos[a] for a in ms])
        cols = np.array([col[a] for a in ms])
        low, high = volume[idx].min() / VOLUME_FACTOR, volume[idx].max() * VOLUME_FACTOR
        z = float(norm.isf(MEMBER_P / (len(ms) * len(big))))
        # every (account, campaign) pairing is a test: the stronger of the two tests must also pass at the
        # whole family's level (split between the two tests, so either may carry it)
        z_family = max(z, float(norm.isf(MEMBER_P / (2 * len(singles) * len(big)))))
        bars = []
        for m in (topic, play):
            null = m[np.ix_(ref_idx, cols)].mean(axis=1)
            inner = m[np.ix_(idx, cols)]
            loosest = float(((inner.sum(axis=1) - np.diag(inner)) / max(1, len(idx) - 1)).min())
            near = float(null.mean()) + ATTACH_WAY * (loosest - float(null.mean()))
            bars.append((float(null.mean()), max(float(null.std()), 1e-3), near))
        people = not machine[idx].any()
        for a in singles:
            i = pos[a]
            if barred and a in barred.get(cid, ()):
                continue
            if machine[i] and people:  # a machine is another operation than a campaign of people
                continue
            # a campaign splits its work between accounts at one scale; a busier one joins only as a person
            beyond = not low <= volume[i] <= high
            if beyond and machine[i]:
                continue
            sims = [float(m[i, cols].mean()) for m in (topic, play)]
            if any(s < near for s, (_, _, near) in zip(sims, bars, strict=True)):
                continue  # short of ATTACH_WAY from random accounts to the loosest member
            zs = [(s - mu) / sd for s, (mu, sd, _) in zip(sims, bars, strict=True)]
            weakest = z_family if beyond else z
            carried = zs[0] > z_family if a in quiet else max(zs) > z_family
            if carried and min(zs) > weakest and min(zs) > best.get(a, -np.inf):
                out[a], best[a] = cid, min(zs)
    return out


def campaign_pool(members: list[str], links: Links) -> set[tuple[str, str]]:
    """The addresses at least :data:`CROWDED_CORE` of a campaign's members use: crowded ones
    (``Links.crowded``, above the links' cap) and those under the cap (``Links.shared_values``, the links'
    filter applied to both: an address an account used once or twice is not counted as its)."""
    inside = set(members)
    need = CROWDED_CORE * len(inside)
    out = {v for v, accs in links.crowded.items() if len(accs & inside) >= need}
    counts: Counter[tuple[str, str]] = Counter()
    for a in inside:
        for kind in CROWDED_KINDS:
            counts.update((kind, v) for v in links.shared_values.get(a, {}).get(kind, ()))
    return out | {v for v, c in counts.items() if c >= need}


def pool_users(values: Collection[tuple[str, str]], links: Links, n_by: dict[str, float]) -> list[str]:
    """The accounts sending at least :data:`POOL_THROUGH` of their requests through the addresses ``values``
    (counting every request: ``Links.address_requests``)."""
    chosen = set(values)
    out = []
    for a, used in links.address_requests.items():
        through = sum(used[v] for v in used.keys() & chosen)
        if through >= POOL_THROUGH * max(float(n_by.get(a, 0)), 1.0):
            out.append(a)
    return sorted(out)


def join_pool(
    members: list[str],
    users: list[str],
    candidates: list[str],
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    pool: list[str],
    flagged: Collection[str],
    machine_p: float = MACHINE_P,
) -> list[str]:
    """The ``candidates`` (accounts in no campaign) among a campaign's pool ``users`` that join it.

    A hydra's members send every request through its proxy pool; the pool brought the campaign's core to the
    behaviour tests (:func:`crowded_groups`) or rarer ties grouped it, and the group passed as a whole. A
    member of a few dozen requests cannot pass the member test on its own similarity (its sampled prompts
    on a corner of the campaign's topics, and ordinary accounts' parameters as alike to the script's as its
    own: development log 2812, 40 such members flagged alone and 13 unflagged, every request through the
    pool). Through the pool it joins only when the campaign holds at least :data:`POOL_OWNED` of the pool's
    users (a pool the campaign shares with many others, a commercial VPN's exits, is no evidence), it is of
    the campaign's kind and scale (:func:`attach`'s machine and volume rules), and its behaviour (mean topic
    and playbook similarity to the members, standardised against random reference accounts' as in
    :func:`attach`) is:

    - for an account flagged on its own evidence (``flagged``: only its campaign is decided here): on the
      campaign's side of random accounts in both, and inside at the member level (:data:`MEMBER_P`) in one;
    - for an account not flagged (joining flags it): it does a part of its own (a tied member's condition:
      >= :data:`MIN_REQUESTS` requests, reach of at least the typical account's, its prompts mostly its own),
      its topics are inside at the level of every such account tried (:data:`MEMBER_P` over their number:
      its own prompts on the campaign's topics are the part it does) and its parameters at the member level.

    Must not: join an account that routes most of its traffic elsewhere (a carrier NAT's or a campus's users
    never use a proxy pool), or flag an account on the pool and parameters alone."""
    inside = set(members)
    if not candidates or len(inside & set(users)) < POOL_OWNED * len(users):
        return []
    reference = [a for a in reference_sample(pool) if a not in inside | set(candidates)]
    if len(reference) < 2 * MIN_GROUP:
        return []
    names = sorted(candidates) + sorted(inside) + reference
    cols = sorted(inside)
    near_by = Closeness.of(names, cols, sig, samples, vectors, machine_p)
    volume, machine = near_by.volume, near_by.machine
    ref = np.arange(len(names) - len(reference), len(names))
    zs = []
    for m in (near_by.topic, near_by.play):
        null = m[ref].mean(axis=1)
        zs.append((m.mean(axis=1) - float(null.mean())) / max(float(null.std()), 1e-3))
    rows = sig.set_index("account").loc[names].reset_index()
    own = does_own_part(rows, TIED_MEMBER_SHARED) & (volume >= MIN_REQUESTS)
    member_rows = np.arange(len(candidates), len(candidates) + len(cols))
    low, high = volume[member_rows].min() / VOLUME_FACTOR, volume[member_rows].max() * VOLUME_FACTOR
    people = not machine[member_rows].any()
    z_member = float(norm.isf(MEMBER_P))
    quiet = {i for i, a in enumerate(names[: len(candidates)]) if a not in flagged and own[i]}
    z_topic = float(norm.isf(MEMBER_P / max(1, len(quiet))))
    out = []
    for i, a in enumerate(names[: len(candidates)]):
        if (machine[i] and people) or not low <= volume[i] <= high:
            continue  # another kind or scale of operation (as :func:`attach`)
        zt, zp = float(zs[0][i]), float(zs[1][i])
        if a in flagged:
            ok = min(zt, zp) > 0 and max(zt, zp) > z_member
        else:
            ok = i in quiet and zt > z_topic and zp > z_member
        if ok:
            out.append(a)
    return out


def join_pieces(
    campaigns: dict[str, list[str]],
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    pool: list[str],
    machine_p: float = MACHINE_P,
    pending: Collection[str] = (),
) -> dict[str, str]:
    """Campaigns that are pieces of one operation: each piece -> the campaign it joins (in place of none).

    The grouping cuts one campaign over disjoint slices of its topic space (Louvain modularity splits a
    campaign whose slices share no prompts; topic groups are cut per slice), and each piece passes its own
    tests. Two pieces (of at least :data:`PIECE_MIN` accounts) are one operation when the smaller one's
    members are, on average, (1) as alike in parameters to the larger one's members (answer length,
    max_tokens, reasoning and log-prob rates: :func:`~distillscope.detect.communities.playbook_similarity`)
    as inside: at least :data:`~distillscope.detect.communities.MERGE_RATIO` of the way from random
    accounts up to the looser piece's own members (the share at which two communities are one), and
    beyond random sets of the smaller piece's size drawn from the log's reference accounts, and (2) beyond
    such random sets in topic similarity to the larger piece (one topic space: the slices are disjoint, so
    the topic bar is chance, not the pieces' inside). Both tests are Monte Carlo over random sets (the
    sequential p-value of :func:`peeled_null`, seeded by the pieces' names), at :data:`MEMBER_P`, the
    parameter test Bonferroni over every pairing of pieces and the topic test over the pairings it is put
    to (those passing every other rule: :func:`_best_pair`); and the pieces work at one scale (their median
    volumes within
    :data:`VOLUME_FACTOR`: a group of solo extractors of thousands of requests asking for reasoning is
    another operation than a campaign of people asking a hundred, as for :func:`attach`) and of one kind
    (machines or people: most members' automation tail at or below ``machine_p``, harvesting round the clock
    or in sessions of hundreds of requests, on both sides or on neither: a hydra scripted round the clock
    and a campaign keeping human hours are two operations even on one topic space). The most alike
    pair joins first and the pairs are tested again, until none passes.

    ``pending`` names pieces that are no campaign yet (groups that passed their own test but collect too
    little alone: the caller decides); such a piece may join a campaign (it is then mapped to it whichever is
    larger) but never another pending piece. Must not: flag an account, or join an account that is in no
    campaign or pending piece (a campaign gains a benign member only from a piece that held one)."""
    pieces = {cid: sorted(ms) for cid, ms in campaigns.items() if len(ms) >= PIECE_MIN}
    if len(pieces) < 2:
        return {}
    members = sorted({a for ms in pieces.values() for a in ms})
    reference = [a for a in reference_sample(pool) if a not in set(members)]
    if len(reference) < 2 * MIN_GROUP:
        return {}
    names = members + reference
    space = PromptSpace.build(names, samples, vectors)
    cross = space.rows(names) @ space.rows(members).T
    topic = np.clip(cross.toarray() if hasattr(cross, "toarray") else np.asarray(cross), 0.0, 1.0)
    by = sig.set_index("account")
    play = playbook_similarity(by.loc[names].reset_index(), by.loc[members].reset_index())
    pos = {a: i for i, a in enumerate(names)}  # members' rows and columns coincide
    volume = by.loc[members, "n"].to_numpy(dtype=float)
    automation = by.loc[members, "p_automation"] if "p_automation" in by else pd.Series(1.0, index=members)
    machine = automation.fillna(1.0).to_numpy(dtype=float) <= machine_p
    ref_rows = np.arange(len(members), len(names))
    k = len(pieces)
    level = MEMBER_P / (k * (k - 1) / 2)
    limit = int(np.ceil(PIECE_STOP / level))
    out: dict[str, str] = {}
    waiting = set(pending) & set(pieces)
    while True:
        best = _best_pair(pieces, pos, (topic, play, volume, machine), ref_rows, level, limit, waiting)
        if best is None:
            break
        into, piece = best
        if into in waiting:  # the campaign keeps its name; the pending piece joins it
            into, piece = piece, into
        waiting.discard(piece)
        pieces[into] = sorted(pieces[into] + pieces.pop(piece))
        for old, new in list(out.items()):
            if new == piece:
                out[old] = into
        out[piece] = into
    return out


def _best_pair(
    pieces: dict[str, list[str]],
    pos: dict[str, int],
    sims: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ref_rows: np.ndarray,
    level: float,
    limit: int,
    waiting: Collection[str] = (),
) -> tuple[str, str] | None:
    """The pair of pieces (larger, smaller), not both ``waiting``, that passes :func:`join_pieces`'s tests
    with the most alike parameters across, or None.

    The parameter test is Bonferroni over every pairing (``level``); the topic test only over the pairings
    it is put to: those of one kind and scale whose parameters passed (:func:`_alike_pairs`). The selection
    looks at volumes, machines and parameters, never at topics, and for two unrelated pieces topic and
    parameters are independent (the coordination tests' assumption), so the chance that any unrelated
    pairing passes both stays under :data:`MEMBER_P`."""
    topic = sims[0]
    alike = [
        t for t in _alike_pairs(pieces, pos, sims, ref_rows, level, limit) if not {t[1], t[2]} <= set(waiting)
    ]
    if not alike:
        return None
    topic_level = MEMBER_P / len(alike)
    for _across, into, piece, rows, cols in sorted(alike, key=lambda t: -t[0]):
        names = pieces[into] + pieces[piece]
        if (
            _set_tail(topic, rows, cols, ref_rows, names, int(np.ceil(PIECE_STOP / topic_level)))
            <= topic_level
        ):
            return into, piece
    return None


def _alike_pairs(
    pieces: dict[str, list[str]],
    pos: dict[str, int],
    sims: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ref_rows: np.ndarray,
    level: float,
    limit: int,
) -> list[tuple[float, str, str, np.ndarray, np.ndarray]]:
    """The pairings (across, larger, smaller, its rows, the larger's columns) of one kind and scale whose
    parameters are as alike across as inside (:data:`MERGE_RATIO` of the way) and beyond random sets at
    ``level``."""
    _topic, play, volume, machine = sims
    out = []
    ids = sorted(pieces, key=lambda c: (-len(pieces[c]), c))
    for x, into in enumerate(ids):
        cols = np.array([pos[a] for a in pieces[into]])
        for piece in ids[x + 1 :]:
            rows = np.array([pos[a] for a in pieces[piece]])
            # one operation splits its work between accounts of one kind at one scale (as :func:`attach`)
            kind = (machine[cols].mean() > 0.5) != (machine[rows].mean() > 0.5)
            if kind or not _one_scale(volume[cols], volume[rows]):
                continue
            across = float(play[np.ix_(rows, cols)].mean())
            null = play[np.ix_(ref_rows, cols)].mean(axis=1)
            looser = min(_mean_offdiag(play[np.ix_(cols, cols)]), _mean_offdiag(play[np.ix_(rows, rows)]))
            if across < float(null.mean()) + MERGE_RATIO * (looser - float(null.mean())):
                continue
            if _set_tail(play, rows, cols, ref_rows, pieces[into] + pieces[piece], limit) <= level:
                out.append((across, into, piece, rows, cols))
    return out


def _one_scale(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two pieces' typical (median) volumes are within :data:`VOLUME_FACTOR` of each other."""
    low, high = sorted((float(np.median(a)), float(np.median(b))))
    return high <= VOLUME_FACTOR * max(low, 1.0)


def _set_tail(
    m: np.ndarray, rows: np.ndarray, cols: np.ndarray, ref_rows: np.ndarray, names: list[str], limit: int
) -> float:
    """How often a random set of ``len(rows)`` reference accounts is on average at least as similar to the
    accounts ``cols`` as the accounts ``rows`` are (a sequential Monte Carlo p-value)."""
    observed = float(m[np.ix_(rows, cols)].mean())
    each = m[np.ix_(ref_rows, cols)].mean(axis=1)
    rng = names_rng(names)

    def batches() -> Iterator[np.ndarray]:
        while True:
            draws = rng.integers(len(each), size=(PEEL_BATCH, len(rows)))
            yield each[draws].mean(axis=1) >= observed

    return sequential_p(batches(), PIECE_STOP, limit)[0]
