"""Why each pool group that passed the behaviour tests was accepted or refused: the gates of
scoring._accept_coordinated (one customer, typical member at alpha squared, pooled reach, duplicate prompts)
evaluated on the group's members, for the logs named (cached tables, code on PYTHONPATH).

Usage: PYTHONPATH=$PWD python docs/evidence/detect/detpool/gates.py 2771-1100 2772-1100"""

import json
import pickle
import sys
from collections import Counter

import numpy as np

from distillscope.detect import customers as cust
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels


def main() -> None:
    for name in sys.argv[1:]:
        with open(f"runs/cache/{name}.pkl", "rb") as f:
            t = pickle.load(f)
        st = {a: lab.get("style") for a, lab in load_labels(f"runs/cache/{name}.labels.jsonl").items()}
        orig = scoring._accept_coordinated
        seen = []

        def spy(tested, sig, samples, alpha, tuning, site_of, taken, *rest, _seen=seen, _orig=orig, _st=st):
            for g in tested:
                if g.grouped_on != "crowded" or g.p_value > alpha:
                    continue
                kept = [a for a in g.members if a not in taken]
                rows = sig.set_index("account").loc[kept]
                one_site, site = cust.one_customer(kept, site_of)
                _, p_reach = scoring.pooled_reach(rows, sig["reach"].to_numpy(dtype=float))
                dup = scoring.duplicate_share(kept, samples)
                _seen.append(
                    {
                        "tied": dict(Counter(_st.get(a) for a in g.tied)),
                        "p": g.p_value,
                        "kept": dict(Counter(_st.get(a) for a in kept)),
                        "one_customer": [one_site, site],
                        "median_p_account": float(np.median(rows["p_account"])) if kept else None,
                        "p_reach": p_reach,
                        "duplicate_share": dup,
                    }
                )
            return _orig(tested, sig, samples, alpha, tuning, site_of, taken, *rest)

        scoring._accept_coordinated = spy
        try:
            scoring.score(t)
        finally:
            scoring._accept_coordinated = orig
        print(name, json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()
