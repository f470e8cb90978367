"""detlone2: what keeps a tied campaign's accounts out of its largest campaign. Scores a cached log
(detlone/harness.py prep) with the code on PYTHONPATH, captures the coordination round's links and tie groups
(``coord.tie_groups``, ``coord.test_groups`` on ties) and the pool joins' candidates, and prints, for every
account of the style (default hydra) outside its style's largest predicted campaign: requests, own evidence
(p_account), whether it is in the request pool, its tie group (size, style count) and whether the group kept
or peeled it, its tie edges to the campaign's members, its addresses after the links' filter against the
pool's, the share of its requests through the pool, its own-part condition (tied member's), and its topic and
playbook z against the campaign (as ``coord.join_pool`` standardises them).

    PYTHONPATH=$PWD python docs/evidence/detect/detlone2/pieces.py SEED [STYLE]
"""

import collections
import pickle
import sys
from pathlib import Path

import numpy as np

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.communities import playbook_similarity
from distillscope.detect.evaluation import load_labels
from distillscope.detect.signals import samples_by_account

ROOT = Path("runs")


def _capture(tables: dict) -> tuple[object, dict]:
    seen: dict = {"links": None, "ties": [], "tested": []}
    real_ties, real_test = coord.tie_groups, coord.test_groups

    def ties(links, accounts):
        seen["links"] = links
        out = real_ties(links, accounts)
        seen["ties"] = out
        return out

    def test(groups, *a, **k):
        out = real_test(groups, *a, **k)
        if k.get("grouped_on", "ties") == "ties" and groups is seen["ties"]:
            seen["tested"], seen["space"], seen["population"] = out, a[1], k.get("population")
        return out

    scoring.coord.tie_groups, scoring.coord.test_groups = ties, test
    try:
        s = scoring.score(tables)
    finally:
        scoring.coord.tie_groups, scoring.coord.test_groups = real_ties, real_test
    return s, seen


def _round_zs(g, seen: dict, sig) -> dict[str, tuple[float, float]]:
    """Topic and playbook z of the tie group's accounts against the members it kept, in the round's own prompt
    space and reference (as ``coord._members_inside`` judges them once peeling has stopped)."""
    ref = [a for a in coord.reference_sample(seen["population"]) if a not in set(g.tied)]
    names = list(g.tied) + ref
    kept = [names.index(a) for a in g.members]
    refs = np.arange(len(g.tied), len(names))
    out = []
    for m in (seen["space"].similarity(names), playbook_similarity(sig.loc[names].reset_index())):
        block = m[:, kept]
        self_in = np.isin(np.arange(len(names)), kept)
        mean = (
            block.sum(axis=1) - np.where(self_in, m[np.arange(len(names)), np.arange(len(names))], 0.0)
        ) / (len(kept) - self_in.astype(float))
        null = m[np.ix_(refs, kept)].mean(axis=1)
        out.append((mean - null.mean()) / max(float(null.std()), 1e-3))
    return {a: (round(float(out[0][i]), 2), round(float(out[1][i]), 2)) for i, a in enumerate(g.tied)}


def _zs(members: list[str], names: list[str], s, tables: dict) -> dict[str, tuple[float, float]]:
    """Topic and playbook z of ``names`` against ``members`` (reference accounts as in join_pool)."""
    pool = coord.request_pool(s.signals)
    reference = [a for a in coord.reference_sample(pool) if a not in set(members) | set(names)]
    rows = names + sorted(members) + reference
    near = coord.Closeness.of(rows, sorted(members), s.signals, samples_by_account(tables), None)
    ref = np.arange(len(rows) - len(reference), len(rows))
    out = []
    for m in (near.topic, near.play):
        null = m[ref].mean(axis=1)
        out.append((m.mean(axis=1) - null.mean()) / max(float(null.std()), 1e-3))
    return {a: (round(float(out[0][i]), 2), round(float(out[1][i]), 2)) for i, a in enumerate(names)}


