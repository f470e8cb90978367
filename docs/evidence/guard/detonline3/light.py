# ruff: noqa: SIM115, B007, E501
"""The template count alone, cheap: per account, the decayed (24 h) count of volume answers to new questions
whose opening opened 1 to CAP of the account's last 32 volume answers (CAP 4, 6, 8: variants c4, c6, c8),
an unbounded question ledger; the highest benign counts, and the online-style accounts acted on within 200
requests by main (MAINFIRST) or by the count alone at null means 4-10 (their union).
Usage: light.py NAME MAINFIRST(json|accounts.jsonl)"""

import json
import math
import pickle
import sys
from collections import Counter, deque

name, mainf = sys.argv[1:3]
pk = f"runs/x/{name}.pkl" if name in ("rnd2781", "rnd2782") else f"/work/wt/detself/runs/x/{name}.pkl"
data = pickle.load(open(pk, "rb"))
labels = {r["account"]: r for r in map(json.loads, open(pk.replace(".pkl", ".labels.jsonl")))}
if mainf.endswith(".json"):
    mf = {a: v[1] for a, v in json.load(open(mainf))["campaign_first"].items()}
else:
    mf = {r["account"]: r["first_action_request"] for r in map(json.loads, open(mainf))}
names = data["accounts"]
K = len(names)
MS = (4.0, 5.0, 6.0, 8.0, 10.0)
V = ("c4", "c6", "c8")


def pev(c, m, d=2.0):
    return 0.0 if c <= m else (c * math.log(c / m) - c + m) / (d * math.log(10))


TH = 10.0 + math.log10(8)
owner = {}
cnt = [[0.0] * 3 for _ in range(K)]
cts = [None] * K
n = [0] * K
mx = [[0.0] * 3 for _ in range(K)]
tq = [deque(maxlen=32) for _ in range(K)]
first = [[[None] * len(MS) for _ in V] for _ in range(K)]
for a, ts, lp, top, lb, cot, mt, hist, bk, q, op, wlp, ok, pt, ct, fr in data["rows"]:
    n[a] += 1
    new = own = False
    if q is not None:
        o = owner.get(q)
        if o is None:
            owner[q] = a
            new = True
        elif o == a:
            own = True
    if cts[a] is not None:
        f = 0.5 ** (max(ts - cts[a], 0.0) / 86400.0)
        c = cnt[a]
        c[0] *= f
        c[1] *= f
        c[2] *= f
    cts[a] = ts if cts[a] is None else max(ts, cts[a])
    if n[a] <= 200 or labels.get(names[a], {}).get("label") == "campaign":
        for v in range(3):
            fv = first[a][v]
            for i, m in enumerate(MS):
                if fv[i] is None and pev(cnt[a][v], m) >= TH:
                    fv[i] = n[a]
    if ct is None or hist or own or fr in ("tool_calls", "function_call"):
        continue
    p = pt if pt is not None else 0
    if ct < 128 or (p > 64 and ct < 8 * p):
        continue
    d = tq[a]
    t = op is not None and op in d
    if t and new:
        cc = Counter(d)
        k = cc[op]
        top_ = max(cc.values())
        if k <= 4:
            cnt[a][0] += 1
        if k <= 6:
            cnt[a][1] += 1
        if k <= 8:
            cnt[a][2] += 1
        for v in range(3):
            mx[a][v] = max(mx[a][v], cnt[a][v])
    if op is not None:
        d.append(op)
out = {}
for v, vn in enumerate(V):
    ben = sorted(
        (
            (round(mx[j][v], 1), labels[x].get("style"), x, n[j])
            for j, x in enumerate(names)
            if x in labels and labels[x]["label"] != "campaign"
        ),
        reverse=True,
    )[:6]
    line = []
    for i, m in enumerate(MS):
        hit = tot = 0
        gain = Counter()
        for j, x in enumerate(names):
            lab = labels.get(x)
            if not lab or lab["label"] != "campaign" or lab["style"] in ("hydra", "slow_and_low"):
                continue
            tot += 1
            f0 = mf.get(x)
            old = f0 is not None and f0 <= 200
            nw = first[j][v][i] is not None and first[j][v][i] <= 200
            hit += old or nw
            if nw and not old:
                gain[lab["style"]] += 1
        line.append(f"m{m:g}:{hit}/{tot}{dict(gain)}")
    print(name, vn, "benign", [(b[0], b[1], b[3]) for b in ben[:4]])
    print("   ", " ".join(line))
