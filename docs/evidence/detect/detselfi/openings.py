"""detselfi: the self-instruct signature measured on the sampled prompts (20 per account, the engine's
samples): share of sample pairs opening with the same two words (instruction openings rotating over a
small seed set), and distinct two-word openings among the samples; missed campaign accounts vs the
benign accounts of >= 100 requests, per cached log: openings.py SEED ..."""

import sys
from itertools import combinations

import numpy as np

from distillscope import textsig
from distillscope.detect import scoring

sys.path.insert(0, "docs/evidence/detect/detselfi")
from diag import load  # noqa: E402


def opening_stats(texts):
    heads = [" ".join(textsig.normalise_prompt(t).split()[:2]) for t in texts if t and t.strip()]
    if len(heads) < 5:
        return np.nan, np.nan
    same = np.mean([a == b for a, b in combinations(heads, 2)])
    return same, len(set(heads)) / len(heads)


def main(seeds):
    for seed in seeds:
        t, labels = load(seed)
        s = scoring.score(t)
        fl = {a["account"]: a["flagged"] for a in s.accounts}
        samples = t["samples"].groupby("account")["sample_text"].apply(list).to_dict()
        rows = []
        for a, n in zip(s.signals["account"], s.signals["n"], strict=True):
            if n < 100:
                continue
            same, uniq = opening_stats(samples.get(a, []))
            lab = labels.get(a, {})
            rows.append((lab.get("label"), lab.get("style"), fl[a], same, uniq))
        print(f"== {seed}")
        styles = sorted({(r[0], r[1]) for r in rows})
        for label, st in styles:
            v = np.array([r[3] for r in rows if r[1] == st])
            m = np.array([r[3] for r in rows if r[1] == st and not r[2]])
            print(
                f"  {label:8s} {st:16s} n {len(v):4d} same-opening pairs q10/50/90 "
                f"{np.nanquantile(v, [0.1, 0.5, 0.9]).round(3)} max {np.nanmax(v):.3f}"
                + (f"  missed {np.sort(m).round(3)}" if label == "campaign" and len(m) else "")
            )


if __name__ == "__main__":
    main(sys.argv[1:])
