"""Compare two development sweeps (harness JSON per log): per log TP, FP, ARI, campaigns with a benign member,
accounts newly flagged or unflagged (with their styles), scores changed, and the pool groups tested.

Usage: python docs/evidence/detect/detpool/compare.py BASE_DIR NEW_DIR > dev.json"""

import json
import sys
from collections import Counter
from pathlib import Path

BENIGN = {"ordinary", "agent", "batch_customer", "cgnat", "corporate_nat", "eval_harness", "rag_app",
          "university", "vpn_user", None}  # fmt: skip


def main() -> None:
    base, new = Path(sys.argv[1]), Path(sys.argv[2])
    out = {}
    for f in sorted(new.glob("*-*.json")):
        if f.name.endswith(".pools.json") or not (base / f.name).exists():
            continue
        a, b = json.loads((base / f.name).read_text()), json.loads(f.read_text())
        acc_a, acc_b = a["accounts"], b["accounts"]
        flagged = Counter(acc_b[k][3] for k in acc_b if acc_b[k][0] and not acc_a[k][0])
        unflagged = Counter(acc_a[k][3] for k in acc_a if acc_a[k][0] and not acc_b[k][0])
        rescored = sum(1 for k in acc_a if acc_a[k][1] != acc_b[k][1])
        rescored_benign = sum(1 for k in acc_a if acc_a[k][1] != acc_b[k][1] and acc_a[k][3] in BENIGN)
        pools = f.with_name(f.name.replace(".json", ".pools.json"))
        keys = ["tp", "pos", "fp", "neg", "ari", "benign_camps", "ncamp", "sal", "cpu_s"]
        out[f.stem] = {
            "base": {k: a["rep"][k] for k in keys},
            "new": {k: b["rep"][k] for k in keys},
            "newly_flagged": dict(flagged),
            "unflagged": dict(unflagged),
            "rescored": rescored,
            "rescored_benign": rescored_benign,
            "pools": json.loads(pools.read_text()) if pools.exists() else [],
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
