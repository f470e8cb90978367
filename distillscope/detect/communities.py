"""Campaigns as communities of a weighted behavioural-similarity graph (Louvain, networkx).

Nodes are the detector's candidate accounts (own harvest or content evidence).
An edge needs *behavioural* similarity, the same extraction playbook:

- topic: cosine similarity of the accounts' sampled prompts (TF-IDF of
  character 3-5-grams over the candidates, or MiniLM centroids when embeddings
  are on), turned into a percentile among all candidate pairs;
- parameters and answers: answer length, the max_tokens asked, chain-of-thought
  and log-prob rates;
- a shared prompt template (MinHash-LSH cluster) or synchronised timing.

Shared infrastructure (rare IPs, ranges, user agents, payment ids) only raises
the weight of an edge that behaviour already supports; it never makes one.
Accounts that are individually extraordinary already stand as campaigns of one,
so they join others only through a template, infrastructure or timing link with
behaviour that supports it: the same topics and playbook, or a shared template
with the same playbook (two extractors that use one popular instruction
template for different kinds of answers are not one operation).
Communities come from Louvain modularity (``networkx.community.louvain_communities``,
fixed seed), then two repairs of what modularity does to one operation:
communities that are as alike across as inside (mean behaviour across at least
:data:`MERGE_RATIO` of the tighter one's inside) are one community (modularity
splits a campaign whose members cover disjoint slices of one topic space), and
a member that is not inside its community (its mean behavioural similarity to
the others short of :data:`FIT_WAY` of the way from random candidates' to the
typical member's) leaves it (Louvain puts every node somewhere, and a node
with a few edges into a campaign lands in it). Each community gets its evidence
of coordination: cohesion against random candidate sets of the same size (a
tail probability), and the share of prompts its members ask verbatim in common
(a class or a public benchmark shares prompts; a campaign splitting one topic
space does not), beside the share random sets of the same size from the log's
other accounts ask in common (:func:`chance_share`: the share grows with the
number of accounts, whoever they are).

This module groups and measures; it must not score accounts or read logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from distillscope.detect.linkage import Links, infra_strength

TOPIC_PERCENTILE = 0.9
PLAYBOOK_MIN = 0.7
EDGE_MIN = 0.55
#: Two communities are one when their mean behaviour across reaches this share of the tighter one's inside.
MERGE_RATIO = 0.9
#: A member stays when its mean similarity to the others is at least this share of the way from random
#: candidates' mean similarity to the members up to the typical (median) member's.
FIT_WAY = 1 / 3
NULL_DRAWS = 200
SEED = 0
#: Random sets drawn for the share of prompts that accounts of a group's size ask in common by chance.
CHANCE_DRAWS = 30


@dataclass
class Community:
    """One community of the graph and the evidence that its members act together."""

    members: list[str]
    cohesion: float  # mean pairwise behavioural similarity inside
    cohesion_p: float  # tail probability of that cohesion among random candidate sets of this size
    duplicate_share: float  # share of sampled prompts asked verbatim by two or more members
    edges: int
    infra_edges: int
    kinds: dict[str, int] = field(default_factory=dict)


def topic_similarity(docs: list[str], vectors: np.ndarray | None = None) -> np.ndarray:
    """Pairwise cosine similarity of the accounts' prompt samples (embedding centroids if given)."""
    if vectors is not None:
        v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        return np.clip(v @ v.T, 0.0, 1.0)
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(d.strip() for d in docs):
        return np.zeros((len(docs), len(docs)))
    tfidf = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1, max_features=50000
    )
    m = tfidf.fit_transform([d.lower() for d in docs])
    return np.clip((m @ m.T).toarray(), 0.0, 1.0)


