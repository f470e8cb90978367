"""Design harness: an extracted log (extract.py) through ``RiskTracker`` and the default policy's rule.

Usage: python sim.py DIR NAME ['{"pool_askers": 3, "_share": 0.75}'] [TAG] with DIR/NAME.pkl and
DIR/NAME.labels.jsonl; writes DIR/res_NAME_TAG.json and prints the goals. Per request it does what
``guard replay`` with the default policy does for the goals: observe, then an account is acted on
when its score is at least 0.5 on a question not asked before (throttle) or its strip score at least
0.25 on a request asking log-probs (strip), then the answer is counted. It reproduced main's
``guard replay`` metrics exactly on 2731, 2732, 2743, 2744 and randomized 21, 22 (campaign counts by
style, benign accounts throttled, benign requests delayed). ``_share`` / ``_kept`` set the module's
POOL_SHARE / POOL_KEPT. Also recorded: the request at which each campaign account's gross harvest
first scores 0.5, when it was first pooled, benign accounts ever pooled and benign highest scores;
with the clock signal's code (``RiskTracker._night_answers``), for each ceiling of
:data:`CEILINGS` the request at which each campaign account's clock evidence alone first reaches the
throttle (``campaign_clock_first``), each benign account's highest clock evidence
(``benign_clock_max``) and the highest night share of benign accounts with 50 or more (decayed)
requests (``benign_share_top``). Analysis only: it decides nothing.
"""

import json
import math
import pickle
import resource
import sys
import time
from collections import Counter

import distillscope.guard.risk as risk
from distillscope.guard.risk import RequestFeatures, RiskSettings, RiskTracker

OFFLINE = {"hydra", "slow_and_low"}
#: Clock ceilings tried (the default is RiskSettings().null_rates["clock"]).
CEILINGS = (0.03, 0.05, 0.075, 0.1, 0.15)
#: The clock evidence that alone throttles: score 0.5 after the Bonferroni correction for 7 signals.
THROTTLE_DIGITS = 10.0 + math.log10(7)


class Clock:
    """Per-ceiling clock diagnostics (needs the clock signal's code)."""

    def __init__(self, k: int, campaign: set[int]) -> None:
        self.campaign = campaign
        self.first: list[list[int | None]] = [[None] * len(CEILINGS) for _ in range(k)]
        self.max = [[0.0] * len(CEILINGS) for _ in range(k)]
        self.share = [0.0] * k

    def see(self, tracker: RiskTracker, state: object, a: int, n: int) -> None:
        if getattr(state, "hours", None) is None:
            return
        total, night = state.counts[0], tracker._night_answers(state)  # type: ignore[attr-defined]
        if a not in self.campaign and total >= 50:
            self.share[a] = max(self.share[a], night / total)
        for c, ceiling in enumerate(CEILINGS):
            e = risk.binomial_evidence(night, total, ceiling)
            if a in self.campaign:
                if e >= THROTTLE_DIGITS and self.first[a][c] is None:
                    self.first[a][c] = n
            else:
                self.max[a][c] = max(self.max[a][c], e)

    def report(self, names: list[str], labels: dict, n: list[int]) -> dict:
        benign = [i for i, a in enumerate(names) if a in labels and i not in self.campaign]
        return {
            "clock_ceilings": CEILINGS,
            "campaign_clock_first": {names[i]: self.first[i] for i in sorted(self.campaign)},
            "benign_clock_max": {
                names[i]: (labels[names[i]].get("style"), n[i], self.max[i])
                for i in benign
                if self.max[i][0] > 0.5
            },
            "benign_share_top": sorted(
                ((round(self.share[i], 3), labels[names[i]].get("style"), names[i], n[i]) for i in benign),
                reverse=True,
            )[:8],
        }


