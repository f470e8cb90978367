"""Lead, 2026-12-08 (a diagnosis; nothing in the detector uses it): would combining an account's reach and own
(harvest-or-content) tails, instead of the intersection-union the distillation playbook uses, separate the
solo extractors main misses from benign accounts? Scores cached tables (docs/evidence/detect/detslow/
harness.py prep) with today's main, then for every unflagged account: Fisher's combination of p_reach and
p_own (valid only if the two are independent for benign accounts, which is what this checks). Prints, per
log, the benign accounts' smallest combined p (and who), and each missed solo campaign account's. Reads
labels; the detector never does. usage: two_moderate.py CACHE_DIR NAME..."""

import pickle
import sys

from scipy.stats import combine_pvalues

from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels

GROUPED = ("hydra", "slow_and_low")


def fisher(p_reach: float, p_own: float) -> float:
    return float(combine_pvalues([max(p_reach, 1e-300), max(p_own, 1e-300)], method="fisher").pvalue)


def one(cache: str, name: str) -> None:
    with open(f"{cache}/{name}.pkl", "rb") as f:
        tables = pickle.load(f)
    labels = load_labels(f"{cache}/{name}.labels.jsonl")
    scored = scoring.score(tables)
    flagged = {a["account"] for a in scored.accounts if a["flagged"]}
    sig = scored.signals.set_index("account")
    benign, missed = [], []
    for a, lab in labels.items():
        if a in flagged or a not in sig.index:
            continue
        row = sig.loc[a]
        p = fisher(float(row["p_reach"]), float(row["p_own"]))
        if lab["label"] != "campaign":
            benign.append((p, lab["style"], a))
        elif lab["style"] not in GROUPED:
            missed.append((p, lab["style"], a))
    benign.sort()
    n_benign = sum(1 for lab in labels.values() if lab["label"] != "campaign")
    print(
        f"{name}: benign unflagged {len(benign)} of {n_benign}; smallest Fisher p:",
        ", ".join(f"{p:.1e} {s}" for p, s, _ in benign[:3]),
    )
    for p, style, a in sorted(missed):
        below = sum(1 for q, *_ in benign if q <= p)
        print(f"   missed {style:18s} {a} Fisher p {p:.1e}; benign at or below: {below}")


if __name__ == "__main__":
    cache = sys.argv[1]
    for name in sys.argv[2:]:
        one(cache, name)
        sys.stdout.flush()
