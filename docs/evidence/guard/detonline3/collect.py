# ruff: noqa: SIM115, B007, E501
"""Collect detonline3's evidence: harness results, fresh replays' metrics, determinism hashes.
Usage: collect.py RUNS > results.json"""

import hashlib
import json
import sys
from pathlib import Path

runs = Path(sys.argv[1])
out = {"harness": {}, "replays": {}, "determinism": {}, "cpu": {}}
for key, pattern in (("harness", "sim3_rnd*.json"), ("harness_gross", "sim2_rnd*.json")):
    out[key] = {}
    for p in sorted((runs / "x").glob(pattern)):
        r = json.load(open(p))
        out[key][p.stem.split("_", 1)[1]] = {
            "means": r["means"],
            "per_mean": r["per_mean"],
            "benign_template_top": r["benign_template_top"],
            "cpu_s": r["cpu_s"],
        }
for S in ("2821", "2822"):
    for side in ("main", "new"):
        d = runs / f"{side}_{S}"
        if (d / "metrics.json").exists():
            out["replays"][f"{side}_{S}"] = json.load(open(d / "metrics.json"))
            log = (runs / f"{side}_{S}.log").read_text().splitlines()
            out["cpu"][f"{side}_{S}"] = [
                line for line in log if line.startswith("user ") or "risk from" in line
            ]
for h in ("1", "77"):
    d = runs / f"det{h}_rnd21"
    if d.exists():
        out["determinism"][h] = {
            f.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(d.iterdir())
            if f.suffix in (".json", ".jsonl", ".md")
        }
json.dump(out, sys.stdout, indent=1, default=str)
