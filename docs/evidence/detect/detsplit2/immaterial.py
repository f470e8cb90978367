"""detsplit2 diagnostic: coordinated groups that pass their behaviour test but collect too little.

``scoring.collects_enough`` (a materiality condition, not a test) refuses a group whose pooled reach is not in
the log's top 1%. A slow-and-low campaign cut into topic groups leaves small pieces below that bar (2862:
seven members, pooled reach p 0.0103). For every group of every coordination round that reached that gate
(its test at alpha, enough members) and was refused there, this prints its composition (labels), its p-value
and pooled reach, whether it would also fail the duplicate gate, and which campaign ``join_pieces`` would join
it to, given the campaigns found (the piece next to them as one more campaign).
Usage: immaterial.py NAME... It reads labels; the detector never does."""

import sys

import numpy as np

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels

sys.path.insert(0, "docs/evidence/detect/detsplit2")
import diag  # noqa: E402


def main(name: str) -> None:
    labels = load_labels(f"runs/cache/{name}.labels.jsonl")
    refused = []
    orig = scoring.collects_enough

    def spy(grp, rows, p_reach, tuning):
        ok = orig(grp, rows, p_reach, tuning)
        if not ok:
            refused.append((grp, list(grp.members), p_reach))
        return ok

    scoring.collects_enough = spy
    try:
        cap = diag.capture(name)
    finally:
        scoring.collects_enough = orig
    campaigns = cap["campaigns"]
    flagged = {a["account"] for a in cap["scored"].accounts if a["flagged"]}

    def who(ms: list[str]) -> str:
        return diag.label_mix(labels, ms, 4)

    print(f"{name}: {len(refused)} groups refused by collects_enough")
    for grp, members, p_reach in refused:
        fresh = [a for a in members if a not in flagged]
        extra = {"piece": members}
        joins = coord.join_pieces(
            {**campaigns, **extra}, cap["sig"], cap["samples"], None, cap["pool"], cap["machine_p"]
        )
        into = joins.get("piece") or next((p for p, c in joins.items() if c == "piece"), None)
        target = campaigns.get(into, []) if into and into != "piece" else []
        print(
            f"  {grp.grouped_on:8s} size {len(grp.tied)} kept {len(members)} [{who(members)}] "
            f"p {grp.p_value:.2g} selected {grp.selected} pooled-reach p {p_reach:.3g} "
            f"not flagged {len(fresh)} | join_pieces -> {into and into[:10]} "
            f"[{who(target) if target else '-'}]"
        )
    n_big = np.median([len(v) for v in campaigns.values()]) if campaigns else 0
    print(f"  ({len(campaigns)} campaigns given to join_pieces, median size {n_big})")


if __name__ == "__main__":
    for n in sys.argv[1:]:
        main(n)
