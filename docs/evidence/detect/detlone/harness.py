"""detlone harness: extract a simulated log's feature tables once (prep), then score them with the code on
PYTHONPATH (scoring.score, the call `detect` makes without --embeddings) and evaluate against the labels.

Usage, from the worktree root (logs simulated into runs/simSEED by simulate-traffic)::

    PYTHONPATH=$PWD python docs/evidence/detect/detlone/harness.py prep SEED ...
    PYTHONPATH=$PWD python docs/evidence/detect/detlone/harness.py score TAG SEED ...

Writes runs/cache/SEED.pkl and runs/ev/TAG/SEED.json (summary, per account [flagged, score, campaign, style,
label])."""

import json
import pickle
import resource
import sys
from pathlib import Path

ROOT = Path("runs")
CACHE = ROOT / "cache"


def prep(seed: int) -> None:
    from distillscope.detect.run import extract

    dest = CACHE / f"{seed}.pkl"
    if dest.exists():
        return
    tables = extract(ROOT / f"sim{seed}" / "exchanges.jsonl", "duckdb", threads=1)
    CACHE.mkdir(exist_ok=True)
    with open(str(dest) + ".tmp", "wb") as fh:
        pickle.dump(tables, fh)
    Path(str(dest) + ".tmp").rename(dest)
    print("prepped", seed, flush=True)


def score_one(tag: str, seed: int) -> dict:
    from distillscope.detect import scoring
    from distillscope.detect.evaluation import evaluate, load_labels

    with open(CACHE / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    s = scoring.score(tables)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    ev = evaluate(s.accounts, labels)
    d = ev["at_default_threshold"]
    rep = {
        "log": seed,
        "tp": f"{d['tp']}/{d['positives']}",
        "fp": f"{d['fp']}/{d['negatives']}",
        "auroc": round(ev["auroc"], 5),
        "ari": round(ev["grouping"]["ari"], 4),
        "benign_camps": f"{ev['grouping']['predicted_campaigns_with_benign_member']}/"
        f"{ev['grouping']['predicted_campaigns']}",
        "styles": {k: f"{v['flagged']}/{v['accounts']}" for k, v in ev["recall_by_style"].items()},
        "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
    }
    out = {
        "rep": rep,
        "accounts": {
            a["account"]: [
                a["flagged"],
                a["score"],
                a["campaign"],
                labels.get(a["account"], {}).get("style"),
                labels.get(a["account"], {}).get("label"),
            ]
            for a in s.accounts
        },
    }
    dest = ROOT / "ev" / tag / f"{seed}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out))
    print(json.dumps(rep), flush=True)
    return out


if __name__ == "__main__":
    if sys.argv[1] == "prep":
        for s in sys.argv[2:]:
            prep(int(s))
    else:
        for s in sys.argv[3:]:
            score_one(sys.argv[2], int(s))
