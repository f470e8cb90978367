"""Collect the detonline runs into one small JSON (docs/guard.md, "Logs of the benchmark's shape").

Usage: python collect.py RUNS_DIR > results.json. Reads, for each log rndS under RUNS_DIR: its
labels and scenario (the shape), the default-policy replay rep_rndS, the watch-list replay
hw_rndS (detector on rndS_a, second half rndS_b) and the detector's output det_rndS, and
the experiment replays v1_/v5_/v6_rndS where present, and those of RUNS_DIR/dev (earlier
development logs: old_ = the rule as it is, new_ = v5, v6_); plus sha256 of the PYTHONHASHSEED 1 and
77 replays of rnd2732. Analysis only.
"""

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path


def jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def shape(log: Path) -> dict:
    labels = jsonl(log / "labels.jsonl")
    with (log / "exchanges.jsonl").open(encoding="utf-8") as handle:
        exchanges = sum(1 for _ in handle)
    scenario = json.loads((log / "scenario.json").read_text())
    return {
        "days": scenario["days"],
        "benign_users": scenario["benign"],
        "scale": scenario["campaign_scale"],
        "accounts": len(labels),
        "exchanges": exchanges,
        "labels": dict(Counter(row["label"] for row in labels)),
        "styles": dict(Counter(row["style"] for row in labels)),
    }


def detector(det: Path, labels: dict[str, dict], first_half: Path) -> dict:
    flagged = [row["account"] for row in jsonl(det / "accounts.jsonl") if row.get("flagged")]
    members = {a for camp in jsonl(det / "campaigns.jsonl") for a in camp["accounts"]}
    listed = set(flagged) | members
    seen = set()
    with (first_half / "exchanges.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            seen.add(json.loads(line)["account"])
    by = Counter(labels[a]["style"] for a in listed)
    present = Counter(labels[a]["style"] for a in seen if a in labels)
    benign_seen = sum(1 for a in seen if labels.get(a, {}).get("label") == "benign")
    benign_listed = sum(1 for a in listed if labels[a]["label"] == "benign")
    return {
        "listed_by_style": dict(by),
        "present_in_first_half_by_style": dict(present),
        "benign_listed": f"{benign_listed}/{benign_seen}",
    }


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(runs: str) -> None:
    root = Path(runs)
    out: dict = {"logs": {}}
    for log in sorted(root.glob("rnd27[0-9][0-9]")):
        seed = log.name
        labels = {row["account"]: row for row in jsonl(log / "labels.jsonl")}
        entry: dict = {"shape": shape(log)}
        for prefix in ("rep", "hw", "v1", "v5", "v6"):
            metrics = root / f"{prefix}_{seed}" / "metrics.json"
            if metrics.exists():
                entry[prefix] = json.loads(metrics.read_text())
        if (root / f"det_{seed}").exists():
            entry["detector_first_half"] = detector(root / f"det_{seed}", labels, root / f"{seed}_a")
        out["logs"][seed] = entry
    dev = {}
    for run in sorted((root / "dev").glob("*_rnd*/metrics.json")):
        dev[run.parent.name] = json.loads(run.read_text())
    if dev:  # earlier development logs (default options): old rule, v5 ("new_"), v6
        out["earlier_dev_logs"] = dev
    a, b = root / "rep_rnd2732", root / "rep77_rnd2732"
    if b.exists():
        out["determinism_rnd2732"] = {
            name: {"PYTHONHASHSEED=1": sha(a / name), "PYTHONHASHSEED=77": sha(b / name)}
            for name in ("accounts.jsonl", "scores.jsonl", "decisions.json", "metrics.json")
        }
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
