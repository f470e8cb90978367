"""Detect distillation campaigns in an exchange log, per account and across accounts.

    python examples/detect_campaigns.py                      # on simulated, labelled traffic
    python examples/detect_campaigns.py --log exchanges.jsonl  # on your own log (JSONL or Parquet)

Without --log, writes a labelled simulated log first (benign users, hard
negatives and several campaign styles), then runs the detector and compares its
flags with the labels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import distillscope as ds
from distillscope.simulate import simulate_traffic


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log", type=Path, default=None, help="your exchange log (default: simulate one)")
    parser.add_argument("--out", type=Path, default=Path("runs/example-detect"))
    parser.add_argument("--benign-users", type=int, default=120, help="simulated benign accounts")
    args = parser.parse_args()

    labels: dict[str, bool] = {}
    log = args.log
    if log is None:
        simulate_traffic(args.out / "sim", benign_users=args.benign_users, days=3, seed=1)
        log = args.out / "sim" / "exchanges.jsonl"
        for line in (args.out / "sim" / "labels.jsonl").read_text().splitlines():
            row = json.loads(line)
            labels[row["account"]] = row["label"] == "campaign"

    ds.run_detection(log, args.out / "det")
    accounts = [json.loads(line) for line in (args.out / "det" / "accounts.jsonl").read_text().splitlines()]
    flagged = [a for a in accounts if a["flagged"]]
    print(f"{len(flagged)} of {len(accounts)} accounts flagged; outputs in {args.out / 'det'}")
    for row in sorted(flagged, key=lambda a: -a["score"])[:5]:
        reasons = "; ".join(row["reasons"][:2])
        print(f"  {row['account']} score={row['score']:.2f} campaign={row['campaign']}: {reasons}")
    if labels:
        attackers = [a for a, is_campaign in labels.items() if is_campaign]
        caught = sum(1 for a in flagged if labels.get(a["account"]))
        false = sum(1 for a in flagged if not labels.get(a["account"], False))
        print(
            f"against the labels: {caught}/{len(attackers)} campaign accounts caught, "
            f"{false}/{len(labels) - len(attackers)} benign accounts flagged"
        )


if __name__ == "__main__":
    main()
