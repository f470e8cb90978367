"""detpart diagnostic: is there per-member evidence of a partition in the topic groups of the selection-aware
round? For every account of every group tested (harness.py's cached tables, runs/cache/NAME.pkl), with
prompt-level character TF-IDF over the group's and the reference's sampled prompts:
  own   mean over the account's prompts of the highest similarity to its *own* other prompts (a narrow slice),
  cross mean over its prompts of the highest similarity to a prompt of *another member* of the group,
  excl  own - cross (a slice of its own that the rest of the group does not ask),
  dup   share of its prompts with a near-duplicate (>= 0.8) in another member's prompts,
  owndup share of its prompts with a near-duplicate among its own other prompts,
  exdup  share with a near-duplicate of its own and none in another member's (a slice only it asks),
and the same six for the reference accounts judged against the group (their null). Prints per group the
medians for campaign members, ordinary members and the reference, and each account's z of excl. It reads
labels; the detector never does. Usage: [WORDS=1] partdiag.py NAME... (WORDS: word 2-3-grams)"""

import os
import pickle
import sys
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels
from distillscope.detect.signals import samples_by_account


def prompt_stats(names: list[str], k: int, samples: dict[str, list[str]]) -> np.ndarray:
    """own, cross, excl, dup of each account of ``names`` against the group names[:k]."""
    texts, owner = [], []
    for i, a in enumerate(names):
        for t in samples.get(a, [])[:20]:
            texts.append(t[:300].lower())
            owner.append(i)
    owner = np.array(owner)
    if os.environ.get("WORDS"):  # word 2-3-grams: an aspect-and-topic phrase, not its letters
        vec = TfidfVectorizer(analyzer="word", ngram_range=(2, 3), sublinear_tf=True, max_df=0.2)
    else:
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, max_df=0.2)
    x = vec.fit_transform(texts)
    in_group = owner < k
    sim = (x @ x[in_group].T).toarray()
    gown = owner[in_group]
    out = np.full((len(names), 6), np.nan)
    for i in range(len(names)):
        rows = np.flatnonzero(owner == i)
        if len(rows) < 2:
            continue
        own_rows = x[rows] @ x[rows].T
        own_rows = own_rows.toarray()
        np.fill_diagonal(own_rows, -1)
        own = own_rows.max(1)
        other = sim[rows][:, gown != i]
        cross = other.max(1)
        out[i] = [
            own.mean(),
            cross.mean(),
            (own - cross).mean(),
            (cross >= 0.8).mean(),
            (own >= 0.8).mean(),
            ((own >= 0.8) & (cross < 0.8)).mean(),
        ]
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
            cap.update(out=out, pool=population, level=select_level)
        return out

    scoring.coord.test_groups = spy
    scoring.score(tables)
    samples = samples_by_account(tables)
    reference = coord.reference_sample(cap["pool"])
    rng = np.random.default_rng(0)
    allc, allo = [], []
    for g in cap["out"]:
        group = list(g.tied)
        ref = [a for a in reference if a not in set(group)]
        ref = sorted(rng.choice(ref, size=min(120, len(ref)), replace=False).tolist())
        names = group + ref
        k = len(group)
        s = prompt_stats(names, k, samples)
        mu, sd = np.nanmean(s[k:, 2]), np.nanstd(s[k:, 2])
        z = (s[:k, 2] - mu) / sd
        camp = np.array([labels[a]["label"] == "campaign" for a in group])
        passing = g.p_playbook <= cap["level"]
        print(
            f"group {k} passing={passing} p_play={g.p_playbook:.2g} kept={len(g.members)} "
            f"styles={dict(Counter(st[a] for a in group))}"
        )
        for lab, sel in (("campaign", camp), ("ordinary", ~camp)):
            if sel.any():
                med = np.nanmedian(s[:k][sel], axis=0)
                print(
                    f"   {lab:9s} n={sel.sum():3d} own={med[0]:.3f} cross={med[1]:.3f} excl={med[2]:.3f} "
                    f"dup={med[3]:.3f} owndup={med[4]:.3f} exdup={med[5]:.3f} z_excl median {np.nanmedian(z[sel]):.2f} "  # noqa: E501
                    f"min {np.nanmin(z[sel]):.2f} max {np.nanmax(z[sel]):.2f}"
                )
        med = np.nanmedian(s[k:], axis=0)
        print(
            f"   reference n={len(ref)} own={med[0]:.3f} cross={med[1]:.3f} excl={med[2]:.3f} dup={med[3]:.3f} "  # noqa: E501
            f"owndup={med[4]:.3f} exdup={med[5]:.3f} exdup p90/p99 {np.nanpercentile(s[k:, 5], 90):.3f}/"
            f"{np.nanpercentile(s[k:, 5], 99):.3f}"
        )
        for i in np.argsort(-z):
            print(
                f"      {st[group[i]]:16s} own={s[i, 0]:.2f} cross={s[i, 1]:.2f} excl={s[i, 2]:.2f} dup={s[i, 3]:.2f} owndup={s[i, 4]:.2f} exdup={s[i, 5]:.2f} z={z[i]:.2f} kept={group[i] in g.members}"  # noqa: E501
            )
        if passing:
            allc += list(z[camp])
            allo += [(st[a], float(z[i])) for i, a in enumerate(group) if not camp[i]]
    print(
        "passing groups: campaign z_excl",
        np.round(np.percentile(allc, [0, 10, 50, 90, 100]), 2) if allc else None,
    )
    print("passing groups: ordinary z_excl", sorted(allo, key=lambda t: -t[1])[:15])


if __name__ == "__main__":
    for n in sys.argv[1:]:
        print("=====", n)
        main(n)
