"""Totals of a variant's dev results per log set: summ.py TAG [TAG ...] (reads runs/ev/TAG/*.json)."""

import collections
import glob
import json
import sys

SETS = (("small", "*-220.json"), ("big", "*-600.json"), ("2701", "2701-*.json"), ("2702", "2702-*.json"))


def main() -> None:
    for tag in sys.argv[1:]:
        for name, pattern in SETS:
            files = sorted(glob.glob(f"runs/ev/{tag}/{pattern}"))
            if not files:
                continue
            t: collections.Counter = collections.Counter()
            for f in files:
                with open(f) as fh:
                    r = json.load(fh)["rep"]
                for k in ("tp", "pos", "fp", "neg", "benign_camps", "tpr1"):
                    t[k] += r[k]
                t["auroc"] += r["auroc"]
                t["ari"] += r["ari"]
            n = len(files)
            print(
                f"{tag:10s} {name:6s} n={n:2d} TP {t['tp']}/{t['pos']} FP {t['fp']}/{t['neg']} "
                f"benign-in-campaign {t['benign_camps']} TPR@1% {t['tpr1']} mean AUROC {t['auroc'] / n:.4f} "
                f"mean ARI {t['ari'] / n:.3f}"
            )


if __name__ == "__main__":
    main()
