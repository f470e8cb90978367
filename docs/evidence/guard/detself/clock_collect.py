"""Collect the clock signal's results (docs/guard.md, "Round the clock") into one JSON.

Usage: python clock_collect.py RUNS_X_DIR TAG[,TAG...] [S=MAIN_DIR,NEW_DIR ...] [det=DIR_1,DIR_77]
> clock_results.json. ``harness``: per development log and tag, what sim.py measured with the
clock signal's code (online styles by style, benign throttled / delayed, the clock diagnostics per
ceiling, and each online-style campaign account still missed within 200 requests). ``replays``:
the ``guard replay`` metrics of main and of this code on fresh logs (collect.replay), ``determinism``
the sha256 of two replays of one log (collect.digests). Analysis only.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from collect import digests, replay  # noqa: E402

KEYS = ("online", "styles", "benign_throttled", "benign_delayed", "benign_max_ge", "cpu_s", "clock_ceilings")


def clock_summary(row: dict) -> dict:
    """Per ceiling: online-style accounts acted on within 200 by their run or by the clock alone."""
    first, clock = row["campaign_first"], row["campaign_clock_first"]
    out = {}
    for c, ceiling in enumerate(row["clock_ceilings"]):
        hit = sum(
            min(x for x in (v[1], clock[a][c], 10**9) if x is not None) <= 200 for a, v in first.items()
        )
        worst = (
            max((v[2][c], v[0], v[1], a) for a, v in row["benign_clock_max"].items())
            if row["benign_clock_max"]
            else (0.0,)
        )
        out[str(ceiling)] = {
            "online_within_200_at_least": f"{hit}/{len(first)}",
            "benign_highest_digits": worst,
        }
    return out


def harness(folder: Path, tags: list[str]) -> dict:
    logs: dict = {}
    for tag in tags:
        for path in sorted(folder.glob(f"res_*_{tag}.json")):
            row = json.loads(path.read_text())
            entry = {k: row[k] for k in KEYS if k in row}
            entry["benign_throttled_list"] = row.get("benign_throttled_list")
            entry["benign_share_top"] = row.get("benign_share_top")
            if "campaign_clock_first" in row:
                entry["by_ceiling"] = clock_summary(row)
            entry["missed"] = {
                a: {"style": v[0], "first_action": v[1], "requests": v[2]}
                for a, v in row.get("campaign_first", {}).items()
                if v[1] is None or v[1] > 200
            }
            logs.setdefault(row["log"], {})[tag] = entry
    return logs


def main(args: list[str]) -> None:
    out: dict = {"harness": harness(Path(args[0]), args[1].split(","))}
    for arg in args[2:]:
        name, dirs = arg.split("=", 1)
        if name == "det":
            out["determinism"] = {d: digests(d) for d in dirs.split(",")}
        else:
            out.setdefault("replays", {})[name] = replay(*dirs.split(","))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
