"""One line per scored run (detscale/score.py JSON): brief.py r1.json r2.json ..."""

import json
import sys
from pathlib import Path

for path in sys.argv[1:]:
    d = json.loads(Path(path).read_text())
    g, e = d["goals"], d["evaluation"]
    si = g["style_recall>=0.8"][0]
    low = {k: v for k, v in si.items() if eval(v.replace("/", "/")) < 0.8 or k == "self_instruct"}
    print(
        path,
        "TPR",
        g["tpr>=0.95"][0],
        "FP",
        g["fpr<=0.005"][0],
        "AUROC",
        round(e["auroc"], 5),
        "TPR@1%",
        g["tpr_at_fpr1%>=0.95"][0],
        "benign-in-camp",
        g["no_benign_in_campaign"][0],
        "ARI",
        round(e["grouping"]["ari"], 3),
        low,
        "cpu",
        d.get("cpu_s"),
    )