def playbook_similarity(sig: pd.DataFrame, other: pd.DataFrame | None = None) -> np.ndarray:
    """0..1 agreement of answer length, max_tokens asked, CoT and log-prob rates: every row of ``sig``
    against every row of ``other`` (default: ``sig`` itself, pairwise)."""
    other = sig if other is None else other

    def cols(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        return tuple(
            frame[c].to_numpy(dtype=float) for c in ("answer_len", "mean_max_tokens", "cot_rate", "lp_rate")
        )

    (length, mt, cot, lp), (length2, mt2, cot2, lp2) = cols(sig), cols(other)
    s_len = np.exp(-np.abs(length[:, None] - length2[None, :]) / 0.35)
    both_nan = np.isnan(mt[:, None]) & np.isnan(mt2[None, :])
    with np.errstate(invalid="ignore"):
        same = np.abs(mt[:, None] - mt2[None, :]) <= 0.02 * np.maximum(mt[:, None], mt2[None, :])
    s_mt = np.where(both_nan, 0.5, np.where(same, 1.0, 0.0))
    s_cot = 1.0 - np.minimum(1.0, np.abs(cot[:, None] - cot2[None, :]) / 0.5)
    s_lp = 1.0 - np.minimum(1.0, np.abs(lp[:, None] - lp2[None, :]))
    return 0.35 * s_len + 0.25 * s_mt + 0.25 * s_cot + 0.15 * s_lp


def _verbatim(text: str) -> str:
    return " ".join(text.lower().split())[:120]


def duplicate_share(members: list[str], samples: dict[str, list[str]]) -> float:
    """Share of the members' sampled prompts that two or more members ask verbatim."""
    owners: dict[str, set[str]] = {}
    total = 0
    for a in members:
        for t in {_verbatim(t) for t in samples.get(a, []) if t.strip()}:
            owners.setdefault(t, set()).add(a)
            total += 1
    if not total:
        return 0.0
    return sum(len(o) for o in owners.values() if len(o) >= 2) / total


def chance_share(members: list[str], samples: dict[str, list[str]], population: list[str]) -> float:
    """Median :func:`duplicate_share` of :data:`CHANCE_DRAWS` random sets of ``len(members)`` accounts drawn
    from ``population`` outside ``members`` (seeded): what that many of the log's accounts ask verbatim in
    common by chance (popular questions; collisions grow with the number of accounts). The median, the
    typical set: of a few accounts most sets share nothing and a few share popular questions."""
    inside = set(members)
    others = sorted(a for a in population if a not in inside)
    k = min(len(members), len(others))
    if k < 2:
        return 0.0
    rng = np.random.default_rng(SEED)
    draws = [rng.choice(len(others), size=k, replace=False) for _ in range(CHANCE_DRAWS)]
    return float(np.median([duplicate_share([others[i] for i in d], samples) for d in draws]))


def excess_share(share: float, chance: float) -> float:
    """The share of prompts asked in common beyond chance, of those chance leaves unshared (Cohen's kappa
    form): 0 at the chance level, ``share`` itself when chance shares nothing."""
    return (share - chance) / (1.0 - chance) if chance < 1.0 else 0.0


def _mean_offdiag(m: np.ndarray) -> float:
    k = len(m)
    return float((m.sum() - np.trace(m)) / max(1, k * (k - 1)))


def merge_alike(groups: list[list[str]], behaviour: np.ndarray, index: dict[str, int]) -> list[list[str]]:
    """Merge communities (of two or more) whose mean behaviour across reaches :data:`MERGE_RATIO` of the
    tighter one's mean inside, most alike pair first, until no pair qualifies."""
    groups = [list(g) for g in groups]
    while True:
        big = [i for i, g in enumerate(groups) if len(g) >= 2]
        inside = {i: _mean_offdiag(behaviour[np.ix_(*(2 * [[index[a] for a in groups[i]]]))]) for i in big}
        best, pair = MERGE_RATIO, None
        for x, i in enumerate(big):
            gi = [index[a] for a in groups[i]]
            for j in big[x + 1 :]:
                gj = [index[a] for a in groups[j]]
                ratio = float(behaviour[np.ix_(gi, gj)].mean()) / max(inside[i], inside[j], 1e-9)
                if ratio >= best:
                    best, pair = ratio, (i, j)
        if pair is None:
            return groups
        i, j = pair
        groups[i] = sorted(groups[i] + groups[j])
        del groups[j]


def members_inside(members: list[str], behaviour: np.ndarray, index: dict[str, int]) -> list[str]:
    """The members inside their community: mean behavioural similarity to the other members at least
    :data:`FIT_WAY` of the way from the candidates outside's mean similarity to the members up to the
    median member's. Communities of fewer than three are kept as they are (no typical member)."""
    if len(members) < 3:
        return members
    idx = np.array([index[a] for a in members])
    outside = np.setdiff1d(np.arange(len(behaviour)), idx)
    if len(outside) == 0:
        return members
    inner = behaviour[np.ix_(idx, idx)]
    fit = (inner.sum(axis=1) - np.diag(inner)) / (len(idx) - 1)
    null = float(behaviour[np.ix_(outside, idx)].mean())
    bar = null + FIT_WAY * (float(np.median(fit)) - null)
    return [a for a, f in zip(members, fit, strict=True) if f >= bar]


def find_communities(
    sig: pd.DataFrame,
    candidates: list[str],
    solo: set[str],
    samples: dict[str, list[str]],
    links: Links,
    vectors: dict[str, np.ndarray] | None = None,
) -> list[Community]:
    """Louvain communities (size >= 2) of the candidates' behavioural graph, with their cohesion evidence."""
    import networkx as nx

    if len(candidates) < 2:
        return []
    sub = sig.set_index("account").loc[candidates].reset_index()
    docs = [" \n".join(samples.get(a, [])) for a in candidates]
    vec = None
    if vectors is not None and all(a in vectors for a in candidates):
        vec = np.stack([vectors[a] for a in candidates])
    topic = topic_similarity(docs, vec)
    k = len(candidates)
    iu = np.triu_indices(k, 1)
    ranks = pd.Series(topic[iu]).rank(pct=True).to_numpy()
    topic_pct = np.zeros((k, k))
    topic_pct[iu] = ranks
    topic_pct = topic_pct + topic_pct.T
    play = playbook_similarity(sub)
    behaviour = 0.5 * topic_pct + 0.5 * play
    index = {a: i for i, a in enumerate(candidates)}
    graph = nx.Graph()
    graph.add_nodes_from(candidates)
    for i, j in zip(*iu, strict=True):
        a, b = candidates[i], candidates[j]
        kinds = links.pair_weight.get((a, b)) or links.pair_weight.get((b, a)) or {}
        template = kinds.get("template", 0.0) > 0
        infra = infra_strength(kinds)
        behavioural = topic_pct[i, j] >= TOPIC_PERCENTILE and play[i, j] >= PLAYBOOK_MIN
        linked = template or kinds.get("timing", 0.0) > 0 or infra >= 0.3
        if a in solo or b in solo:
            ok = (behavioural or (template and play[i, j] >= PLAYBOOK_MIN)) and linked
        else:
            ok = behavioural or (template and play[i, j] >= 0.5) or (linked and play[i, j] >= PLAYBOOK_MIN)
        if ok and behaviour[i, j] >= EDGE_MIN * (0.8 if linked else 1.0):
            graph.add_edge(
                a, b, weight=float(behaviour[i, j] * (1.0 + infra)), infra=infra > 0, template=template
            )
    groups = nx.community.louvain_communities(graph, weight="weight", seed=SEED)
    groups = [set(g) for g in merge_alike([sorted(g) for g in groups], behaviour, index)]
    groups = [set(g) for g in (members_inside(sorted(g), behaviour, index) for g in groups) if len(g) >= 2]
    rng = np.random.default_rng(SEED)
    out = []
    for group in groups:
        members = sorted(group)
        if len(members) < 2:
            continue
        idx = np.array([index[a] for a in members])
        cohesion = float(behaviour[np.ix_(idx, idx)][np.triu_indices(len(idx), 1)].mean())
        null = []
        for _ in range(NULL_DRAWS):
            draw = rng.choice(k, size=len(idx), replace=False)
            null.append(behaviour[np.ix_(draw, draw)][np.triu_indices(len(draw), 1)].mean())
        null_arr = np.array(null)
        spread = max(float(null_arr.std()), 1e-3)
        p = float(norm.sf((cohesion - float(null_arr.mean())) / spread))
        edges = graph.subgraph(members).edges(data=True)
        kinds: dict[str, int] = {}
        for a in members:
            for kind, others in links.partners.get(a, {}).items():
                kinds[kind] = kinds.get(kind, 0) + len(others & group)
        out.append(
            Community(
                members=members,
                cohesion=cohesion,
                cohesion_p=max(p, 1e-16),
                duplicate_share=duplicate_share(members, samples),
                edges=len(edges),
                infra_edges=sum(1 for _, _, d in edges if d["infra"]),
                kinds={kk: v // 2 for kk, v in kinds.items() if v},
            )
        )
    return sorted(out, key=lambda c: (-len(c.members), c.members[0]))
