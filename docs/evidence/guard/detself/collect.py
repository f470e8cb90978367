"""Collect the design-harness results (sim.py's res_LOG_TAG.json) into one JSON (docs/guard.md, detself).

Usage: python collect.py RUNS_X_DIR [FRESH=MAIN_DIR,NEW_DIR ...] [det=DIR_1,DIR_77] > results.json.
The variants:
``base`` = main (pool off, item 4's single-asker rule on), ``p3`` = pool of 3 first askers with
half of the last 16 re-asks from harvesters (plus item 4's rule), ``s75`` = the same with three
quarters, ``s75ns`` = ``s75`` without item 4's rule (what landed), ``p2ns`` / ``p4ns`` = 2 / 4 first
askers, ``s50ns`` = half. FRESH pairs are ``guard replay`` outputs (metrics.json) of main and this
code on the fresh logs; ``det`` the sha256 of two replays of one log (``PYTHONHASHSEED`` 1 and 77).
Analysis only.
"""

import hashlib
import json
import sys
from pathlib import Path

OUTPUTS = ("accounts.jsonl", "scores.jsonl", "decisions.json", "metrics.json")

TAGS = {
    "base": "main (item 4's single-asker rule, no pool)",
    "p3": "pool 3 askers, share 1/2, with item 4's rule",
    "s75": "pool 3 askers, share 3/4, with item 4's rule",
    "s75ns": "pool 3 askers, share 3/4, without item 4's rule (landed)",
    "p2ns": "pool 2 askers, share 3/4, without item 4's rule",
    "p4ns": "pool 4 askers, share 3/4, without item 4's rule",
    "s50ns": "pool 3 askers, share 1/2, without item 4's rule",
    "landed": "the landed code, default settings (equals s75ns)",
}
KEYS = ("online", "styles", "benign_throttled", "benign_delayed", "benign_pooled", "benign_max_ge")


def harness(folder: Path) -> dict:
    out: dict = {"variants": TAGS, "logs": {}}
    for path in sorted(folder.glob("res_*.json")):
        row = json.loads(path.read_text())
        entry = {k: row[k] for k in KEYS if k in row}
        entry["benign_throttled_list"] = row.get("benign_throttled_list")
        late = {
            a: v
            for a, v in row.get("campaign_first", {}).items()
            if v[0] == "self_instruct" and (v[1] is None or v[1] > 200)
        }
        entry["self_instruct_missed"] = {
            a: {"first_action": v[1], "requests": v[2], "gross_score_reached_0.5_at": v[3], "pooled_at": v[4]}
            for a, v in late.items()
        }
        out["logs"].setdefault(row["log"], {})[row["tag"]] = entry
    return out


def replay(old: str, new: str) -> dict:
    rows = {}
    for name, folder in (("main", old), ("new", new)):
        m = json.loads((Path(folder) / "metrics.json").read_text())
        rows[name] = {
            key: m[key]
            for key in (
                "campaign_acted_within_first_online_styles",
                "benign_accounts_throttled",
                "benign_accounts_blocked",
                "benign_accounts_stripped",
                "benign_requests_delayed",
            )
        }
        rows[name]["by_style"] = {s: v["acted_within_first"] for s, v in m["campaign_by_style"].items()}
        rows[name]["benign_by_group"] = m["benign_by_group"]
    return rows


def digests(folder: str) -> dict:
    return {name: hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest() for name in OUTPUTS}


def main(args: list[str]) -> None:
    out = {"harness": harness(Path(args[0]))}
    for arg in args[1:]:
        name, dirs = arg.split("=", 1)
        if name == "det":
            out["determinism"] = {d: digests(d) for d in dirs.split(",")}
        else:
            out.setdefault("replays", {})[name] = replay(*dirs.split(","))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
