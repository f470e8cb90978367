"""Pairwise evidence between accounts: shared prompt templates, shared infrastructure, synchronised timing.

- Templates: each account's repeated normalised prompts and a sample of its
  prompts are MinHashed over word 3-shingles (:mod:`distillscope.textsig`);
  MinHash-LSH groups near-duplicates into template clusters, so slot-filled
  variants match. Two accounts for which one cluster holds >= 30% of their
  traffic share a template.
- Infrastructure: IPs, /24 (or /48) ranges, user agents and payment ids shared
  by 2..cap accounts of the whole log (an organisation is one customer and never
  links accounts). A value's weight falls with how many
  accounts use it, and values used by more than ``cap`` accounts (a carrier NAT,
  a browser's user agent) carry none. A payment id marks one customer: it is a
  weak link like the others, never a campaign by itself. The accounts of each
  crowded IP (used by more than ``cap``) are kept aside (``Links.crowded``): a
  proxy pool looks like a carrier NAT, and only a behaviour test may tell them
  apart (:func:`distillscope.detect.coordination.crowded_groups`); they never link.
  Each account's requests per address, crowded or not, are counted
  (``Links.address_requests``): where its traffic goes, for a campaign's pool.
- Timing: accounts whose sets of active 10-minute bins overlap (Jaccard >= 0.35,
  candidates from MinHash-LSH).

Links are computed among the accounts asked for (the detector's candidates) and
returned per pair; grouping is :mod:`distillscope.detect.communities`' job, and
infrastructure may only strengthen an edge that behaviour supports. This module
decides links only, never scores.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from distillscope import textsig

NUM_PERM = textsig.NUM_PERM
TEMPLATE_JACCARD = 0.5
TIMING_JACCARD = 0.35
WEAK_LINK_THRESHOLD = 0.8
MIN_TEMPLATE_WORDS = 6
SAMPLES_FOR_TEMPLATES = 8
#: An account joins a template cluster's link when the cluster holds this share of its traffic.
TEMPLATE_SHARE = 0.3
KIND_WEIGHT = {"ip": 0.35, "ip24": 0.3, "ua": 0.25, "payment": 0.3}
KIND_MAX = {"ip": 0.7, "ip24": 0.45, "ua": 0.25, "payment": 0.3, "timing": 0.5}
#: Kinds of value whose crowded values (above the cap) are kept aside as candidate groups: addresses only
#: (a crowded user agent is a browser's, a crowded range a provider's).
CROWDED_KINDS = ("ip",)


@dataclass
class Links:
    """The links found, per account, and the groups (connected components) they make."""

    groups: list[list[str]]
    pair_weight: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # (a, b) -> kind -> w
    partners: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # account -> kind -> accounts
    template_cluster_size: dict[str, int] = field(default_factory=dict)  # account -> largest shared cluster
    cluster_signatures: dict[int, list[int]] = field(default_factory=dict)
    account_clusters: dict[str, set[int]] = field(default_factory=dict)
    shared_values: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # account -> kind -> values
    value_accounts: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, value) -> accounts
    # (kind, value) -> the accounts asked for that use a value of CROWDED_KINDS used by more than the cap
    crowded: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # account -> its requests through each address (CROWDED_KINDS), crowded or not (every request, none
    # filtered out): where it sends them
    address_requests: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)

    def link_kinds(self, account: str) -> dict[str, int]:
        return {kind: len(others) for kind, others in self.partners.get(account, {}).items() if others}


def lsh_pairs(signatures: np.ndarray, threshold: float, bands: int = 16) -> list[tuple[int, int]]:
    """Candidate pairs by MinHash-LSH banding, kept when their estimated Jaccard >= threshold.

    ``signatures`` is (items x num_perm) of datasketch MinHash values. Items that agree
    on every value of one band share a bucket. Small buckets are checked pairwise;
    a large bucket against its first member only (a star: enough for components).
    Banding in numpy rather than ``MinHashLSH`` keeps a million-row log fast.
    """
    n, num_perm = signatures.shape
    if n < 2:
        return []
    rows = num_perm // bands
    seen: set[tuple[int, int]] = set()
    out = []
    for band in range(bands):
        block = np.ascontiguousarray(signatures[:, band * rows : (band + 1) * rows])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * rows))).ravel()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], n]
        for start, end in zip(starts, ends, strict=True):
            if end - start < 2:
                continue
            members = np.sort(order[start:end])
            pivots = members if len(members) <= 50 else members[:1]
            for i in pivots:
                for j in members:
                    if j <= i:
                        continue
                    pair = (int(i), int(j))
                    if pair in seen:
                        continue
                    seen.add(pair)
                    if np.mean(signatures[pair[0]] == signatures[pair[1]]) >= threshold:
                        out.append(pair)
    return out


def minhash_signatures(token_sets: list[list[str]]) -> np.ndarray:
    """MinHash signatures (items x NUM_PERM) with textsig's settings and process-independent hash."""
    return textsig.minhash_signatures(token_sets, NUM_PERM)


