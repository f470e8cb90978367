"""detselfi prototype: the reach with prompts shared only with accounts already flagged (main's detect output)
counted as novel. From the raw log (Python), per seed: one-sided reach z of main's missed campaign accounts vs
the benign accounts (unexplained) before and after: proto_novel.py SEED ..."""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from distillscope.detect import calibrate as cal
from distillscope.detect import scoring

sys.path.insert(0, "docs/evidence/detect/detselfi")
from diag import load  # noqa: E402


def asked(seed):
    prompts = defaultdict(set)
    for line in Path(f"runs/sim{seed}/exchanges.jsonl").read_text().splitlines():
        r = json.loads(line)
        msgs = r.get("messages") or []
        text = "\n".join(m["content"] for m in msgs if m.get("role") == "user" and m.get("content"))[:300]
        prompts[r["account"]].add(text)
    return prompts


def main(seeds):
    for seed in seeds:
        t, labels = load(seed)
        s = scoring.score(t)
        sig = s.signals
        alpha = 1e-3
        flagged_solo = set(sig.loc[sig["p_account"] <= alpha, "account"])
        prompts = asked(seed)
        askers = defaultdict(list)
        for a, ps in prompts.items():
            for p in ps:
                askers[p].append(a)
        newshared = []
        for a in sig["account"]:
            k = 0
            for p in prompts.get(a, ()):
                others = [b for b in askers[p] if b != a]
                if others and any(b not in flagged_solo for b in others):
                    k += 1
            newshared.append(k)
        newshared = np.array(newshared, float)
        tok = sig["answer_tokens"].to_numpy(float)
        lp = 1 + sig["lp_rate"].to_numpy(float) * sig["mean_top_lp"].to_numpy(float)
        d = sig["distinct_prompts"].to_numpy(float)
        old = sig["reach"].to_numpy(float)
        new = np.log(np.maximum(d - newshared, 1) * tok * lp)
        fl = {a["account"]: a["flagged"] for a in s.accounts}
        lab = np.array([labels.get(a, {}).get("label") for a in sig["account"]])
        sty = np.array([labels.get(a, {}).get("style") for a in sig["account"]])
        flag = np.array([fl[a] for a in sig["account"]])
        unexp = (sig["explained"] == "").to_numpy()
        ben = lab == "benign"
        miss = (lab == "campaign") & ~flag & (sig["n"].to_numpy() >= 100)
        print(f"== {seed}: shared sums old {sig['shared_prompts'].sum():.0f} new {newshared.sum():.0f}")
        for name, v in (("old", old), ("new", new)):
            m, sc = cal.lower_location_scale(v, 0.5)
            z = (v - m) / max(sc, 0.5)
            top = np.argsort(-np.where(ben & unexp, z, -9))[:5]
            best = [(round(z[i], 2), sty[i]) for i in top]
            print(f"  {name} fit {m:.2f}/{sc:.2f} benign unexplained top", best)
            missed = sorted([(round(z[i], 2), sty[i][:6]) for i in np.where(miss)[0]], reverse=True)
            print("       missed", missed)
            topall = np.argsort(-np.where(ben, z, -9))[:4]
            why = sig["explained"]
            print("       benign all top", [(round(z[i], 2), sty[i], why.iloc[i][:12]) for i in topall])


if __name__ == "__main__":
    main(sys.argv[1:])
