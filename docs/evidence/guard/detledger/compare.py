"""Baseline against new replay, per log (docs/guard.md, "Logs of the benchmark's shape", item 4).

Usage: python compare.py NAME=OLD_DIR,NEW_DIR ... > results.json. Each DIR is the output of
``distillscope guard replay``; prints, per NAME, the campaign and benign counts of both
``metrics.json`` (online styles acted on within the first 200 requests, by style; benign
accounts throttled / blocked / stripped, requests delayed, and whether the per-group benign
counts are identical). Analysis only.
"""

import json
import sys
from pathlib import Path

KEYS = (
    "campaign_acted_within_first_online_styles",
    "benign_accounts_throttled",
    "benign_accounts_blocked",
    "benign_accounts_stripped",
    "benign_requests_delayed",
)


def frac(value: dict) -> str:
    return f"{value['count']}/{value['of']}"


def compare(old_dir: str, new_dir: str) -> dict:
    old, new = (json.loads((Path(d) / "metrics.json").read_text()) for d in (old_dir, new_dir))
    row = {key: {"old": frac(old[key]), "new": frac(new[key])} for key in KEYS}
    styles = new["campaign_by_style"]
    row["by_style"] = {
        style: {"old": frac(v["acted_within_first"]), "new": frac(styles[style]["acted_within_first"])}
        for style, v in sorted(old["campaign_by_style"].items())
    }
    row["benign_by_group_identical"] = old["benign_by_group"] == new["benign_by_group"]
    return row


def main(args: list[str]) -> None:
    out = {}
    for arg in args:
        name, dirs = arg.split("=", 1)
        out[name] = compare(*dirs.split(","))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
