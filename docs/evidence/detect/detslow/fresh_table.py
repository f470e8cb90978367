"""detslow: the fresh seeds' results side by side (fresh_seeds.sh OUT/rSEED-SIDE.json, detSEED-SIDE.time) as
one JSON: every issue-12 goal with its denominator and the whole detect's CPU (user + system) per side.
Usage: fresh_table.py OUT SIDE SIDE SEED... > fresh.json"""

import json
import re
import sys
from pathlib import Path


def cpu(path: Path) -> float:
    text = path.read_text()
    return round(
        sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", text).group(1)) for k in ("User", "System")),
        2,
    )


def main() -> None:
    out, sides, seeds = Path(sys.argv[1]), sys.argv[2:4], sys.argv[4:]
    table = {}
    for seed in seeds:
        table[seed] = {}
        for side in sides:
            r = json.loads((out / f"r{seed}-{side}.json").read_text())
            table[seed][side] = {
                "shape": r["shape"],
                "goals": r["goals"],
                "detect_cpu_s": cpu(out / f"det{seed}-{side}.time"),
            }
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
