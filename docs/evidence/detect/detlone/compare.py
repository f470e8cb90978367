"""Per-account differences between two harness runs (runs/ev/A/SEED.json vs runs/ev/B/SEED.json): flag, score
and campaign changes, counted by style, and where each changed account went.

Usage: python docs/evidence/detect/detlone/compare.py A B SEED ..."""

import collections
import json
import sys
from pathlib import Path


def main(a: str, b: str, seeds: list[str]) -> None:
    for seed in seeds:
        x = json.loads(Path(f"runs/ev/{a}/{seed}.json").read_text())
        y = json.loads(Path(f"runs/ev/{b}/{seed}.json").read_text())
        print(seed, "main:", json.dumps(x["rep"]))
        print(seed, "new: ", json.dumps(y["rep"]))
        size_y = collections.Counter(v[2] for v in y["accounts"].values() if v[0])
        changes = collections.Counter()
        for acc, (fl, sc, cid, st, lab) in x["accounts"].items():
            fl2, sc2, cid2, _, _ = y["accounts"][acc]
            if fl != fl2 or sc != sc2:
                changes[(f"flag/score {fl}->{fl2}", lab, st)] += 1
            elif cid != cid2:
                changes[(f"campaign -> size {size_y[cid2]}", lab, st)] += 1
        for k, v in sorted(changes.items()):
            print("  ", v, *k)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
