"""Location/scale of one signal on the dev logs: the benign accounts' median/MAD (the target), the whole log's
(main), and the one-sided fit (calibrate.lower_location_scale): est.py SIGNAL > est-SIGNAL.txt."""

import glob
import pickle
import sys

import numpy as np

from distillscope.detect import calibrate as cal
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels


def main() -> None:
    col = sys.argv[1]
    floor = next(s.scale_floor for s in scoring.SPECS if s.column == col)
    for pkl in sorted(glob.glob("runs/cache/*.pkl")):
        with open(pkl, "rb") as fh:
            t = pickle.load(fh)
        lab = load_labels(pkl.replace(".pkl", ".labels.jsonl"))
        acc = scoring.account_frame(t)
        sig = scoring.signal_table(acc, scoring.samples_by_account(t), None, t["hours"])
        camp = sig["account"].map(lambda a, lab=lab: lab[a]["label"] == "campaign").to_numpy()
        v = sig[col].to_numpy(float)
        ok = np.isfinite(v)
        v, camp = v[ok], camp[ok]
        mb, sb = cal.median_mad(v[~camp])
        ma, sa = cal.median_mad(v)
        m1, s1 = cal.lower_location_scale(v, floor)
        print(
            f"{pkl.split('/')[-1][:-4]:10s} campaign share {camp.mean():.2f} benign {mb:.2f}/{sb:.2f} "
            f"whole log {ma:.2f}/{sa:.2f} one-sided {m1:.2f}/{s1:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
