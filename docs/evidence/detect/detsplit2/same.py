"""How many accounts' flag, score and campaign differ between two harness runs (runs/ev/A, runs/ev/B), per
log, and the measures of both. Campaign ids are compared as partitions (a join keeps the larger piece's id).
Usage: same.py A B [NAME...]."""

import json
import sys
from pathlib import Path


def partition(accounts: dict) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for a, (_flag, _score, cid, _style) in accounts.items():
        if cid:
            groups.setdefault(cid, set()).add(a)
    return {frozenset(g) for g in groups.values()}


def main() -> None:
    a, b = Path("runs/ev") / sys.argv[1], Path("runs/ev") / sys.argv[2]
    names = sys.argv[3:] or sorted(p.stem for p in a.glob("*.json") if (b / p.name).exists())
    for n in names:
        x, y = (json.loads((d / f"{n}.json").read_text())["accounts"] for d in (a, b))
        rx, ry = (json.loads((d / f"{n}.json").read_text())["rep"] for d in (a, b))
        flags = sum(x[k][:2] != y[k][:2] for k in x)
        same_groups = partition(x) == partition(y)
        keys = ("tp", "fp", "auroc", "tpr1", "ari", "benign_camps")
        print(
            n,
            "flag/score differ:",
            flags,
            "campaigns identical:",
            same_groups,
            "|",
            " ".join(f"{k} {rx[k]} -> {ry[k]}" for k in keys),
            "| slow",
            rx["recall"].get("slow_and_low"),
            "->",
            ry["recall"].get("slow_and_low"),
        )


if __name__ == "__main__":
    main()
