"""Compare two harness runs (runs/ev/A, runs/ev/B) log by log: the measures of each, and every account
whose flag changed with its style. Usage: compare.py A B [NAME...] (default: every log both ran)."""

import json
import sys
from collections import Counter
from pathlib import Path


def main() -> None:
    a, b = Path("runs/ev") / sys.argv[1], Path("runs/ev") / sys.argv[2]
    names = sys.argv[3:] or sorted(p.stem for p in a.glob("*.json") if (b / p.name).exists())
    out = {}
    for n in names:
        x, y = (json.loads((d / f"{n}.json").read_text()) for d in (a, b))
        gained = Counter(
            y["accounts"][k][3] for k in y["accounts"] if y["accounts"][k][0] and not x["accounts"][k][0]
        )
        lost = Counter(
            y["accounts"][k][3] for k in y["accounts"] if x["accounts"][k][0] and not y["accounts"][k][0]
        )
        keys = ("tp", "fp", "auroc", "tpr1", "ari", "benign_camps", "cpu_s")
        out[n] = {
            "before": {k: x["rep"][k] for k in keys},
            "after": {k: y["rep"][k] for k in keys},
            "flag_gained": dict(gained),
            "flag_lost": dict(lost),
            "slow_and_low": [x["rep"]["recall"].get("slow_and_low"), y["rep"]["recall"].get("slow_and_low")],
            "campaigns_changed": {
                g: [x["campaigns"][g]["pieces"], y["campaigns"][g]["pieces"]]
                for g in x["campaigns"]
                if x["campaigns"][g]["pieces"] != y["campaigns"][g]["pieces"]
            },
            "benign_in_after": y["benign_in"],
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
