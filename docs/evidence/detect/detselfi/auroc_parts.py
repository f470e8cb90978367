"""detselfi: which missed accounts cost AUROC (main's detect output): AUROC overall, then with each campaign
style's accounts left out, and the missed accounts' scores against the benign score distribution:
auroc_parts.py SIM_DIR DET_DIR"""

import json
import sys
from pathlib import Path

import numpy as np


def auroc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return gt / (len(pos) * len(neg))


def main(sim, det):
    lab = {
        json.loads(x)["account"]: json.loads(x) for x in Path(f"{sim}/labels.jsonl").read_text().splitlines()
    }
    acc = [json.loads(x) for x in Path(f"{det}/accounts.jsonl").read_text().splitlines()]
    sc = {a["account"]: a["score"] for a in acc}
    pos = {a: sc[a] for a, r in lab.items() if r["label"] == "campaign" and a in sc}
    neg = np.array([sc[a] for a, r in lab.items() if r["label"] == "benign" and a in sc])
    at_zero = int((neg == 0).sum())
    print("AUROC", round(auroc(list(pos.values()), neg), 5), "benign at score 0:", at_zero, "/", len(neg))
    styles = sorted({lab[a]["style"] for a in pos})
    for st in styles:
        rest = [v for a, v in pos.items() if lab[a]["style"] != st]
        print(f"  without {st:16s} {auroc(rest, neg):.5f}")
    for a, v in sorted(pos.items(), key=lambda x: x[1]):
        if v < 0.5:
            above, tied = (neg > v).sum(), (neg == v).sum()
            print(f"  missed {lab[a]['style']:16s} score {v:.3f} benign above it {above} tied {tied}")


if __name__ == "__main__":
    main(*sys.argv[1:])
