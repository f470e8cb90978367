"""Per-log metrics of runs/ev/{base,new}/*.json (det.py's outputs) as one small JSON (results.json)."""

import json
import sys
from pathlib import Path

out = {}
for path in sorted(Path("runs/ev/new").glob("*.json")):
    entry = {}
    for label in ("base", "new"):
        r = json.loads((Path("runs/ev") / label / path.name).read_text())
        d = r["at_default_threshold"]
        entry[label] = {
            "tp": d["tp"],
            "positives": d["positives"],
            "fp": d["fp"],
            "negatives": d["negatives"],
            "auroc": r["auroc"],
            "ari": r["grouping"]["ari"],
            "tpr_at_fpr_1pct": [r["tpr_at_fpr_1pct"]["tp"], r["tpr_at_fpr_1pct"]["positives"]],
            "benign_member_campaigns": r["grouping"]["predicted_campaigns_with_benign_member"],
            "agents": r["flag_rate_by_benign_style"].get("agent"),
            "flagged_benign": sorted(
                r["styles"][a["account"]]
                for a in r["accounts"]
                if a["flagged"] and r["styles"][a["account"]] not in r["recall_by_style"]
            ),
            "cpu_s": round(r["cpu_s"], 1),
        }
    out[path.stem] = entry
json.dump(out, sys.stdout, indent=1)
