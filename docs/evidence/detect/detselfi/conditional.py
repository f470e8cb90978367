"""detselfi: the longest session conditional on reach (detsolo's next idea). Per cached log: fit long_session
against reach on the log's accounts (robust line: median of bins, then MAD of residuals), print the residual
z of missed campaign accounts vs the largest benign ones: conditional.py SEED ..."""

import sys

import numpy as np

from distillscope.detect import calibrate as cal
from distillscope.detect import scoring

sys.path.insert(0, "docs/evidence/detect/detselfi")
from diag import load  # noqa: E402


def residual_z(x, y, mask):
    # robust line through the bulk: least absolute deviations by iteratively reweighted LS
    X = np.c_[np.ones(mask.sum()), x[mask]]
    w = np.ones(mask.sum())
    beta = np.zeros(2)
    for _ in range(50):
        W = np.sqrt(w)
        beta = np.linalg.lstsq(X * W[:, None], y[mask] * W, rcond=None)[0]
        r = y[mask] - X @ beta
        w = 1.0 / np.maximum(np.abs(r), 1e-3)
    r_all = y - (beta[0] + beta[1] * x)
    m, s = cal.median_mad(r_all[mask])
    return (r_all - m) / max(s, 0.2), beta, s


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
        n = sig["n"].to_numpy(float)
        ben = lab == "benign"
        miss = (lab == "campaign") & ~flag & (n >= 100)
        reach = sig["reach"].to_numpy(float)
        ls = sig["long_session"].to_numpy(float)
        fit = n >= 10
        z, beta, sc = residual_z(reach, ls, fit)
        pz = np.clip(cal.norm.sf(z), 1e-16, 1)
        comb = sig["p_reach"].to_numpy() * pz  # product (not a p-value; a ranking)
        print(f"== {seed}: line {beta.round(3)}, scale {sc:.3f}")
        sel = ben & unexp & (sig["p_reach_log"].to_numpy() <= 0.5)
        top = np.argsort(-z * sel)[:6]
        best = [(round(z[i], 2), sty[i], int(n[i])) for i in top]
        print("  benign (unexplained, typical reach) top resid z", best)
        topc = np.argsort(np.where(sel, comb, 1))[:5]
        print("  benign smallest p_reach x p_resid", [f"{comb[i]:.1e}:{sty[i]}" for i in topc])
        for i in np.where(miss)[0]:
            pr = sig["p_reach"].iloc[i]
            print(
                f"   miss {sty[i]:16s} n {int(n[i]):5d} z_resid {z[i]:5.2f} p_reach {pr:.1e}",
                f"prod {comb[i]:.1e}",
            )


if __name__ == "__main__":
    main(sys.argv[1:])
