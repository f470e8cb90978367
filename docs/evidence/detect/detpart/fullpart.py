"""detpart: the partition with *all* prompts, not 20 samples (the lead the write-up leaves).

For every topic group of the selection-aware round whose parameter test passes (harness.py's cached tables),
read every first user message of its accounts and of up to 60 reference accounts from the log (duckdb, first
300 characters, at most 200 per account) and compute, per account, with character 3-4-gram TF-IDF: own (mean
highest similarity to its own other prompts), cross (to the group's other accounts' prompts), excl = own -
cross, and exdup: the share of its prompts with a near-duplicate (>= 0.8) of its own and none in the rest of
the group; reference accounts are judged against the group the same way, and so are up to 30 university
accounts of the pool (chosen by label, for the diagnosis only). Reads labels; the detector never does.
Usage: fullpart.py NAME SIM_DIR"""

import pickle
import sys
from collections import Counter

import duckdb
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels


def prompts_of(path: str, accounts: list[str]) -> dict[str, list[str]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE want(account VARCHAR)")
    con.executemany("INSERT INTO want VALUES (?)", [(a,) for a in accounts])
    rows = con.execute(
        f"""SELECT account, substr(messages[1].content, 1, 300) FROM read_json_auto('{path}') e
            WHERE account IN (SELECT account FROM want)"""
    ).fetchall()
    out: dict[str, list[str]] = {}
    for a, t in rows:
        if len(out.setdefault(a, [])) < 200:
            out[a].append((t or "").lower())
    return out


def stats(names: list[str], k: int, texts: dict[str, list[str]]) -> np.ndarray:
    docs, owner = [], []
    for i, a in enumerate(names):
        docs += texts.get(a, [])
        owner += [i] * len(texts.get(a, []))
    owner = np.array(owner)
    x = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True, max_df=0.2).fit_transform(
        docs
    )
    g = np.flatnonzero(owner < k)
    out = np.full((len(names), 4), np.nan)
    for i in range(len(names)):
        rows = np.flatnonzero(owner == i)
        if len(rows) < 2:
            continue
        own_m = (x[rows] @ x[rows].T).toarray()
        np.fill_diagonal(own_m, -1)
        own = own_m.max(1)
        others = g[owner[g] != i]
        cross = (x[rows] @ x[others].T).toarray().max(1)
        out[i] = [own.mean(), cross.mean(), (own - cross).mean(), ((own >= 0.8) & (cross < 0.8)).mean()]
    return out


def main(name: str, sim: str) -> None:
    with open(f"runs/cache/{name}.pkl", "rb") as f:
        tables = pickle.load(f)
    labels = load_labels(f"runs/cache/{name}.labels.jsonl")
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
    passing = [g for g in cap["out"] if g.p_playbook <= cap["level"]]
    apart = {a for g in passing for a in g.tied}
    ref = [a for a in coord.reference_sample(cap["pool"]) if a not in apart]
    ref = sorted(np.random.default_rng(0).choice(ref, size=min(60, len(ref)), replace=False).tolist())
    # and the log's university accounts of the pool (the people of one topic a member test must leave alone)
    ref += [a for a in cap["pool"] if labels[a]["style"] == "university" and a not in apart and a not in ref][
        :30
    ]
    texts = prompts_of(f"{sim}/exchanges.jsonl", sorted(apart | set(ref)))
    rows = []
    for grp in passing:
        group = list(grp.tied)
        k = len(group)
        s = stats(group + ref, k, texts)
        kinds = ["campaign" if labels[a]["label"] == "campaign" else "ordinary" for a in group] + [
            "reference"
        ] * len(ref)
        styles = [labels[a]["style"] for a in group + ref]
        print(f"group {k} styles {dict(Counter(styles[:k]))}")
        for kind in ("campaign", "ordinary", "reference"):
            sel = np.array([x == kind for x in kinds]) & np.isfinite(s[:, 0])
            if sel.any():
                q = np.nanpercentile(s[sel], [5, 50, 95], axis=0)
                print(
                    f"   {kind:9s} n {sel.sum():3d} own p5/50/95 {q[:, 0].round(2)} excl {q[:, 2].round(2)} "
                    f"exdup {q[:, 3].round(2)}"
                )
        rows += [(kinds[i], styles[i], *s[i]) for i in range(len(kinds))]
    for kind in ("campaign", "ordinary", "reference"):
        v = np.array([r[2:] for r in rows if r[0] == kind], dtype=float)
        v = v[np.isfinite(v[:, 0])]
        q = np.percentile(v, [5, 50, 95, 100], axis=0)
        print(
            f"ALL {kind:9s} n {len(v)} (with universities) excl p5/50/95/max {q[:, 2].round(3)} exdup {q[:, 3].round(3)}"  # noqa: E501
        )
    uni = np.array([r[2:] for r in rows if r[1] == "university"], dtype=float)
    if len(uni):
        q = np.nanpercentile(uni, [50, 95, 100], axis=0)
        print(
            f"university n {len(uni)} (account x group) excl p50/95/max {q[:, 2].round(3)} exdup {q[:, 3].round(3)}"  # noqa: E501
        )
    camp = np.array([r[5] for r in rows if r[0] == "campaign"], dtype=float)
    top = np.nanmax([r[5] for r in rows if r[0] != "campaign"])
    print(
        f"campaign members with exdup above every non-campaign value ({top:.3f}): {(camp > top).sum()}/{len(camp)}"  # noqa: E501
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
