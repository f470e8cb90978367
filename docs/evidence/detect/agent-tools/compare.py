"""Compare base vs new per log: table row + what changed."""

import json
import sys
from pathlib import Path

rows = []
tot = {"tp": 0, "pos": 0, "fp": 0, "neg": 0, "ag_b": 0, "ag_n": 0, "ag": 0}
for seed in sys.argv[2:]:
    name = f"{seed}-{sys.argv[1]}.json"
    pb, pn = Path("runs/ev/base") / name, Path("runs/ev/new") / name
    if not (pb.exists() and pn.exists()):
        continue
    b, n = json.loads(pb.read_text()), json.loads(pn.read_text())
    st = n["styles"]
    ab = {a["account"]: a for a in b["accounts"]}
    an = {a["account"]: a for a in n["accounts"]}
    changed = [
        a
        for a in an
        if (ab[a]["flagged"], round(ab[a]["score"], 6), ab[a]["campaign"])
        != (an[a]["flagged"], round(an[a]["score"], 6), an[a]["campaign"])
    ]
    nonagent = [a for a in changed if st[a] != "agent"]
    lost = [
        a
        for a in an
        if st.get(a) and ab[a]["flagged"] and not an[a]["flagged"] and st[a] != "agent" and a in ab
    ]
    camp_lost = [a for a in lost if b["styles"][a] in n["recall_by_style"]]
    d, g = n["at_default_threshold"], n["grouping"]
    db = b["at_default_threshold"]
    agb = b["flag_rate_by_benign_style"].get("agent", {"flagged": 0, "accounts": 0})
    agn = n["flag_rate_by_benign_style"].get("agent", {"flagged": 0, "accounts": 0})
    t1 = n["tpr_at_fpr_1pct"]
    others = ": " + ",".join(st[a] for a in nonagent) if nonagent else ""
    print(
        f"| {seed} | {db['tp']}/{db['positives']} -> {d['tp']}/{d['positives']} "
        f"| {db['fp']}/{db['negatives']} -> {d['fp']}/{d['negatives']} "
        f"| {b['auroc']:.4f} -> {n['auroc']:.4f} | {t1['tp']}/{t1['positives']} "
        f"| {b['grouping']['ari']:.3f} -> {g['ari']:.3f} "
        f"| {agb['flagged']}/{agb['accounts']} -> {agn['flagged']}/{agn['accounts']} "
        f"| changed: {len(changed)} ({len(nonagent)} not agents{others}); campaign lost: {len(camp_lost)} |"
    )
    tot["tp"] += d["tp"]
    tot["pos"] += d["positives"]
    tot["fp"] += d["fp"]
    tot["neg"] += d["negatives"]
    tot["ag_b"] += agb["flagged"]
    tot["ag_n"] += agn["flagged"]
    tot["ag"] += agn["accounts"]
print(tot)
