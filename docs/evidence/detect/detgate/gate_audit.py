"""Every duplicate-share check the detector makes on the development logs, with the share random sets of the
same size from the log's other accounts ask in common (``communities.chance_share``) and the share beyond
chance (``excess_share``), the group's labelled styles, and whether the old fixed gate and the new one refuse
it. Usage, from the worktree root, on cached feature tables (runs/c2/SEED-BENIGN.pkl + .labels.jsonl)::

    PYTHONPATH=$PWD python docs/evidence/detect/detgate/gate_audit.py runs/c2 OUT.json LOG [LOG ...]
"""

import json
import pickle
import sys

from distillscope.detect import communities, scoring
from distillscope.detect import coordination as coord
from distillscope.detect.evaluation import load_labels


def audit(cache: str, log: str) -> list[dict]:
    with open(f"{cache}/{log}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(f"{cache}/{log}.labels.jsonl")
    seen: dict[tuple[str, ...], tuple[float, dict]] = {}
    orig, orig_chance = communities.duplicate_share, scoring.chance_share
    drawing = []

    def spy(members, samples):
        share = orig(members, samples)
        if not drawing:  # a group's own share, not one of chance_share's random sets
            seen[tuple(sorted(members))] = (share, samples)
        return share

    def chance(members, samples, population):
        drawing.append(1)
        try:
            return orig_chance(members, samples, population)
        finally:
            drawing.pop()

    communities.duplicate_share = scoring.duplicate_share = spy
    scoring.chance_share = chance
    try:
        sig = scoring.score(tables).signals
    finally:
        communities.duplicate_share = scoring.duplicate_share = orig
        scoring.chance_share = orig_chance
    pool = sig[sig["n"] >= coord.MIN_REQUESTS]["account"].tolist()
    limit = scoring.MAX_DUPLICATE_SHARE
    out = []
    for members, (share, samples) in seen.items():
        if len(members) < scoring.MIN_CAMPAIGN or share <= limit:
            continue
        chance = communities.chance_share(list(members), samples, pool)
        styles: dict[str, int] = {}
        for a in members:
            st = labels.get(a, {}).get("style", "?")
            styles[st] = styles.get(st, 0) + 1
        excess = communities.excess_share(share, chance)
        out.append(
            {
                "log": log,
                "size": len(members),
                "share": round(share, 4),
                "chance": round(chance, 4),
                "excess": round(excess, 4),
                "styles": styles,
                "benign": sum(1 for a in members if labels.get(a, {}).get("label") != "campaign"),
                "old_refuses": True,
                "new_refuses": excess > limit,
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


if __name__ == "__main__":
    cache, dest, *logs = sys.argv[1:]
    rows = [r for log in logs for r in audit(cache, log)]
    with open(dest, "w") as fh:
        json.dump(rows, fh, indent=1)
