"""Eighth round: the registered rule that picks SFT's epochs from the validation grid (onpolicy_r8.sh).

Reads ``<grid>/e<E>/curve.json`` for each E given, prints each point's validation agreement and KL and the
choice: the E with the highest validation agreement, ties (within 0.001) broken by the lower KL. Writes
``docs/evidence/train/onpolicy_r8_grid.json``. It must not read the held-out set's scores.

Run: python docs/evidence/train/onpolicy_r8_choose.py runs/evidence/r8grid 2 4 6
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIE = 0.001
REGISTERED = [2.0, 4.0, 6.0]  # the pre-registered grid; a partial grid says so (``complete``)


def main() -> None:
    grid = Path(sys.argv[1])
    rows = []
    for e in sys.argv[2:]:
        curve = json.loads((grid / f"e{e}" / "curve.json").read_text(encoding="utf-8"))
        (point,) = [p for p in curve["points"] if p.get("method") == "sft" and p["exchanges"] == 32]
        rows.append(
            {
                "epochs": float(e),
                "steps": -(-int(float(e) * 32) // 8),
                **{k: point[k] for k in ("agreement", "kl", "tokens", "held_out_prompts", "cost_usd")},
            }
        )
    best = max(r["agreement"] for r in rows)
    chosen = min((r for r in rows if r["agreement"] >= best - TIE), key=lambda r: r["kl"])
    for r in rows:
        print(
            f"E={r['epochs']:g} ({r['steps']} steps): "
            f"validation agreement {r['agreement']:.3f}, KL {r['kl']:.2f}"
        )
    partial = (
        "" if sorted(r["epochs"] for r in rows) == REGISTERED else " (PARTIAL grid: not the rule's choice)"
    )
    print(f"chosen: E={chosen['epochs']:g}, {chosen['steps']} steps{partial}")
    out = {
        "rule": "highest validation agreement; ties within 0.001 -> lower KL",
        "validation": "prompts of "
        "pool exchanges 33-64 (seed 0 trains on 1-32), teacher greedy answers <= 128 tokens",
        "grid": rows,
        "registered_grid": REGISTERED,
        "complete": sorted(r["epochs"] for r in rows) == REGISTERED,
        "chosen": chosen,
    }
    Path("docs/evidence/train/onpolicy_r8_grid.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
