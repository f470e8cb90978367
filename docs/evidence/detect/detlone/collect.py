"""Collect detlone's evidence: the development runs (harness.py: runs/ev/main, runs/ev/detlone; the pools
pools.py saw; stress.py's shared pools) into dev.json, the fresh seeds (fresh_seeds.sh into runs/fresh) and
the whole-detect CPU runs (runs/cpu) into fresh.json.

Usage: python docs/evidence/detect/detlone/collect.py   (from the worktree root; writes next to this file)"""

import json
from pathlib import Path

HERE = Path(__file__).parent
EV = Path("runs/ev")


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _goals(path: Path) -> dict:
    d = _load(path)
    keep = ("tp", "positives", "fp", "negatives")
    return {
        "goals": d.get("goals"),
        "at_default": {k: d.get("evaluation", {}).get("at_default_threshold", {}).get(k) for k in keep},
        "cpu_s": d.get("cpu_s"),
    }


def main() -> None:
    seeds = ["2812", "28120", "2791", "27910", "2771"]
    dev = {
        s: {
            "main": _load(EV / "main" / f"{s}.json").get("rep"),
            "detlone": _load(EV / "detlone" / f"{s}.json").get("rep"),
            "pools": _load(EV / "detlone" / f"{s}.pools.json") or [],
        }
        for s in seeds
    }
    stress = {
        f"{s}-s{k}": {side: _load(EV / side / f"{s}-s{k}.json").get("rep") for side in ("main", "detlone")}
        for s, ks in (("28120", (60, 120, 250)), ("2791", (60, 120)))
        for k in ks
    }
    (HERE / "dev.json").write_text(json.dumps({"dev": dev, "shared_pool_stress": stress}, indent=1) + "\n")
    fresh = {
        f"{s}-{side}": _goals(Path("runs/fresh") / f"r{s}-{side}.json")
        for s in ("2841", "2842")
        for side in ("main", "detlone")
    }
    cpu = {
        f"{s}-{side}": _goals(Path("runs/cpu") / f"r{s}-{side}.json")
        for s in ("28120", "2791")
        for side in ("main", "detlone")
    }
    (HERE / "fresh.json").write_text(json.dumps({"fresh": fresh, "dev_whole_detect": cpu}, indent=1) + "\n")


if __name__ == "__main__":
    main()
