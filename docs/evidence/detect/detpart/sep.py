"""detpart: campaign vs ordinary members of the passing topic groups in partdiag.py's output (own narrowness,
excl = own - cross). Usage: sep.py part_NAME.txt... It reads the labels partdiag.py printed."""

import re
import sys

import numpy as np

for path in sys.argv[1:]:
    camp, ordn = [], []
    passing = False
    with open(path) as f:
        for line in f:
            if line.startswith("group"):
                passing = "passing=True" in line
            elif passing and line.startswith("      "):
                style = line.split()[0]
                d = dict(re.findall(r"(\w+)=(-?[\d.]+)", line))
                row = [float(d[k]) for k in ("own", "cross", "excl", "dup")]
                (camp if style == "slow_and_low" else ordn).append((style, row))
    c = np.array([r for _, r in camp])
    o = np.array([r for _, r in ordn])
    print(
        path,
        "campaign n",
        len(c),
        "own p0/p5/p50",
        np.round(np.percentile(c[:, 0], [0, 5, 50]), 3),
        "excl p0/p5/p50",
        np.round(np.percentile(c[:, 2], [0, 5, 50]), 3),
    )
    print(
        "  ordinary n",
        len(o),
        "own max/p95/p50",
        np.round(np.percentile(o[:, 0], [100, 95, 50]), 3),
        "excl max/p95/p50",
        np.round(np.percentile(o[:, 2], [100, 95, 50]), 3),
    )
    print("  ordinary top own:", sorted([(round(r[0], 2), s) for s, r in ordn], reverse=True)[:6])
