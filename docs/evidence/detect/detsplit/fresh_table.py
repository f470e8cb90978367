"""Print the fresh seeds' goals (runs/fresh/rSEED-{main,split}.json from fresh.sh) side by side, and gather
them with the CPU of each detect run into one JSON: fresh_table.py SEED ... > fresh.json"""

import json
import re
import sys
from pathlib import Path

D = Path("runs/fresh")


def cpu(path: Path) -> float:
    text = path.read_text()
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    return round(user + system, 1)


def main() -> None:
    out = {}
    for seed in sys.argv[1:]:
        out[seed] = {}
        for who in ("main", "split"):
            r = json.loads((D / f"r{seed}-{who}.json").read_text())
            spent = cpu(D / f"det{seed}-{who}.time")
            out[seed][who] = {"shape": r["shape"], "goals": r["goals"], "cpu_s": spent}
            flat = {k: v[0] for k, v in r["goals"].items() if not isinstance(v[0], dict)}
            print(seed, who, flat, spent, file=sys.stderr)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
