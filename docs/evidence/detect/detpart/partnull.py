"""detpart null check: would a member's narrowness ("own": mean over its sampled prompts of the highest
character-TF-IDF similarity to its own other prompts; one vectoriser fit on every pool account's prompts) be
calibrated evidence for members of a topic group whose parameter test passed? For each passing group of the
selection-aware round, the empirical upper tail of each campaign and ordinary member's own against
(a) the reference accounts outside the passing groups and (b) the group's topic neighbours outside the passing
groups (the 1.5 x size pool accounts most similar in topic to the group's centroid), with the member bar's
level 0.05 / size. Also the same for the parameter similarity tail beside it (as diag.py). Reads labels; the
detector never does. Usage: partnull.py NAME..."""

import pickle
import sys

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.communities import playbook_similarity
from distillscope.detect.evaluation import load_labels
from distillscope.detect.signals import samples_by_account


def narrowness(accounts: list[str], samples: dict[str, list[str]]) -> dict[str, float]:
    texts, owner = [], []
    for a in accounts:
        for t in samples.get(a, [])[:20]:
            texts.append(t[:300].lower())
            owner.append(a)
    x = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, max_df=0.2).fit_transform(
        texts
    )
    owner = np.array(owner)
    out = {}
    for a in accounts:
        rows = np.flatnonzero(owner == a)
        if len(rows) < 2:
            out[a] = np.nan
            continue
        s = (x[rows] @ x[rows].T).toarray()
        np.fill_diagonal(s, -1)
        out[a] = float(s.max(1).mean())
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
            cap.update(out=out, pool=population, level=select_level, space=space, sig=sig)
        return out

    scoring.coord.test_groups = spy
    scoring.score(tables)
    samples = samples_by_account(tables)
    pool, space = cap["pool"], cap["space"]
    by = cap["sig"].set_index("account")
    own = narrowness(list(pool), samples)
    passing = [g for g in cap["out"] if g.p_playbook <= cap["level"]]
    apart = {a for g in passing for a in g.tied}
    ref = [a for a in coord.reference_sample(pool) if a not in apart]
    outside = [a for a in pool if a not in apart and a in space.index]
    ref_own = np.array([own[a] for a in ref if np.isfinite(own[a])])
    print(
        f"pool {len(pool)} reference outside passing groups {len(ref)}; own of the reference: "
        f"p50 {np.percentile(ref_own, 50):.3f} p90 {np.percentile(ref_own, 90):.3f} p99 {np.percentile(ref_own, 99):.3f}"  # noqa: E501
    )
    ct, ot = [], []
    for g in passing:
        group = list(g.tied)
        k = len(group)
        cen = np.asarray(space.rows(group).mean(0)).ravel()
        sim = np.asarray(space.rows(outside) @ cen).ravel()
        near = [outside[i] for i in np.argsort(-sim)[: int(np.ceil(1.5 * k))]]
        near_own = np.array([own[a] for a in near if np.isfinite(own[a])])
        names = group + ref
        play = playbook_similarity(by.loc[names].reset_index())
        inside = (play[:k, :k].sum(1) - 1.0) / (k - 1)
        pnull = play[k:, :k].mean(1)
        print(
            f"group {k} p_play {g.p_playbook:.2g} bar tail {0.05 / k:.4f}; topic neighbours' own p50 "
            f"{np.median(near_own):.3f} max {near_own.max():.3f} styles {sorted({st[a] for a in near})[:6]}"
        )
        for i, a in enumerate(group):
            t_ref = float((ref_own >= own[a]).mean())
            t_near = float((near_own >= own[a]).mean())
            t_par = float((pnull >= inside[i]).mean())
            camp = labels[a]["label"] == "campaign"
            (ct if camp else ot).append((t_ref, t_near, t_par, 0.05 / k, st[a]))
            print(
                f"   {st[a]:14s} own {own[a]:.3f} tail_ref {t_ref:.3f} tail_near {t_near:.3f} tail_params {t_par:.3f}"  # noqa: E501
            )
    for lab, rows in (("campaign", ct), ("ordinary", ot)):
        r = np.array([x[:4] for x in rows])
        print(
            f"{lab}: n {len(r)} own tail<=bar vs reference {int((r[:, 0] <= r[:, 3]).sum())}, vs topic neighbours "  # noqa: E501
            f"{int((r[:, 1] <= r[:, 3]).sum())}, params tail<=bar {int((r[:, 2] <= r[:, 3]).sum())}, "
            f"both own(ref) and params <= 0.05 {int(((r[:, 0] <= 0.05) & (r[:, 2] <= 0.05)).sum())}"
        )


if __name__ == "__main__":
    for n in sys.argv[1:]:
        print("=====", n)
        main(n)
