"""detselfi: how an account's verbatim-shared prompts are shared (from the raw log, Python): for each account,
the share of its shared prompts that its top co-asker also asks (concentrated: a benchmark, a class; spread:
collisions in a common space), and the median askers per shared prompt. coaskers.py SEED (runs/simSEED)."""

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np


def main(seed: str) -> None:
    prompts = defaultdict(set)
    for line in Path(f"runs/sim{seed}/exchanges.jsonl").read_text().splitlines():
        r = json.loads(line)
        msgs = r.get("messages") or []
        text = " ".join(m["content"] for m in msgs if m.get("role") == "user" and m.get("content"))[:300]
        prompts[r["account"]].add(text)
    labels = {
        json.loads(x)["account"]: json.loads(x)
        for x in Path(f"runs/sim{seed}/labels.jsonl").read_text().splitlines()
    }
    askers = defaultdict(list)
    for a, ps in prompts.items():
        for p in ps:
            askers[p].append(a)
    out = {}
    for a, ps in prompts.items():
        shared = [p for p in ps if len(askers[p]) >= 2]
        if len(ps) < 100:
            continue
        co = Counter(b for p in shared for b in askers[p] if b != a)
        top = co.most_common(1)[0][1] / len(shared) if shared else 0.0
        k = float(np.median([len(askers[p]) for p in shared])) if shared else 0.0
        out[a] = (labels[a]["style"], len(ps), len(shared) / len(ps), top, k)
    for _a, (st, d, sh, top, k) in sorted(out.items(), key=lambda x: (x[1][0], x[1][1])):
        print(f"{st:16s} {d:5d} shared {sh:.2f} top_coasker {top:.2f} median_askers {k:.0f}")


if __name__ == "__main__":
    main(sys.argv[1])
