"""Evidence: on-policy after an SFT warm-up against SFT alone, at equal teacher dollars, over seeds.

Input: the task pool of task_pool.py and the SFT curve of ``onpolicy_curve.sh`` run with
``METHODS=sft BUDGETS=32,64`` (``runs/evidence/opcurve``): per seed, ``pool:sft`` at 32 is
the warm-up student (SFT on the draw's first 32 answers) and ``pool:sft`` at 64 the SFT arm
(SFT on the draw's first 64 answers, everything the budget buys as answers).

Warm + on-policy arm, per seed: the warm-up student (auto:15, SFT on the first 32 answers of
the seed's draw) is trained on-policy on the prompts of the draw's exchanges 33-64, never
their answers, with ``--max-cost`` = what those 32 answers cost (``run_curve``'s on-policy
arm with ``--student`` = the warm-up student): it samples <= 32 tokens, the embedded teacher
behind a loopback ``distillscope serve`` scores every sample (echo, top-5, ``max_tokens: 0``),
reverse KL, priced at gpt-4o-mini's list price (input tokens only). Both arms therefore
spend the price of 64 answers: the SFT arm on 32 more answers, this arm on scoring the
warm student's own samples. Same held-out prompts, retention items and student as the curve.

Writes docs/evidence/train/warm_onpolicy.json (per-seed points, mean ± sd, exact permutation
p-values of warm+on-policy against SFT on 64, and against the warm-up student alone);
``--lr X`` sets the on-policy stage's peak learning rate (default 2e-4, the SFT runs' own) and
writes warm_onpolicy_lrX.json from runs/evidence/warm-lrX instead.
Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/warm_evidence.py --seeds 0,1,2,3
(resumable; --report collects what has run)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from task_pool import TASKS  # the task pool's tasks, defined once (this script's folder is on sys.path)

from distillscope.evaluate.curve import exact_permutation_p, run_curve
from distillscope.exchanges import load_dataset
from distillscope.records import write_jsonl
from distillscope.train import TrainSettings

ROOT = Path("runs/evidence/taskpool")
CURVE = Path("runs/evidence/opcurve")
RUNS = Path("runs/evidence/warm")
OUT = Path("docs/evidence/train/warm_onpolicy.json")
WARM, BUDGET = 32, 64
SETTINGS = TrainSettings(
    student_layers="auto:15", learning_rate=2e-4, epochs=2, batch_size=8, threads=1, progress=False,
    price_model="gpt-4o-mini", sample_tokens=32,
)  # fmt: skip
KEYS = ("agreement", "kl", "task_share", "cost_usd")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _suffix(seed: int) -> str:
    return "" if seed == 0 else f"-seed{seed}"


def rest_of_draw(seed: int) -> Path:
    """The draw's exchanges WARM+1..BUDGET (what the SFT arm buys beyond the warm-up), as a dataset."""
    draw = ROOT / "pool" if seed == 0 else CURVE / "pool" / f"data-seed{seed}"
    target = RUNS / f"rest-seed{seed}"
    if not (target / "exchanges.jsonl").exists():
        exchanges = load_dataset(draw).exchanges[WARM:BUDGET]
        write_jsonl(exchanges, target / "exchanges.jsonl")
        manifest = json.loads((ROOT / "pool" / "manifest.json").read_text())
        (target / "manifest.json").write_text(json.dumps(manifest | {"strategy": "rest"}))
    return target


def warm_on_policy(seed: int) -> dict:
    warm = CURVE / "pool" / "sft" / f"n{WARM}{_suffix(seed)}"
    if not (warm / "training.json").exists():
        raise SystemExit(f"{warm}: run onpolicy_curve.sh with METHODS=sft BUDGETS=32,64 first")
    out = RUNS / f"curve-seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    for cache in ("teacher_reference.json", "teacher_tasks.json"):  # the curve's: the teacher runs once
        if (CURVE / cache).exists() and not (out / cache).exists():
            shutil.copy(CURVE / cache, out / cache)
    result = run_curve(
        [f"rest={rest_of_draw(seed)}"], [BUDGET - WARM], out, settings=replace(SETTINGS, student=str(warm)),
        prompts=str(ROOT / "heldout"), n=32, max_new_tokens=24, include_untrained=False, seeds=[seed],
        methods=["on-policy"], tasks=TASKS, task_size=8, task_max_new_tokens=48,
    )  # fmt: skip
    point = result["points"][0]
    info = json.loads((warm / "training.json").read_text())
    return point | {"warm_cost_usd": info["cost_usd"], "cost_usd": point["cost_usd"] + info["cost_usd"]}


def report(results: dict) -> dict:
    curve = json.loads((CURVE / "curve.json").read_text())
    sft = {(p["exchanges"], p["seed"]): p for p in curve["points"] if p["strategy"] == "pool:sft"}
    seeds = sorted(s for s in results if (BUDGET, int(s)) in sft and (WARM, int(s)) in sft)
    arms = {
        "warm + on-policy": [results[s] for s in seeds],
        f"sft {BUDGET}": [sft[(BUDGET, int(s))] for s in seeds],
        f"sft {WARM} (warm-up alone)": [sft[(WARM, int(s))] for s in seeds],
    }
    summary: dict = {"seeds": seeds, "budget": BUDGET, "warm": WARM, "arms": {}, "compare": {}}
    summary["per_seed"] = {
        name: {s: _brief(p) for s, p in zip(seeds, pts, strict=True)} for name, pts in arms.items()
    }
    for name, pts in arms.items():
        summary["arms"][name] = {
            k: {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else None}
            for k in KEYS
            if None not in (v := [p.get(k) for p in pts]) and v
        }
    for other in (f"sft {BUDGET}", f"sft {WARM} (warm-up alone)"):
        if len(seeds) > 1:
            summary["compare"][f"warm + on-policy - {other}"] = {
                k: {
                    "difference": statistics.fmean(p[k] for p in arms["warm + on-policy"])
                    - statistics.fmean(p[k] for p in arms[other]),
                    "p_value": exact_permutation_p(
                        [p[k] for p in arms["warm + on-policy"]], [p[k] for p in arms[other]]
                    ),
                }
                for k in KEYS[:3]
            }
    OUT.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _brief(point: dict) -> dict:
    keep = KEYS + ("task_accuracy", "warm_cost_usd", "tokens", "student_ce")
    return {k: point[k] for k in keep if k in point}


def main() -> None:
    global RUNS, OUT, SETTINGS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--lr", type=float, default=SETTINGS.learning_rate)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.lr != SETTINGS.learning_rate:
        RUNS, OUT = RUNS.with_name(f"warm-lr{args.lr:g}"), OUT.with_name(f"warm_onpolicy_lr{args.lr:g}.json")
        SETTINGS = replace(SETTINGS, learning_rate=args.lr)
    torch.set_num_threads(1)
    state = RUNS / "results.json"
    results = json.loads(state.read_text()) if state.exists() else {}
    if not args.report:
        for seed in [int(s) for s in args.seeds.split(",")]:
            if str(seed) in results:
                continue
            point = warm_on_policy(seed)
            results = json.loads(state.read_text()) if state.exists() else {}
            results[str(seed)] = point
            state.write_text(json.dumps(results, indent=2, default=str))
            log(f"seed {seed}: warm + on-policy agreement {point['agreement']:.3f} kl {point['kl']:.2f}")
    print(json.dumps(report(results), indent=2, default=str))


if __name__ == "__main__":
    main()
