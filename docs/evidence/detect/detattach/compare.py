"""Before/after per log (runs/ev/A vs runs/ev/B): TPR, FPR, AUROC, TPR at 1%, ARI, benign in campaigns,
slow-and-low, accounts whose flag, score or campaign changed; then the sums."""

import json
import sys
from pathlib import Path

a_tag, b_tag = sys.argv[1], sys.argv[2]
tot = {}
for name in sys.argv[3:]:
    pa, pb = Path(f"runs/ev/{a_tag}/{name}.json"), Path(f"runs/ev/{b_tag}/{name}.json")
    if not (pa.exists() and pb.exists()):
        continue
    A, B = json.loads(pa.read_text()), json.loads(pb.read_text())
    ra, rb = A["rep"], B["rep"]
    ch = [x for x in B["accounts"] if A["accounts"][x][:3] != B["accounts"][x][:3]]
    newfp = [
        x for x in ch if B["accounts"][x][0] and not A["accounts"][x][0] and B["accounts"][x][3] in (None, "")
    ]
    sty = sorted({B["accounts"][x][3] or "?" for x in ch})
    cells = [
        f"{ra['tp']}/{ra['pos']} -> {rb['tp']}/{rb['pos']}",
        f"{ra['fp']}/{ra['neg']} -> {rb['fp']}/{rb['neg']}",
        f"{ra['auroc']:.4f} -> {rb['auroc']:.4f}",
        f"{ra['tpr1']} -> {rb['tpr1']}",
        f"{ra['ari']:.3f} -> {rb['ari']:.3f}",
        f"{ra['benign_camps']} -> {rb['benign_camps']}",
        f"{ra['sal']} -> {rb['sal']}",
        f"changed {len(ch)} {sty}",
    ]
    print(f"| {name} | " + " | ".join(cells) + " |")
    for k in ("tp", "pos", "fp", "neg"):
        tot[k + "a"] = tot.get(k + "a", 0) + ra[k]
        tot[k + "b"] = tot.get(k + "b", 0) + rb[k]
    sa = [int(x) for x in ra["sal"].split("/")]
    sb = [int(x) for x in rb["sal"].split("/")]
    tot["sala"] = tot.get("sala", 0) + sa[0]
    tot["salb"] = tot.get("salb", 0) + sb[0]
    tot["sal"] = tot.get("sal", 0) + sa[1]
print(tot)
