# ruff: noqa: SIM115, B007, E501
"""Design harness (after detself's sim.py): replay an extracted log through RiskTracker + the default
policy's throttle/strip rule; the template signal's null mean is varied post hoc.
Usage: sim.py PICKLE LABELS OUT.json [json RiskSettings kwargs]"""

import json
import math
import pickle
import resource
import sys
import time
from collections import Counter

import distillscope.guard.risk as R
from distillscope.guard.risk import RequestFeatures, RiskSettings, RiskTracker

OFFLINE = {"hydra", "slow_and_low"}
MS = (4.0, 5.0, 6.0, 8.0, 1e9)
pkl, lab_path, out = sys.argv[1:4]
kw = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
data = pickle.load(open(pkl, "rb"))
labels = {r["account"]: r for r in map(json.loads, open(lab_path))}
names = data["accounts"]
tracker = RiskTracker(RiskSettings(**kw))
cfg = tracker.config
tests = math.log10(len(R.FEATURES))
K = len(names)
n = [0] * K
first = [[None] * len(MS) for _ in range(K)]
delayed = [[0] * len(MS) for _ in range(K)]
tmax = [0.0] * K  # highest decayed templated count (as scored)
t0 = time.process_time()
for a, ts, lp, top, lb, cot, mt, hist, bk, q, op, wlp, ok, pt, ct, fr in data["rows"]:
    acct = names[a]
    f = RequestFeatures("", lp, top, lb, cot, mt, hist, bk, q, op)
    s = tracker.observe(acct, f, ts)
    n[a] += 1
    ev = s.features
    st = tracker._accounts[acct]
    tcount = st.templated * tracker._volume_decay(st, ts)
    if tcount > tmax[a]:
        tmax[a] = tcount
    base = max(
        R.fisher_evidence(ev["cot"], ev["volume"]),
        *(ev[k] for k in R.FEATURES if k not in ("logprobs", "template")),
    )
    for i, m in enumerate(MS):
        beh = max(base, R.poisson_evidence(tcount, m, cfg.volume_dispersion)) - tests
        thr = beh >= 10.0 and not f.asked_before
        strip = wlp and max(beh, ev["logprobs"] - tests) >= 5.0
        if thr:
            delayed[a][i] += 1
        if (thr or strip) and first[a][i] is None:
            first[a][i] = n[a]
    tracker.answered(acct, f, pt, ct, ts, fr)
cpu = time.process_time() - t0
res = {
    "settings": kw,
    "means": MS,
    "cpu_s": round(cpu, 1),
    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    "per_mean": {},
}
for i, m in enumerate(MS):
    hit, tot = Counter(), Counter()
    bthr, bdel, breq, bn, groups = [], 0, 0, 0, {}
    misses = []
    for j, acct in enumerate(names):
        lab = labels.get(acct)
        if lab is None:
            continue
        if lab["label"] == "campaign":
            stl = lab["style"]
            tot[stl] += 1
            ok = first[j][i] is not None and first[j][i] <= 200
            hit[stl] += ok
            if not ok and stl not in OFFLINE:
                misses.append((stl, acct, first[j][i], n[j]))
        else:
            g = lab.get("style")
            bn += 1
            breq += n[j]
            bdel += delayed[j][i]
            gg = groups.setdefault(g, [0, 0, 0, 0])
            gg[0] += bool(delayed[j][i])
            gg[1] += 1
            gg[2] += delayed[j][i]
            gg[3] += n[j]
            if delayed[j][i]:
                bthr.append((acct, g, first[j][i], delayed[j][i], n[j]))
    online = [s for s in tot if s not in OFFLINE]
    res["per_mean"][str(m)] = {
        "online": f"{sum(hit[s] for s in online)}/{sum(tot[s] for s in online)}",
        "styles": {s: f"{hit[s]}/{tot[s]}" for s in sorted(tot)},
        "benign_throttled": f"{len(bthr)}/{bn}",
        "benign_delayed": f"{bdel}/{breq}",
        "benign_list": bthr,
        "groups": groups,
        "misses": misses,
    }
ben = [
    (round(tmax[j], 1), labels[a].get("style"), a, n[j])
    for j, a in enumerate(names)
    if a in labels and labels[a]["label"] != "campaign"
]
res["benign_template_top"] = sorted(ben, reverse=True)[:10]
res["campaign_first"] = {
    a: (labels[a]["style"], first[j])
    for j, a in enumerate(names)
    if a in labels and labels[a]["label"] == "campaign"
}
json.dump(res, open(out, "w"))
for m in MS:
    r = res["per_mean"][str(m)]
    print(m, r["online"], r["styles"], r["benign_throttled"], r["benign_delayed"])
print("benign top", res["benign_template_top"][:5], "cpu", res["cpu_s"])
