"""How far each account outside a pool's campaign sits inside it: score a cached log with the code on
PYTHONPATH, take the style's largest predicted campaign, and compute for every other account of >= 5 requests
its mean topic and playbook similarity to the members, standardised against random reference accounts' (as
coordination.attach does), with its share of requests through the pool's crowded addresses. Prints quantiles
per group of accounts (lone members of the style, other flagged accounts, benign accounts by style).

Usage: PYTHONPATH=$PWD python docs/evidence/detect/detlone/zscores.py SEED [STYLE]"""

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


def main(seed: int, style: str) -> None:
    with open(ROOT / "cache" / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")
    st = {a: lab.get("style") for a, lab in labels.items()}
    s = scoring.score(tables)
    sig = s.signals
    by = sig.set_index("account")
    acc = {a["account"]: a for a in s.accounts}
    camps = collections.Counter(acc[a]["campaign"] for a in acc if st.get(a) == style and acc[a]["flagged"])
    cid = camps.most_common(1)[0][0]
    members = sorted(a for a in acc if acc[a]["campaign"] == cid)
    ip = tables["infra"][tables["infra"]["kind"] == "ip"]
    member_ips = ip[ip["account"].isin(members)].groupby("value")["account"].nunique()
    pool_ips = set(member_ips[member_ips >= 0.5 * len(members)].index)
    through = ip[ip["value"].isin(pool_ips)].groupby("account")["cnt"].sum() / by["n"]
    others = [a for a in sig.loc[sig["n"] >= 5, "account"] if a not in set(members)]
    reference = [a for a in coord.reference_sample(coord.request_pool(sig)) if a not in set(members)]
    samples = samples_by_account(tables)
    names = sorted(set(others) | set(reference)) + members
    space = coord.PromptSpace.build(names, samples, None)
    cross = space.rows(names) @ space.rows(members).T
    topic = np.clip(cross.toarray(), 0, 1)
    play = playbook_similarity(by.loc[names].reset_index(), by.loc[members].reset_index())
    pos = {a: i for i, a in enumerate(names)}
    ref = np.array([pos[a] for a in reference])
    z = {}
    for name, m in (("topic", topic), ("play", play)):
        null = m[ref].mean(axis=1)
        z[name] = (m.mean(axis=1) - null.mean()) / max(null.std(), 1e-3)
    print("campaign", cid, len(members), "pool addresses", len(pool_ips))
    cats = collections.defaultdict(list)
    for a in others:
        i = pos[a]
        th = float(through.get(a, 0.0))
        kind = ("lone " if st.get(a) == style else "") + ("flagged" if acc[a]["flagged"] else "unflagged")
        if st.get(a) != style:
            kind += f" {labels.get(a, {}).get('label')}:{st.get(a)}"
        if th >= 0.5:
            kind += " via-pool"
        cats[kind].append((z["topic"][i], z["play"][i], th, by.loc[a, "n"]))
    for kind, rows in sorted(cats.items()):
        arr = np.array(rows)
        q = [" ".join(f"{v:5.2f}" for v in np.quantile(arr[:, c], [0, 0.5, 0.9, 1])) for c in (0, 1)]
        print(f"{kind:45s} n={len(rows):4d} topic z [min med p90 max] {q[0]} | play z {q[1]}")
    if "lone flagged via-pool" in cats:
        print("lone flagged via pool (topic z, play z, through, n):")
        for r in sorted(cats["lone flagged via-pool"]):
            print("  ", " ".join(f"{v:.2f}" for v in r))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "hydra")
