"""Per-log differences between two variants' dev results: cmp.py TAG_A TAG_B (flags gained/lost by style)."""

import collections
import glob
import json
import os
import sys


def main() -> None:
    a, b = sys.argv[1], sys.argv[2]
    for f in sorted(glob.glob(f"runs/ev/{b}/*.json")):
        name = os.path.basename(f)
        fa = f"runs/ev/{a}/{name}"
        if not os.path.exists(fa):
            continue
        with open(fa) as ha, open(f) as hb:
            old, new = json.load(ha), json.load(hb)
        ra, rb = old["rep"], new["rep"]
        gain: collections.Counter = collections.Counter()
        lose: collections.Counter = collections.Counter()
        for acc, v in new["accounts"].items():
            u = old["accounts"].get(acc)
            if u is not None and v[0] != u[0]:
                (gain if v[0] else lose)[v[3]] += 1
        if gain or lose or ra["ari"] != rb["ari"] or ra["benign_camps"] != rb["benign_camps"]:
            print(
                f"{name[:-5]:10s} TP {ra['tp']}->{rb['tp']}/{rb['pos']} FP {ra['fp']}->{rb['fp']} "
                f"benign-in-campaign {ra['benign_camps']}->{rb['benign_camps']} "
                f"ARI {ra['ari']:.3f}->{rb['ari']:.3f} "
                f"AUROC {ra['auroc']:.4f}->{rb['auroc']:.4f} gained {dict(gain)} lost {dict(lose)}"
            )


if __name__ == "__main__":
    main()
