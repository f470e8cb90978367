"""Diagnostic on fresh seed 2771 after its one run (now seen, so a development log): why its hydra of 292
accounts is missed. Prints, for each tested group holding over 100 of its accounts, what
scoring._accept_coordinated checks. Usage, from the worktree root, after fresh2.sh::

    PYTHONPATH=$PWD python docs/evidence/detect/detcalib/hydra2771.py   # caches runs/t2771.pkl
"""

import json
import os
import pickle

import numpy as np

from distillscope.detect import customers as cust
from distillscope.detect import scoring
from distillscope.detect.communities import duplicate_share
from distillscope.detect.run import extract

SIM = "runs/fresh2/sim2771"
ORIG = scoring._accept_coordinated


def main() -> None:
    cache = "runs/t2771.pkl"
    if not os.path.exists(cache):
        with open(cache, "wb") as fh:
            pickle.dump(extract(f"{SIM}/exchanges.jsonl", "duckdb", threads=1), fh)
    with open(cache, "rb") as fh:
        tables = pickle.load(fh)
    with open(f"{SIM}/labels.jsonl") as fh:
        hydra = {x["account"] for x in map(json.loads, fh) if x["style"] == "hydra"}

    def accept(tested, sig, samples, alpha, tuning, site_of, taken, *rest):
        by, ref = sig.set_index("account"), sig["reach"].to_numpy(float)
        for g in tested:
            if len(hydra & set(g.tied)) > 100:
                kept = [a for a in g.members if a not in taken]
                rows = by.loc[kept]
                _, p_reach = scoring.pooled_reach(rows, ref)
                print(
                    f"group {len(g.tied)} (hydra {len(hydra & set(g.tied))})",
                    f"kept {len(kept)} p {g.p_value:.2g}",
                    f"dup {duplicate_share(kept, samples):.3f} (gate {tuning.max_duplicate_share})",
                    f"one customer {cust.one_customer(kept, site_of)[0]}",
                    f"median p_account {float(np.median(rows['p_account'])) if kept else 1.0:.3g}",
                    f"pooled reach p {p_reach:.2g}",
                )
        return ORIG(tested, sig, samples, alpha, tuning, site_of, taken, *rest)

    scoring._accept_coordinated = accept
    scoring.score(tables)


if __name__ == "__main__":
    main()