def main(seed: int, style: str) -> None:
    with open(ROOT / "cache" / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")
    s, seen = _capture(tables)
    sig = s.signals.set_index("account")
    acc = {a["account"]: a for a in s.accounts}
    st = {a: lab.get("style") for a, lab in labels.items()}
    mine = [a for a in acc if st.get(a) == style]
    camps = collections.Counter(acc[a]["campaign"] for a in mine if acc[a]["flagged"])
    cid = camps.most_common(1)[0][0]
    members = [a for a in acc if acc[a]["campaign"] == cid]
    links = seen["links"]
    pool_values = coord.campaign_pool(members, links)
    in_pool = set(coord.request_pool(s.signals))
    group_of = {a: (i, g) for i, g in enumerate(seen["tested"]) for a in g.tied}
    print(
        f"style {style}: {len(mine)} accounts; campaigns {camps.most_common(4)}; unflagged",
        sum(not acc[a]["flagged"] for a in mine),
        "; pool",
        len(pool_values),
        "addresses",
    )
    for i, g in enumerate(seen["tested"]):
        kinds = collections.Counter(st.get(a) for a in g.tied)
        if kinds.get(style):
            print(
                f"tie group {i}: {len(g.tied)} tied {dict(kinds)}, kept {len(g.members)}, "
                f"p_topic {g.p_topic:.2g} p_play {g.p_playbook:.2g}"
            )
    out = [a for a in mine if acc[a]["campaign"] != cid]
    zs = _zs(members, out, s, tables)
    g = max(seen["tested"], key=lambda x: sum(st.get(a) == style for a in x.tied))
    rz = _round_zs(g, seen, sig)
    bar, bar_params = (
        float(coord.norm.isf(coord.MEMBER_P)),
        float(coord.norm.isf(coord.MEMBER_P / len(g.tied))),
    )
    kept_z = np.array([rz[a] for a in g.members])
    print(
        f"round bars: z {bar:.2f} (both), parameters alone {bar_params:.2f}; kept members' z topic min "
        f"{kept_z[:, 0].min():.2f} median {np.median(kept_z[:, 0]):.2f}, "
        f"playbook min {kept_z[:, 1].min():.2f} max {kept_z[:, 1].max():.2f}"
    )
    own_part = coord.does_own_part(sig.loc[out].reset_index(), coord.TIED_MEMBER_SHARED)
    own = dict(zip(out, own_part, strict=True))
    print(
        "account n flagged p_account in_pool tie_group kept ties_to_members addrs_in_pool/addrs through "
        "own_part p_reach_log shared z_topic z_play round_z_topic round_z_play"
    )
    for a in sorted(out, key=lambda x: (acc[x]["flagged"], sig.loc[x, "n"])):
        n = float(sig.loc[a, "n"])
        used = links.address_requests.get(a, {})
        through = sum(c for v, c in used.items() if v in pool_values) / max(n, 1.0)
        mine_vals = {(k, v) for k in coord.CROWDED_KINDS for v in links.shared_values.get(a, {}).get(k, ())}
        gi, g = group_of.get(a, (None, None))
        ties = sum(coord.tied_to(a, {m}, links) for m in members)
        print(
            a,
            int(n),
            acc[a]["flagged"],
            f"{float(sig.loc[a, 'p_account']):.2g}",
            a in in_pool,
            "-" if g is None else f"{gi}({len(g.tied)})",
            "-" if g is None else a in g.members,
            ties,
            f"{len(mine_vals & pool_values)}/{len(mine_vals)}",
            round(through, 2),
            bool(own[a]),
            round(float(sig.loc[a, "p_reach_log"]), 3),
            round(float(sig.loc[a, "shared_prompts"] / max(1, sig.loc[a, "distinct_prompts"])), 2),
            *zs[a],
            *rz.get(a, ("-", "-")),
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "hydra")
