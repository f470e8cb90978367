"""Simulate randomized logs (parquet) into runs/logs/<seed>-<benign>/ if absent."""

import sys
from pathlib import Path

from distillscope.simulate import simulate_randomized

benign = int(sys.argv[1])
for seed in map(int, sys.argv[2:]):
    out = Path(f"runs/logs/{seed}-{benign}")
    if (out / "labels.jsonl").exists():
        continue
    r = simulate_randomized(out, seed=seed, benign=benign, fmt="parquet")
    print(seed, benign, r.exchanges, r.accounts, flush=True)
