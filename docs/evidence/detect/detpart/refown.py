"""detpart: narrowness ("own", partnull.narrowness: mean highest character-TF-IDF similarity of each sampled
prompt to the account's own other prompts) of the reference_sample of every account with >= 2 samples, per
labelled style: how rare is a slow-and-low member's narrowness among benign accounts? Reads labels; the
detector never does. Usage: refown.py NAME..."""

import pickle
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from partnull import narrowness  # noqa: E402

from distillscope.detect import coordination as coord  # noqa: E402
from distillscope.detect.evaluation import load_labels  # noqa: E402
from distillscope.detect.signals import samples_by_account  # noqa: E402

for name in sys.argv[1:]:
    with open(f"runs/cache/{name}.pkl", "rb") as f:
        tables = pickle.load(f)
    labels = load_labels(f"runs/cache/{name}.labels.jsonl")
    samples = samples_by_account(tables)
    ref = coord.reference_sample(sorted(a for a in samples if len(samples[a]) >= 2))
    everyone = sorted(set(ref) | {a for a in samples if labels[a]["style"] == "slow_and_low"})
    own = narrowness(everyone, samples)
    by = defaultdict(list)
    for a in everyone:
        if np.isfinite(own[a]) and (a in set(ref) or labels[a]["style"] == "slow_and_low"):
            by[(labels[a]["label"], labels[a]["style"])].append(own[a])
    benign = np.array([own[a] for a in ref if labels[a]["label"] != "campaign" and np.isfinite(own[a])])
    q = np.percentile(benign, [50, 90, 95, 99])
    print(
        f"== {name}: reference {len(ref)}; benign own p50 {q[0]:.3f} p90 {q[1]:.3f} p95 {q[2]:.3f} p99 {q[3]:.3f}"  # noqa: E501
    )
    camp = np.array(by.get(("campaign", "slow_and_low"), []))
    if len(camp):
        tails = np.array([(benign >= x).mean() for x in camp])
        print(
            f"   slow-and-low (all {len(camp)}): own p5 {np.percentile(camp, 5):.3f} p50 {np.median(camp):.3f}; "  # noqa: E501
            f"tail among benign reference p50 {np.median(tails):.4f} p90 {np.percentile(tails, 90):.4f}, "
            f"<= 0.001: {int((tails <= 0.001).sum())}"
        )
    for (lab, style), v in sorted(by.items()):
        v = np.array(v)
        print(
            f"   {lab:9s} {style:16s} n {len(v):4d} p50 {np.median(v):.3f} max {v.max():.3f} >=0.5 {int((v >= 0.5).sum())}"  # noqa: E501
        )
