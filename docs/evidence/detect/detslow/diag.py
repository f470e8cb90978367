"""detslow diagnostic: score cached tables (runs/cache/NAME.pkl from harness.py prep) and, for every topic
group of the selection-aware round holding slow-and-low members, print each account's standardised topic and
parameter similarity to the group (as _members_inside computes them, against the reference without the passing
groups, as _members_apart judges them), whether it is kept and flagged; then, per group, the bound of the
parameter z (an exact match against the reference) beside the member bar isf(0.05 / size).
Usage: diag.py NAME > diag_NAME.txt. It reads labels; the detector never does."""

import pickle
import sys

import numpy as np
from scipy.stats import norm

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.communities import playbook_similarity
from distillscope.detect.evaluation import load_labels


def zscores(group: list[str], ref: list[str], space, by) -> list[np.ndarray]:
    names = group + [a for a in ref if a not in set(group)]
    k = len(group)
    ridx = np.arange(k, len(names))
    out = []
    for m in (space.similarity(names), playbook_similarity(by.loc[names].reset_index())):
        blk = m[:k, :k]
        mean_in = (blk.sum(1) - np.diag(blk)) / (k - 1)
        null = m[np.ix_(ridx, np.arange(k))].mean(1)
        out.append((mean_in - null.mean()) / null.std())
    return out


def main(name: str) -> None:
    with open(f"runs/cache/{name}.pkl", "rb") as f:
        tables = pickle.load(f)
    labels = load_labels(f"runs/cache/{name}.labels.jsonl")
    st = {a: lab["style"] for a, lab in labels.items()}
    cap: dict = {}
    orig = coord.test_groups

    def spy(groups, sig, space, grouped_on="ties", population=None, select_level=None):
        out = orig(
            groups, sig, space, grouped_on=grouped_on, population=population, select_level=select_level
        )
        if grouped_on == "topic" and select_level is not None:
            cap.update(groups=groups, sig=sig, space=space, pool=population, out=out, level=select_level)
        return out

    scoring.coord.test_groups = spy
    scored = scoring.score(tables)
    sig, space, pool, out = cap["sig"], cap["space"], cap["pool"], cap["out"]
    by = sig.set_index("account")
    reference = coord.reference_sample(pool)
    passing = [g for g in out if g.p_playbook <= cap["level"]]
    ref = [a for a in reference if a not in {a for g in passing for a in g.tied}]
    flagged = {a["account"]: a["flagged"] for a in scored.accounts}
    print(
        "pool",
        len(pool),
        "reference",
        len(reference),
        "without passing groups",
        len(ref),
        "passing",
        len(passing),
    )
    grouped = {a for g in cap["groups"] for a in g}
    outside = [a for a in st if st[a] == "slow_and_low" and a not in grouped]
    print(
        "slow-and-low in no topic group:", len(outside), "in the pool:", sum(a in set(pool) for a in outside)
    )
    for g in out:
        if not any(st[a] == "slow_and_low" for a in g.tied):
            continue
        group = list(g.tied)
        zt, zp = zscores(group, ref, space, by)
        own = coord.does_own_part(by.loc[group])
        print(f"group {len(group)} kept {len(g.members)} p_playbook {g.p_playbook:.2g}")
        for i in np.argsort(-np.minimum(zt, zp)):
            a = group[i]
            print(
                f"   {st[a]:14s} n={int(by.loc[a, 'n']):5d} z_topic={zt[i]:5.2f} z_params={zp[i]:5.2f} "
                f"own={own[i]} kept={a in g.members} flagged={flagged[a]}"
            )
    print("bound of the parameter z (the campaign's members of each group against the reference)")
    for g in out:
        members = [a for a in g.tied if st[a] == "slow_and_low"]
        if not members:
            continue
        names = members + [a for a in ref if a not in set(members)]
        play = playbook_similarity(by.loc[names].reset_index())
        k = len(members)
        null = play[np.ix_(np.arange(k, len(names)), np.arange(k))].mean(1)
        inside = (play[:k, :k].sum(1) - 1.0) / (k - 1)
        tail = [float((null >= x).mean()) for x in inside]
        print(
            f"  {k} of {len(g.tied)}: exact-match z {(1 - null.mean()) / null.std():.2f}, bar "
            f"{norm.isf(0.05 / len(g.tied)):.2f}, null mean {null.mean():.3f} SD {null.std():.3f}, members' "
            f"similarity median {np.median(inside):.3f} "
            f"(z {np.median((inside - null.mean()) / null.std()):.2f}, "
            f"empirical tail median {np.median(tail):.4f})"
        )


if __name__ == "__main__":
    main(sys.argv[1])
