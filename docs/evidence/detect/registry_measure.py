"""Before/after the public-benchmark registry (detect --benchmarks) on randomised logs, and a control.

Usage: PYTHONPATH=. python docs/evidence/detect/registry_measure.py BENIGN SEEDS [OUT_DIR]
(220 benign = the ~340-account small logs, 600 = ~900). Control: the same log without three random
ordinary accounts, no registry. Prints one JSON line per seed and writes measure-BENIGN-SEEDS.json.
"""

import json
import random
import sys
import time
from pathlib import Path

from distillscope.detect.benchmarks import load_public_questions
from distillscope.detect.evaluation import evaluate, load_labels
from distillscope.detect.run import run_detection
from distillscope.records import iter_jsonl, write_jsonl
from distillscope.simulate import simulate_randomized

benign = int(sys.argv[1])
seeds = [int(s) for s in sys.argv[2].split(",")]
root = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("runs/registry")
root.mkdir(parents=True, exist_ok=True)
out = []
for seed in seeds:
    d = root / f"r{seed}-{benign}"
    sim = simulate_randomized(d, seed=seed, benign=benign)
    labels = load_labels(sim.labels_path)
    pub = load_public_questions([d / "benchmarks"])
    runs = {}
    for name, kw in (("before", {}), ("after", {"public_questions": pub})):
        t = time.perf_counter()
        r = run_detection(sim.exchanges_path, d / name, **kw)
        runs[name] = (r, time.perf_counter() - t)
    # control: the same log without 3 random ordinary accounts (no registry)
    ordinary = sorted(a for a, lab in labels.items() if lab.get("style") == "ordinary")
    drop = set(random.Random(seed).sample(ordinary, 3))
    rows = [row for _, row, _ in iter_jsonl(sim.exchanges_path) if row and row.get("account") not in drop]
    write_jsonl(rows, d / "control.jsonl")
    runs["control"] = (run_detection(d / "control.jsonl", d / "control"), 0.0)
    rep = {"seed": seed, "benign": benign, "exchanges": sim.exchanges}
    flags = {}
    for name, (r, took) in runs.items():
        ev = evaluate(
            r.accounts, {a: lab for a, lab in labels.items() if not (name == "control" and a in drop)}
        )
        dd = ev["at_default_threshold"]
        rep[name] = {
            "tp": dd["tp"],
            "pos": dd["positives"],
            "fp": dd["fp"],
            "neg": dd["negatives"],
            "auroc": ev["auroc"],
            "ari": ev["grouping"]["ari"],
            "s": round(took, 1),
            "harness": ev["flag_rate_by_benign_style"].get("eval_harness"),
            "public": r.public,
        }
        flags[name] = {a["account"]: a["flagged"] for a in r.accounts}
    for name in ("after", "control"):
        changed = [
            (a, labels[a]["label"], labels[a]["style"], flags["before"].get(a), flags[name].get(a))
            for a in flags["before"]
            if a in flags[name] and flags["before"][a] != flags[name][a]
        ]
        rep[name]["changed"] = changed
    print(json.dumps(rep), flush=True)
    out.append(rep)
(root / f"measure-{benign}-{sys.argv[2]}.json").write_text(json.dumps(out, indent=1))
