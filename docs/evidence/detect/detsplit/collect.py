"""Gather the development sweep (runs/ev/TAG/*.json from sweep.py) against main's: per log TP, FP,
campaigns with a benign member, ARI, campaigns, and whether every account's flag and score are identical.

Usage: python collect.py NEW BASE [BASE2 ...] > results.json  (the first base holding a log is used;
BASE2 for logs the first lacks, e.g. detgate's runs/ev/gate2 and this branch's runs/ev/main)."""

import json
import sys
from pathlib import Path


def main() -> None:
    new, bases = Path(sys.argv[1]), [Path(b) for b in sys.argv[2:]]
    out = {}
    for f in sorted(new.glob("*.json")):
        base = next((b / f.name for b in bases if (b / f.name).exists()), None)
        if base is None:
            continue
        n, b = json.loads(f.read_text()), json.loads(base.read_text())
        same = all(n["accounts"][a][:2] == b["accounts"][a][:2] for a in b["accounts"]) and set(
            n["accounts"]
        ) == set(b["accounts"])
        keys = ("tp", "pos", "fp", "neg", "benign_camps", "ari", "ncamp", "sal", "cpu_s")
        out[f.stem] = {
            "base": {k: b["rep"][k] for k in keys},
            "new": {k: n["rep"][k] for k in keys},
            "flags_and_scores_identical": same,
            "base_from": str(base.parent),
        }
    json.dump(out, sys.stdout, indent=1)
    print()
    for log, r in out.items():
        b, n = r["base"], r["new"]
        print(
            f"{log:10s} TP {b['tp']}->{n['tp']}/{n['pos']} FP {b['fp']}->{n['fp']}/{n['neg']} "
            f"benign camps {b['benign_camps']}->{n['benign_camps']} ARI {b['ari']:.3f}->{n['ari']:.3f} "
            f"camps {b['ncamp']}->{n['ncamp']} identical={r['flags_and_scores_identical']}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
