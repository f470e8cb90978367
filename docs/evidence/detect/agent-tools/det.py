"""Detect each log with the code on PYTHONPATH; write a summary JSON per log under runs/ev/<label>/."""

import json
import sys
import time
from pathlib import Path

from distillscope.detect import run_detection
from distillscope.detect.evaluation import evaluate, load_labels

label, benign = sys.argv[1], int(sys.argv[2])
for seed in map(int, sys.argv[3:]):
    logdir = Path(f"runs/logs/{seed}-{benign}")
    dest = Path(f"runs/ev/{label}/{seed}-{benign}.json")
    if dest.exists():
        continue
    dest.parent.mkdir(parents=True, exist_ok=True)
    c0 = time.process_time()
    res = run_detection(logdir / "exchanges.parquet", Path(f"runs/out/{label}/{seed}-{benign}"))
    cpu = time.process_time() - c0
    labels = load_labels(logdir / "labels.jsonl")
    rep = evaluate(res.accounts, labels)
    rep["accounts"] = [
        {k: a[k] for k in ("account", "score", "flagged", "campaign", "reasons")} for a in res.accounts
    ]
    rep["styles"] = {a: lab["style"] for a, lab in labels.items()}
    rep["cpu_s"] = cpu
    dest.write_text(json.dumps(rep))
    d, g = rep["at_default_threshold"], rep["grouping"]
    ag = rep["flag_rate_by_benign_style"].get("agent", {})
    print(
        label,
        seed,
        benign,
        f"TPR {d['tp']}/{d['positives']} FPR {d['fp']}/{d['negatives']} AUROC {rep['auroc']:.4f} "
        f"ARI {g['ari']:.3f} agents {ag.get('flagged')}/{ag.get('accounts')} cpu {cpu:.1f}",
        flush=True,
    )
