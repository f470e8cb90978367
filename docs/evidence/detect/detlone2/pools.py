"""detlone2: every campaign pool the join looks at on a cached log, with its users, candidates and joins, per
label (run from the worktree root with the code to inspect on PYTHONPATH).

    PYTHONPATH=$PWD python docs/evidence/detect/detlone2/pools.py TAG SEED ...   # runs/ev/TAG/SEED.pools.json
"""

import json
import pickle
import sys
from pathlib import Path

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels

ROOT = Path("runs")


def main(tag: str, seed: int) -> None:
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")
    with open(ROOT / "cache" / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    seen: list[dict] = []
    real_pool, real_join = coord.campaign_pool, coord.join_pool

    def kind(a: str) -> str:
        lab = labels.get(a, {})
        return f"{lab.get('label')}:{lab.get('style')}"

    def pool(members, links):
        values = real_pool(members, links)
        if values:
            crowded = sum(v in links.crowded for v in values)
            seen.append(
                {
                    "members": len(members),
                    "values": len(values),
                    "crowded": crowded,
                    "member_kinds": _count(kind(a) for a in members),
                }
            )
        return values

    def join(members, users, candidates, *args, **kw):
        out = real_join(members, users, candidates, *args, **kw)
        seen[-1].update(
            users=len(users),
            users_inside=len(set(users) & set(members)),
            candidates=_count(kind(a) for a in candidates),
            joined=_count(kind(a) for a in out),
        )
        return out

    coord.campaign_pool, coord.join_pool = pool, join
    scoring.score(tables)
    dest = ROOT / "ev" / tag / f"{seed}.pools.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(seen, indent=1))
    print(seed, json.dumps([s for s in seen if s.get("candidates")], indent=None), flush=True)


def _count(it) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in it:
        out[k] = out.get(k, 0) + 1
    return out


if __name__ == "__main__":
    for s in sys.argv[2:]:
        main(sys.argv[1], int(s))