def template_clusters(
    top: pd.DataFrame, samples: pd.DataFrame, n_by_account: dict[str, float]
) -> tuple[dict[str, dict[int, float]], dict[int, list[int]]]:
    """Account -> {template cluster: share of its traffic}, and one MinHash signature per cluster.

    Instances are the account's exact repeats (share = count / volume) and its
    sampled prompts (share = 1 / samples), normalised; MinHash-LSH joins
    near-duplicates, so slot-filled variants land in one cluster.
    """
    inst: dict[tuple[str, str], float] = defaultdict(float)
    hits: dict[tuple[str, str], int] = defaultdict(int)
    if not top.empty:
        for account, tmpl, words, cnt in top[["account", "tmpl", "words", "cnt"]].itertuples(index=False):
            if cnt >= 3 and words >= MIN_TEMPLATE_WORDS:
                key = (account, tmpl)
                inst[key] = max(inst[key], float(cnt) / n_by_account[account])
                hits[key] = max(hits[key], int(cnt))
    sample_share: dict[tuple[str, str], float] = defaultdict(float)
    sample_hits: dict[tuple[str, str], int] = defaultdict(int)
    if not samples.empty:
        for account, texts in samples.groupby("account", sort=True)["sample_text"]:
            chosen = [textsig.normalise_prompt(t) for t in texts.tolist()[:SAMPLES_FOR_TEMPLATES]]
            for text in chosen:
                if len(text.split()) >= MIN_TEMPLATE_WORDS:
                    sample_share[(account, text)] += 1.0 / len(chosen)
                    sample_hits[(account, text)] += 1
    for key, share in sample_share.items():
        inst[key] = max(inst.get(key, 0.0), share)
        hits[key] = max(hits[key], sample_hits[key])
    templates = sorted({t for _, t in inst})
    if not templates:
        return {}, {}
    matrix = minhash_signatures([textsig.shingles(t) for t in templates])
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs = np.array(lsh_pairs(matrix, TEMPLATE_JACCARD), dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(templates),) * 2)
    _, label = connected_components(graph, directed=False)
    first = {}
    for i, lab in enumerate(label):
        first.setdefault(int(lab), i)
    cluster_of = {t: first[int(label[i])] for i, t in enumerate(templates)}
    out: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    count: dict[tuple[str, int], int] = defaultdict(int)
    for (account, tmpl), share in inst.items():
        out[account][cluster_of[tmpl]] += share
        count[(account, cluster_of[tmpl])] += hits[(account, tmpl)]
    # one prompt is no template: a cluster needs two or more of the account's prompts
    for (account, cid), c in count.items():
        if c < 2:
            out[account][cid] = 0.0
    signatures = {
        cid: [int(x) for x in matrix[i]]
        for i, (t, cid) in enumerate(cluster_of.items())
        if t == templates[cid]
    }
    return {a: {c: min(1.0, s) for c, s in d.items()} for a, d in out.items()}, signatures


def _rarity(m: int, population: int) -> float:
    """1 for a value two accounts share, falling towards 0 as more of the population shares it."""
    return max(0.0, 1.0 - math.log(m) / math.log(max(population, m + 1, 3)))


