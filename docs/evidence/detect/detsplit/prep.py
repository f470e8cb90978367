"""Extract a simulated log's DuckDB feature tables once into runs/cache/SEED-1100.pkl (with its labels), so
the grouping can be scored on it with the detgroups harness: prep.py SIM_DIR SEED ... (pairs)."""

import os
import pickle
import shutil
import sys
from pathlib import Path

from distillscope.detect.run import extract

CACHE = Path("runs/cache")


def prep(sim: str, seed: str) -> None:
    dest = CACHE / f"{seed}-1100.pkl"
    if dest.exists():
        return
    t = extract(Path(sim) / "exchanges.jsonl", "duckdb", threads=1)
    shutil.copy(Path(sim) / "labels.jsonl", CACHE / f"{seed}-1100.labels.jsonl")
    with open(str(dest) + ".tmp", "wb") as f:
        pickle.dump(t, f)
    os.replace(str(dest) + ".tmp", dest)
    print("prepped", seed, flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    for i in range(0, len(args), 2):
        prep(args[i], args[i + 1])
