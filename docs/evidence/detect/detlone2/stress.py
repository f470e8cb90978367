"""detlone's stress test (``detlone/stress.py``: K benign accounts of >= 10 requests moved onto a hydra's
addresses, every request, then scored) with the hydra's addresses taken as those at least half of the hydra
uses (detlone took >= 100 accounts: on 2841 the hydra of 130 spreads over ~44 addresses under the cap).

Usage: PYTHONPATH=$PWD python docs/evidence/detect/detlone2/stress.py TAG SEED K ...
(writes runs/ev/TAG/SEED-sK.json)
"""

import copy
import importlib.util
import random
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("detlone_stress", HERE.parent / "detlone" / "stress.py")
stress = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stress)


def shared(tables, labels: dict, k: int, seed: int):  # noqa: ANN001, ANN201
    infra = tables.frames["infra"]
    ip = infra[infra["kind"] == "ip"]
    hydra = {a for a, lab in labels.items() if lab.get("style") == "hydra"}
    users = ip[ip["account"].isin(hydra)].groupby("value")["account"].nunique()
    pool = sorted(users[users >= 0.5 * len(hydra)].index)
    n_by = tables.frames["accounts"].set_index("account")["n"]
    benign = sorted(a for a, lab in labels.items() if lab.get("label") == "benign" and n_by.get(a, 0) >= 10)
    moved = set(random.Random(seed * 1000 + k).sample(benign, k))
    rows = []
    for a in sorted(moved):
        n = int(n_by[a])
        per, extra_one = divmod(n, len(pool))
        rows += [(a, "ip", v, per + (i < extra_one)) for i, v in enumerate(pool)]
    extra = pd.DataFrame(rows, columns=["account", "kind", "value", "cnt"])
    extra = extra[extra["cnt"] > 0]
    kept = infra[~((infra["kind"] == "ip") & infra["account"].isin(moved))]
    out = copy.copy(tables)
    out.frames = {**tables.frames, "infra": pd.concat([kept, extra], ignore_index=True)}
    return out, moved, len(pool)


if __name__ == "__main__":
    stress.shared = shared
    for k in sys.argv[3:]:
        stress.main(sys.argv[1], int(sys.argv[2]), int(k))
