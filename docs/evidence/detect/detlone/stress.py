"""A proxy pool shared with ordinary people: move K benign accounts' traffic (every request, the counts kept)
onto the addresses of a cached log's hydra pool (the addresses at least 100 hydra accounts use), score the
altered tables with the code on PYTHONPATH and report the benign accounts flagged and those in a campaign.

Usage: PYTHONPATH=$PWD python docs/evidence/detect/detlone/stress.py TAG SEED K ...
(writes runs/ev/TAG/SEED-sK.json like harness.py)"""

import copy
import json
import pickle
import random
import sys
from pathlib import Path

import pandas as pd

from distillscope.detect import scoring
from distillscope.detect.evaluation import evaluate, load_labels

ROOT = Path("runs")


def shared(tables, labels: dict, k: int, seed: int):  # noqa: ANN001, ANN201
    infra = tables.frames["infra"]
    ip = infra[infra["kind"] == "ip"]
    hydra = {a for a, lab in labels.items() if lab.get("style") == "hydra"}
    users = ip[ip["account"].isin(hydra)].groupby("value")["account"].nunique()
    pool = sorted(users[users >= 100].index)
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


def main(tag: str, seed: int, k: int) -> None:
    with open(ROOT / "cache" / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")
    tables, moved, n_pool = shared(tables, labels, k, seed)
    s = scoring.score(tables)
    ev = evaluate(s.accounts, labels)
    d = ev["at_default_threshold"]
    acc = {a["account"]: a for a in s.accounts}
    size = {}
    for a in s.accounts:
        if a["flagged"]:
            size[a["campaign"]] = size.get(a["campaign"], 0) + 1
    rep = {
        "log": f"{seed}-s{k}",
        "pool": n_pool,
        "tp": f"{d['tp']}/{d['positives']}",
        "fp": f"{d['fp']}/{d['negatives']}",
        "ari": round(ev["grouping"]["ari"], 4),
        "benign_camps": f"{ev['grouping']['predicted_campaigns_with_benign_member']}/"
        f"{ev['grouping']['predicted_campaigns']}",
        "moved_flagged": sum(acc[a]["flagged"] for a in moved),
        "moved_in_campaign_of_5+": sum(acc[a]["flagged"] and size[acc[a]["campaign"]] >= 5 for a in moved),
    }
    dest = ROOT / "ev" / tag / f"{seed}-s{k}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"rep": rep}))
    print(json.dumps(rep), flush=True)


if __name__ == "__main__":
    for k in sys.argv[3:]:
        main(sys.argv[1], int(sys.argv[2]), int(k))
