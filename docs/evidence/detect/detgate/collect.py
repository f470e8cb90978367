"""Collect detgate's measurements into docs/evidence/detect/detgate/results.json: the development logs'
summary per log (main 1591458 = detcalib's "fin" run on the same cached tables, and 2771 from a git archive
export of 1591458, against detgate), and the fresh seeds' goals (score.py outputs). Usage, from the worktree
root (FIN = /work/wt/detcalib/runs/ev/fin)::

    python docs/evidence/detect/detgate/collect.py FIN runs/ev/main runs/ev/gate2 runs/fresh
"""

import glob
import json
import os
import sys


def _load(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def reps(folder: str) -> dict:
    return {os.path.basename(f)[:-5]: _load(f)["rep"] for f in sorted(glob.glob(f"{folder}/*.json"))}


def main() -> None:
    fin, main2771, gate, fresh = sys.argv[1:]
    before = {**reps(fin), **reps(main2771)}
    dev = {log: {"main": before.get(log), "detgate": rep} for log, rep in reps(gate).items()}
    out: dict = {"dev": dev, "fresh": {}}
    for f in sorted(glob.glob(f"{fresh}/r*.json")):
        r = _load(f)
        out["fresh"][os.path.basename(f)[1:-5]] = {
            "shape": r["shape"],
            "goals": r["goals"],
            "cpu_s": r.get("cpu_s"),
            "auroc": r["evaluation"]["auroc"],
        }
    with open("docs/evidence/detect/detgate/results.json", "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
