"""Eighth round: one row per run of ``runs/evidence/r8main`` (onpolicy_r8.sh), from the curve and the cards.

Per run: held-out agreement and KL (``curve.json``), the dollars from the harvester's records (answers'
``cost_usd`` + the scorer's summary), the cap it was given, optimizer steps, scoring calls, calls the budget
refused, scored positions and the training thread's CPU seconds (``training.json`` -> ``compute``). Writes
``docs/evidence/train/onpolicy_r8_runs.json`` and prints a markdown table. It must not train or score.

Run: python docs/evidence/train/onpolicy_r8_table.py [runs/evidence/r8main]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def _card(root: Path, method: str, seed: int) -> dict:
    folder = root / "pool" / method / ("n32" if seed == 0 else f"n32-seed{seed}")
    return json.loads((folder / "training.json").read_text(encoding="utf-8"))


def _cap(root: Path, seed: int) -> float:
    data = root / "pool" / f"data-seed{seed}" / "exchanges.jsonl"
    path = data if seed else Path("runs/evidence/longpool/pool/exchanges.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sum(r["cost_usd"] for r in sorted(rows, key=lambda r: r["ts"])[:32])


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/evidence/r8main")
    curve = json.loads((root / "curve.json").read_text(encoding="utf-8"))
    rows = []
    for point in curve["points"]:
        method = point.get("method")
        if method not in ("sft", "warm-gkd"):
            continue
        card = _card(root, method, point["seed"])
        scoring = card.get("scoring") or {}
        run = card.get("on_policy") or {}
        compute = card.get("compute") or {}
        rows.append({
            "method": method, "seed": point["seed"], "agreement": point["agreement"], "kl": point["kl"],
            "cost_usd": card["cost_usd"], "cap_usd": round(_cap(root, point["seed"]), 8),
            "answers_usd": (card.get("cost_breakdown") or {}).get("teacher_answers_usd", card["cost_usd"]),
            "scoring_usd": scoring.get("cost_usd", 0.0), "steps": card.get("steps"),
            "scoring_calls": scoring.get("calls"), "refused_for_budget": scoring.get("refused_for_budget"),
            "scoring_prompt_tokens": scoring.get("prompt_tokens"), "kd_positions": run.get("kd_positions"),
            "sampled_tokens": run.get("sampled_tokens"),
            "planned_sampling_steps": run.get("planned_sampling_steps"),
            "replayed_batches": run.get("replayed_batches"), "cpu_seconds": compute.get("thread_cpu_seconds"),
            "wall_seconds": compute.get("wall_seconds", compute.get("seconds")),
        })  # fmt: skip
    rows.sort(key=lambda r: (r["method"], r["seed"]))
    print(
        "| arm | seed | agreement | KL | $ spent (answers + scoring) | cap $ | steps | calls | refused | "
        "positions | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['seed']} | {r['agreement']:.3f} | {r['kl']:.2f} | {r['cost_usd']:.5f} "
            f"({r['answers_usd']:.5f} + {r['scoring_usd']:.5f}) | {r['cap_usd']:.5f} | {r['steps']} | "
            f"{r['scoring_calls']} | {r['refused_for_budget']} | {r['kd_positions']} | {r['cpu_seconds']} |"
        )
    for method in ("sft", "warm-gkd"):
        mine = [r for r in rows if r["method"] == method]
        if len(mine) > 1:
            for key in ("agreement", "kl", "cost_usd"):
                xs = [r[key] for r in mine]
                print(
                    f"{method} {key}: {statistics.fmean(xs):.4f} +- {statistics.stdev(xs):.4f} (n={len(xs)})"
                )
    out = {"runs": rows, "compare": curve.get("compare"), "summary": curve.get("summary")}
    Path("docs/evidence/train/onpolicy_r8_runs.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
