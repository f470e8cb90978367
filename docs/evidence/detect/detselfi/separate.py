"""detselfi separation: for candidate volume-like signals, the one-sided robust z (as reach is calibrated) of
the campaign accounts main leaves unflagged against the benign accounts (unexplained ones, and all), per
cached log: separate.py SEED ..."""

import sys

import numpy as np

from distillscope.detect import calibrate as cal
from distillscope.detect import scoring

sys.path.insert(0, "docs/evidence/detect/detselfi")
from diag import load  # noqa: E402


def candidates(sig):
    d = sig["distinct_prompts"].to_numpy(float)
    tok = sig["answer_tokens"].to_numpy(float)
    lp = 1.0 + sig["lp_rate"].to_numpy(float) * sig["mean_top_lp"].to_numpy(float)
    n = sig["n"].to_numpy(float)
    return {
        "reach": sig["reach"].to_numpy(float),
        "gross": np.log(np.maximum(d, 1) * tok * lp),
        "tokens": np.log(np.maximum(n, 1) * tok * lp),
    }


def main(seeds):
    for seed in seeds:
        t, labels = load(seed)
        s = scoring.score(t)
        sig = s.signals
        fl = {a["account"]: a["flagged"] for a in s.accounts}
        lab = np.array([labels.get(a, {}).get("label") for a in sig["account"]])
        sty = np.array([labels.get(a, {}).get("style") for a in sig["account"]])
        flag = np.array([fl[a] for a in sig["account"]])
        unexp = (sig["explained"] == "").to_numpy()
        ben = lab == "benign"
        miss = (lab == "campaign") & ~flag & (sig["n"].to_numpy() >= 100)
        n_unexp = (ben & unexp).sum()
        print(f"== {seed}: missed (n>=100) {miss.sum()}, benign {ben.sum()} (unexplained {n_unexp})")
        for name, v in candidates(sig).items():
            m, sc = cal.lower_location_scale(v[np.isfinite(v)], 0.5)
            z = (v - m) / max(sc, 0.5)
            top = np.sort(z[ben & unexp])[::-1][:5]
            topall = np.sort(z[ben])[::-1][:3]
            mz = sorted(zip(np.round(z[miss], 2), sty[miss], strict=True), reverse=True)
            print(f"  {name:7s} benign unexplained top {np.round(top, 2)} all {np.round(topall, 2)}")
            print("          missed", [f"{a}:{b[:6]}" for a, b in mz])


if __name__ == "__main__":
    main(sys.argv[1:])
