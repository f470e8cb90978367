"""detsolo: compare two harness runs on the cached development tables (runs/ev/A, runs/ev/B, written by
detgroups/harness.py via dev.py) log by log: TP/positives, FP/negatives, AUROC, TPR at FPR <= 1%, ARI,
campaigns with a benign member, and every account whose flag changed (style, label). Usage:
compare_dev.py runs/ev/base runs/ev/solo > dev.json"""

import json
import sys
from collections import Counter
from pathlib import Path


def main() -> None:
    a_dir, b_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out, tot = {}, Counter()
    for fa in sorted(a_dir.glob("*.json")):
        fb = b_dir / fa.name
        if not fb.exists():
            continue
        a, b = json.loads(fa.read_text()), json.loads(fb.read_text())
        gained = Counter(v[3] for k, v in b["accounts"].items() if v[0] and not a["accounts"][k][0])
        lost = Counter(v[3] for k, v in a["accounts"].items() if v[0] and not b["accounts"][k][0])
        keys = ("tp", "pos", "fp", "neg", "auroc", "tpr1", "ari", "benign_camps")
        out[fa.stem] = {
            "base": {k: a["rep"][k] for k in keys},
            "new": {k: b["rep"][k] for k in keys},
            "gained": dict(gained),
            "lost": dict(lost),
        }
        for k in ("tp", "pos", "fp", "neg"):
            tot[f"base_{k}"] += a["rep"][k]
            tot[f"new_{k}"] += b["rep"][k]
        tot.update({f"gained:{s}": c for s, c in gained.items()})
        tot.update({f"lost:{s}": c for s, c in lost.items()})
    print(json.dumps({"logs": out, "total": dict(tot)}, indent=1))


if __name__ == "__main__":
    main()
