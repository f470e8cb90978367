"""Print the docs/train.md tables of a curve.json: every run, mean ± sd per arm, and the arm comparisons.

Run: .venv/bin/python docs/evidence/train/curve_table.py docs/evidence/train/onpolicy_curve.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    result = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    teacher = (result.get("retention") or {}).get("teacher_accuracy")
    print("| arm | seed | agreement | KL nats/token | teacher $ | task acc. (share of teacher's) |")
    print("|---|---|---|---|---|---|")
    for p in result["points"]:
        has_share = p.get("task_share") is not None
        share = f"{p['task_accuracy']:.2f} ({p['task_share']:.0%})" if has_share else "–"
        print(
            f"| {p['strategy']} | {p['seed'] if p['seed'] is not None else '–'} | {p['agreement']:.3f} | "
            f"{p['kl']:.2f} | {p['cost_usd']:.5f} | {share} |"
        )
    print(f"\nteacher task accuracy: {teacher}\n")
    print("| arm | runs | agreement | KL | teacher $ | task share |")
    print("|---|---|---|---|---|---|")
    for row in result["summary"]:
        cells = []
        for key, digits in (("agreement", 3), ("kl", 2), ("cost_usd", 5), ("task_share", 2)):
            stats = row.get(key)
            if not stats:
                cells.append("–")
                continue
            sd = f" ± {stats['sd']:.{digits}f}" if stats["sd"] is not None else ""
            cells.append(f"{stats['mean']:.{digits}f}{sd}")
        print(f"| {row['strategy']} | {row['runs']} | {' | '.join(cells)} |")
    print("\n| budget | A − B | agreement (p) | KL (p) | task share (p) |")
    print("|---|---|---|---|---|")
    for row in result.get("compare", []):
        cells = [
            f"{row[k]['difference']:+.3f} (p = {row[k]['p_value']:.3f})" if k in row else "–"
            for k in ("agreement", "kl", "task_share")
        ]
        print(f"| {row['exchanges']} | {row['arms'][0]} − {row['arms'][1]} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