def build_links(
    accounts: list[str],
    n_by_account: dict[str, float],
    top_templates: pd.DataFrame,
    samples: pd.DataFrame,
    infra: pd.DataFrame,
    bins: pd.DataFrame,
    cap: int | None = None,
    population: int | None = None,
) -> Links:
    """Pairwise links among ``accounts`` (templates, infrastructure, timing); no grouping.

    Infrastructure values are counted over the whole log (``infra``), so a value's
    rarity is the log's, but pairs are only formed among ``accounts``.
    """
    population = population or len(n_by_account)
    cap = cap or max(100, int(0.02 * population))
    chosen = set(accounts)
    links = Links(groups=[])

    # 1. template clusters
    top = top_templates[top_templates["account"].isin(chosen)] if not top_templates.empty else top_templates
    smp = samples[samples["account"].isin(chosen)] if not samples.empty else samples
    shares, signatures = template_clusters(top, smp, n_by_account)
    account_clusters = {a: {c for c, s in d.items() if s >= TEMPLATE_SHARE} for a, d in shares.items()}
    members: dict[int, list[str]] = defaultdict(list)
    for account, cids in account_clusters.items():
        for cid in cids:
            members[cid].append(account)
    pair_weight: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for accs in members.values():
        if len(accs) < 2:
            continue
        accs.sort()
        for i, a in enumerate(accs):
            links.template_cluster_size[a] = max(links.template_cluster_size.get(a, 0), len(accs))
            for b in accs[i + 1 :]:
                pair_weight[(a, b)]["template"] = 1.0
    links.cluster_signatures = {cid: sig for cid, sig in signatures.items() if len(members.get(cid, [])) >= 2}
    links.account_clusters = {
        a: {c for c in cids if len(members[c]) >= 2} for a, cids in account_clusters.items()
    }

    # 2. infrastructure: rarity-weighted shared values (a payment id marks one customer: a weak link)
    if not infra.empty:
        inf = infra.copy()
        inf["share"] = inf["cnt"] / inf["account"].map(n_by_account)
        inf = inf[(inf["cnt"] >= 3) | (inf["share"] >= 0.05)]
        # one set per value from groupby's aggregation: a sub-frame per value cost a second per 100k rows
        for (kind, value), everyone in inf.groupby(["kind", "value"], sort=True)["account"].agg(set).items():
            m = len(everyone)
            links.value_accounts[(kind, value)] = m
            accs = sorted(everyone & chosen)
            if kind == "org":  # one organisation is one customer: never a link between its accounts
                continue
            if m > cap and kind in CROWDED_KINDS and len(accs) >= 2:
                links.crowded[(kind, value)] = frozenset(accs)
            if m < 2 or m > cap or len(accs) < 2:
                continue
            w = KIND_WEIGHT.get(kind, 0.2) * _rarity(m, population)
            for i, a in enumerate(accs):
                links.shared_values.setdefault(a, {}).setdefault(kind, set()).add(value)
                for b in accs[i + 1 :]:
                    pair_weight[(a, b)][kind] += w

    if not infra.empty:
        _count_address_requests(links, infra, chosen)

    # 3. synchronised timing
    if not bins.empty:
        for (a, b), j in _timing_pairs(bins[bins["account"].isin(chosen)]).items():
            pair_weight[(a, b)]["timing"] += KIND_MAX["timing"] * min(1.0, (j - 0.2) / 0.4)

    for (a, b), kinds in pair_weight.items():
        for kind, w in kinds.items():
            if w > 0:
                links.partners.setdefault(a, {}).setdefault(kind, set()).add(b)
                links.partners.setdefault(b, {}).setdefault(kind, set()).add(a)
    links.pair_weight = {pair: dict(k) for pair, k in pair_weight.items()}
    return links


def _count_address_requests(links: Links, infra: pd.DataFrame, chosen: set[str]) -> None:
    """Each chosen account's requests through every address (:data:`CROWDED_KINDS`) it used, crowded or not
    (``Links.address_requests``), the rarely used ones included (a hydra member of 40 requests over a pool of
    25 addresses uses each once or twice: under the links' filter, but all of its traffic goes through the
    pool)."""
    rows = infra[infra["kind"].isin(CROWDED_KINDS) & infra["account"].isin(chosen)]
    for account, kind, value, cnt in zip(
        rows["account"], rows["kind"], rows["value"], rows["cnt"], strict=True
    ):
        links.address_requests.setdefault(account, {})[(kind, value)] = int(cnt)


def infra_strength(kinds: dict[str, float]) -> float:
    """0..1: how strongly shared infrastructure and timing tie a pair (each kind capped)."""
    return min(1.0, sum(min(w, KIND_MAX.get(k, w)) for k, w in kinds.items() if k != "template"))


def _timing_pairs(bins: pd.DataFrame, min_bins: int = 6) -> dict[tuple[str, str], float]:
    """Pairs of accounts whose active 10-minute bins overlap by Jaccard >= TIMING_JACCARD."""
    if bins.empty:
        return {}
    sets = {a: set(g.tolist()) for a, g in bins.groupby("account", sort=True)["bin"]}
    sets = {a: s for a, s in sets.items() if len(s) >= min_bins}
    if len(sets) < 2:
        return {}
    keys = sorted(sets)
    matrix = minhash_signatures([[str(b) for b in sorted(sets[k])] for k in keys])
    out: dict[tuple[str, str], float] = {}
    for i, j in lsh_pairs(matrix, TIMING_JACCARD * 0.8):
        a, b = sets[keys[i]], sets[keys[j]]
        jac = len(a & b) / len(a | b)
        if jac >= TIMING_JACCARD:
            out[(keys[i], keys[j])] = jac
    return out