def main(folder: str, name: str, kw: dict, tag: str) -> None:
    with open(f"{folder}/{name}.pkl", "rb") as handle:
        data = pickle.load(handle)
    with open(f"{folder}/{name}.labels.jsonl", encoding="utf-8") as handle:
        labels = {r["account"]: r for r in map(json.loads, handle)}
    opts = {k: kw.pop(k) for k in list(kw) if k.startswith("_")}
    risk.POOL_SHARE = opts.get("_share", risk.POOL_SHARE)
    risk.POOL_KEPT = opts.get("_kept", risk.POOL_KEPT)
    names = data["accounts"]
    tracker = RiskTracker(RiskSettings(**kw))
    k = len(names)
    n, delayed, maxs = [0] * k, [0] * k, [0.0] * k
    first, gfirst, pooled_at = [None] * k, [None] * k, [None] * k
    campaign = {i for i, a in enumerate(names) if labels.get(a, {}).get("label") == "campaign"}
    clock = Clock(k, campaign) if hasattr(tracker, "_night_answers") else None
    t0 = time.process_time()
    for a, ts, lp, top, lb, cot, mt, hist, bk, q, op, wlp, _ok, pt, ct, fr in data["rows"]:
        acct = names[a]
        f = RequestFeatures("", lp, top, lb, cot, mt, hist, bk, q, op)
        s = tracker.observe(acct, f, ts)
        n[a] += 1
        maxs[a] = max(maxs[a], s.score)
        throttle = s.score >= 0.5 and not f.asked_before
        delayed[a] += throttle
        if (throttle or (wlp and max(s.strip_score, s.score) >= 0.25)) and first[a] is None:
            first[a] = n[a]
        tracker.answered(acct, f, pt, ct, ts, fr)  # as guard replay: every answer not blocked
        state = tracker._accounts[acct]
        if clock is not None:
            clock.see(tracker, state, a, n[a])
        if pooled_at[a] is None and getattr(state, "pooled", False):
            pooled_at[a] = n[a]
        gross = a in campaign and n[a] <= 400 and gfirst[a] is None and hasattr(tracker, "_evidence")
        if gross and tracker._scores(tracker._evidence(state, ts, True)[0])[0] >= 0.5:
            gfirst[a] = n[a]
    cpu = time.process_time() - t0
    hit, total = Counter(), Counter()
    benign_thr, benign_pooled, benign_max, ben_del, ben_req = [], [], [], 0, 0
    firsts = {}
    for i, acct in enumerate(names):
        lab = labels.get(acct)
        if lab is None:
            continue
        if lab["label"] == "campaign":
            style = lab["style"]
            total[style] += 1
            hit[style] += first[i] is not None and first[i] <= 200
            if style not in OFFLINE:
                firsts[acct] = (style, first[i], n[i], gfirst[i], pooled_at[i])
            continue
        benign_max.append(maxs[i])
        ben_req += n[i]
        ben_del += delayed[i]
        if delayed[i]:
            benign_thr.append((acct, lab.get("style"), lab.get("group"), first[i], delayed[i], n[i]))
        if pooled_at[i] is not None:
            benign_pooled.append((acct, lab.get("style"), pooled_at[i], n[i]))
    online = [s for s in total if s not in OFFLINE]
    res = {
        "log": name,
        "tag": tag,
        "settings": {**kw, **opts},
        "online": f"{sum(hit[s] for s in online)}/{sum(total[s] for s in online)}",
        "styles": {s: f"{hit[s]}/{total[s]}" for s in sorted(total)},
        "benign_throttled": f"{len(benign_thr)}/{len(benign_max)}",
        "benign_delayed": f"{ben_del}/{ben_req}",
        "benign_pooled": len(benign_pooled),
        "benign_max_ge": {t: sum(m >= t for m in benign_max) for t in (0.2, 0.3, 0.4, 0.5)},
        "cpu_s": round(cpu, 1),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(res))
    extra = {
        "benign_throttled_list": benign_thr,
        "campaign_first": firsts,
        "benign_pooled_accounts": benign_pooled,
        **(clock.report(names, labels, n) if clock is not None else {}),
    }
    with open(f"{folder}/res_{name}_{tag}.json", "w", encoding="utf-8") as handle:
        json.dump({**res, **extra}, handle)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], json.loads(args[2]) if len(args) > 2 else {}, args[3] if len(args) > 3 else "x")
