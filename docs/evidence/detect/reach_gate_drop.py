"""Robustness probe: the same log's feature tables without 3 random ordinary accounts (3 draws each).

Usage (from the repository root, tables cached by reach_gate_harness.py extract):
    PYTHONPATH=. python docs/evidence/detect/reach_gate_drop.py TAG dev-r2101-220,dev-r2105-220
Prints one JSON line per log: slow-and-low members flagged on the full log and per draw, and every account
whose flag changed. Dropping rows of the per-account tables is cheaper than re-extracting the log; the
log-wide counts (shared prompts) still include the dropped accounts."""

import copy
import json
import pickle
import random
import sys

from distillscope.detect.evaluation import load_labels
from distillscope.detect.scoring import score

tag, names = sys.argv[1], sys.argv[2].split(",")
for n in names:
    with open(f"runs/cache/{n}.pkl", "rb") as f:
        c = pickle.load(f)
    L = c["labels"] if isinstance(c["labels"], dict) else load_labels(c["labels"])
    base = score(c["tables"])
    fb = {a["account"]: a["flagged"] for a in base.accounts}
    ordinary = sorted(a for a, lab in L.items() if lab["style"] == "ordinary")
    sal = [a for a, lab in L.items() if lab["style"] == "slow_and_low"]
    res = {"log": n, "tag": tag, "full_sal": sum(fb[a] for a in sal), "of": len(sal), "draws": []}
    for k in range(3):
        drop = set(random.Random(1000 * k + len(n)).sample(ordinary, 3))
        t = copy.copy(c["tables"])
        t.frames = {
            f: df[~df["account"].isin(drop)].reset_index(drop=True) if "account" in df else df
            for f, df in c["tables"].frames.items()
        }
        s = score(t)
        fs = {a["account"]: a["flagged"] for a in s.accounts}
        changed = [(a, L[a]["style"], fb[a], fs[a]) for a in fs if fs[a] != fb[a]]
        res["draws"].append({"sal": sum(fs[a] for a in sal), "changed": changed})
    print(json.dumps(res), flush=True)
