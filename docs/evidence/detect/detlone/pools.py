"""Every campaign pool the lone-member join saw (coordination.join_pool, called by scoring._join_pool_users):
score a cached log with the code on PYTHONPATH and record, per campaign with a pool, its size and styles, the
pool's addresses, its users' styles, the candidates' styles and labels, and who joined (flagged alone or not).

Usage: PYTHONPATH=$PWD python docs/evidence/detect/detlone/pools.py TAG SEED ...
(writes runs/ev/TAG/SEED.pools.json)"""

import collections
import json
import pickle
import sys
from pathlib import Path

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels

ROOT = Path("runs")


def main(tag: str, seed: int) -> None:
    with open(ROOT / "cache" / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")

    def kind(a: str) -> str:
        lab = labels.get(a, {})
        return f"{lab.get('label')}:{lab.get('style')}"

    seen = []
    orig = coord.join_pool

    def spy(members, users, candidates, sig, samples, vectors, pool, flagged, machine_p=coord.MACHINE_P):
        out = orig(members, users, candidates, sig, samples, vectors, pool, flagged, machine_p)
        seen.append(
            {
                "campaign": dict(collections.Counter(kind(a) for a in members)),
                "users": dict(collections.Counter(kind(a) for a in users)),
                "owned": round(len(set(members) & set(users)) / max(1, len(users)), 3),
                "candidates_flagged": dict(collections.Counter(kind(a) for a in candidates if a in flagged)),
                "candidates_unflagged": dict(
                    collections.Counter(kind(a) for a in candidates if a not in flagged)
                ),
                "joined_flagged": dict(collections.Counter(kind(a) for a in out if a in flagged)),
                "joined_unflagged": dict(collections.Counter(kind(a) for a in out if a not in flagged)),
            }
        )
        return out

    scoring.coord.join_pool = spy
    scoring.score(tables)
    scoring.coord.join_pool = orig
    dest = ROOT / "ev" / tag / f"{seed}.pools.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(seen, indent=1))
    for row in seen:
        print(seed, json.dumps(row))


if __name__ == "__main__":
    for s in sys.argv[2:]:
        main(sys.argv[1], int(s))
