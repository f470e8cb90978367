"""Evidence for the README: untrained vs trained students, SFT vs top-k KD vs mixed, active vs random.

Input: the teacher pool written by make_data.py (runs/evidence/pool, 500 reasoning-gym
prompts answered by the embedded teacher). Stages, each resumable (rerun skips what is done):

- ``active``: the active strategy picks from the whole pool in rounds of 50, 50, 100
  and 200 prompts (entropy probe; the student trains a few steps on what was answered
  before each round), so its first 50/100/200/400 exchanges are what it would have paid for;
- ``curve``: students trained on the first 50/100/200/400 exchanges of the random arm
  (harvest order) and of the active arm, every one scored on the same held-out prompts;
- ``methods``: SFT vs top-k KD vs mixed on the same first ``--methods-n`` random exchanges
  (the SFT student is the curve's random point at that budget), plus the untrained student;
- ``seeds``: the noise the curve cannot show, at 50/100/200 exchanges: for each extra seed
  (``--seeds``) a random arm drawn from a shuffled pool and an active arm selected again,
  both trained with that seed (the curve is seed 0), scored on the same held-out prompts.

Writes docs/evidence/train/{curve.json,curve.png,methods.json,seeds.json,seeds.png}.
Run: .venv/bin/python docs/evidence/train/run_evidence.py [--stages active,curve,methods] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from distillscope.evaluate.curve import plot_curve, redraw_exchanges, run_curve
from distillscope.evaluate.run import evaluate_student
from distillscope.harvest.strategies.active import ActiveStrategy, exchange_key
from distillscope.harvest.strategies.base import Query
from distillscope.records import read_exchanges, write_jsonl
from distillscope.train import TrainSettings, train_student

OUT = Path("docs/evidence/train")
RUNS = Path("runs/evidence")
BUDGETS = [50, 100, 200, 400]
ROUNDS = [50, 50, 100, 200]  # cumulative: 50, 100, 200, 400
EVAL = {"n": 60, "max_new_tokens": 32}
SETTINGS = TrainSettings(
    method="sft", learning_rate=2e-4, epochs=2, max_steps=10_000, batch_size=8, max_seq_len=256,
    save_every=10_000, progress=False,
)  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def write_arm(exchanges: list, directory: Path, strategy: str) -> Path:
    write_jsonl(exchanges, directory / "exchanges.jsonl")
    manifest = {"strategy": strategy, "teacher": "smollm2-135m-instruct", "terms": "Apache-2.0 (SmolLM2)"}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def select_active(pool: list, settings: TrainSettings, target: Path, rounds: list[int] = ROUNDS) -> Path:
    """Rounds of ``rounds`` prompts from the whole pool; one student keeps training between rounds."""
    if (target / "exchanges.jsonl").exists():
        return target
    by_key = {exchange_key(e): e for e in pool}
    queries = [Query(tuple({"role": m["role"], "content": m["content"]} for m in e.messages)) for e in pool]
    answered: list = []
    model = tokenizer = None
    for index, size in enumerate(rounds):
        strategy = ActiveStrategy(
            queries, round_size=size, rounds=1, model=model, tokenizer=tokenizer, settings=settings,
            probe_tokens=8, train_steps=8, batch_size=16,
        )  # fmt: skip
        picked = strategy.next_round(0, answered)
        model, tokenizer = strategy.model, strategy.tokenizer
        answered += [by_key[q.key] for q in picked]
        tasks: dict[str, int] = {}
        for q in picked:
            task = by_key[q.key].provenance["query_meta"]["task"]
            tasks[task] = tasks.get(task, 0) + 1
        log(f"active round {index}: {len(picked)} prompts, by task {tasks}")
    ordered = [replace(e, ts=float(i)) for i, e in enumerate(answered)]
    return write_arm(ordered, target, "active")


def methods(pool: list, settings: TrainSettings, n: int) -> None:
    random_dir = RUNS / "random"
    methods_file = OUT / "methods.json"
    results: dict = json.loads(methods_file.read_text())["results"] if methods_file.exists() else {}
    cache = RUNS / "curve" / "teacher_reference.json"
    common = {"tasks": (), "identity": False, "reference_cache": cache, "dataset": random_dir, **EVAL}
    if "untrained" not in results:
        from distillscope.train.student import make_student

        log("evaluate the untrained student")
        model, tokenizer, _ = make_student(settings)
        results["untrained"] = evaluate_student((model, tokenizer), **common)["fidelity"]
        del model
    for method in ("sft", "topk-kd", "mixed"):
        if method not in results:
            # The SFT student at n is also the curve's random point at n (same directory and settings).
            target = RUNS / "curve" / "random" / f"n{n}" if method == "sft" else RUNS / f"{method}{n}"
            if not (target / "config.json").exists():
                log(f"train {method} on {n} exchanges")
                started = time.monotonic()
                train_student(replace(settings, method=method, dataset=random_dir, out=target, limit=n))
                log(f"train {method}: {time.monotonic() - started:.0f} s")
            results[method] = evaluate_student(target, **common)["fidelity"]
        record = {"exchanges": n, "settings": settings.hyperparameters(), "results": results}
        methods_file.write_text(json.dumps(record, indent=2, default=str))
        log(f"{method}: {json.dumps(results[method])}")


SEED_BUDGETS = [50, 100, 200]


def seeds(pool: list, settings: TrainSettings, extra_seeds: list[int]) -> None:
    """Random and active arms again with other seeds; seed 0 is the curve's own points."""
    seeds_file = OUT / "seeds.json"
    results: dict = json.loads(seeds_file.read_text())["results"] if seeds_file.exists() else {}
    curve = json.loads((OUT / "curve.json").read_text())
    for point in curve["points"]:
        if point["strategy"] in ("random", "active") and point["exchanges"] in SEED_BUDGETS:
            fidelity = {k: point[k] for k in ("agreement", "kl", "tokens", "held_out_prompts", "cost_usd")}
            results.setdefault(point["strategy"], {}).setdefault("0", {})[str(point["exchanges"])] = fidelity
    cache = RUNS / "curve" / "teacher_reference.json"
    for seed in extra_seeds:
        seeded = replace(settings, seed=seed)
        shuffled = redraw_exchanges(pool, seed)
        arms = {
            "random": write_arm(shuffled[: max(SEED_BUDGETS)], RUNS / f"seed{seed}" / "random", "random"),
            "active": RUNS / f"seed{seed}" / "active",
        }
        for arm, directory in arms.items():
            if arm == "active":
                log(f"seed {seed}: active selection")
                select_active(pool, seeded, directory, rounds=[50, 50, 100])
            for budget in SEED_BUDGETS:
                done = results.get(arm, {}).get(str(seed), {})
                if str(budget) in done:
                    continue
                target = RUNS / f"seed{seed}" / f"{arm}-n{budget}"
                if not (target / "config.json").exists():
                    started = time.monotonic()
                    train_student(replace(seeded, dataset=directory, out=target, limit=budget))
                    log(f"seed {seed} {arm} n{budget}: trained in {time.monotonic() - started:.0f} s")
                scores = evaluate_student(
                    target, tasks=(), identity=False, reference_cache=cache, dataset=directory, **EVAL
                )
                fid = scores["fidelity"]
                done[str(budget)] = {k: fid[k] for k in ("agreement", "kl", "tokens")} | {
                    "held_out_prompts": fid["prompts"],
                    "cost_usd": (scores.get("cost") or {}).get("cost_usd"),
                }
                results.setdefault(arm, {})[str(seed)] = done
                record = {"budgets": SEED_BUDGETS, "settings": settings.hyperparameters(), "results": results}
                seeds_file.write_text(json.dumps(record, indent=2, default=str))
                log(f"seed {seed} {arm} n{budget}: {json.dumps(done[str(budget)])}")
    plot_seeds(results, curve)
    record = {
        "budgets": SEED_BUDGETS,
        "settings": settings.hyperparameters(),
        "results": results,
        "active_minus_random": compare_arms(results),
    }
    seeds_file.write_text(json.dumps(record, indent=2, default=str))
    log(f"active - random: {json.dumps(record['active_minus_random'])}")


def compare_arms(results: dict) -> dict:
    """Per budget: mean agreement difference over seeds and its exact two-sided permutation p-value."""
    from scipy.stats import permutation_test

    out = {}
    for budget in SEED_BUDGETS:
        arms = [
            [s[str(budget)]["agreement"] for s in results[a].values() if str(budget) in s]
            for a in ("active", "random")
        ]
        test = permutation_test(arms, lambda x, y: sum(x) / len(x) - sum(y) / len(y), n_resamples=100_000)
        out[str(budget)] = {
            "seeds": [len(a) for a in arms],
            "difference": test.statistic,
            "p_value": test.pvalue,
        }
    return out


def plot_seeds(results: dict, curve: dict) -> None:
    """seeds.png: mean ± sd over seeds per arm and budget, every run a dot (curve.py's plot)."""
    points = [p for p in curve["points"] if p["strategy"] == "untrained"]
    for arm, by_seed in results.items():
        for seed, by_budget in by_seed.items():
            for budget, scores in by_budget.items():
                points.append({"strategy": arm, "exchanges": int(budget), "seed": int(seed), **scores})
    plot_curve({"metric": "agreement", "points": points}, OUT / "seeds.png")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stages", default="active,curve,methods")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods-n", type=int, default=200)
    parser.add_argument("--seeds", default="1,2", help="extra seeds of the seeds stage")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = replace(SETTINGS, threads=args.threads)
    pool = read_exchanges(RUNS / "pool" / "exchanges.jsonl")
    random_dir = write_arm(pool[: max(BUDGETS)], RUNS / "random", "random")
    stages = args.stages.split(",")
    if "active" in stages:
        log("active selection")
        select_active(pool, settings, RUNS / "active")
    if "curve" in stages:
        log("curve: random vs active")
        arms = [f"random={random_dir}"] + (
            [f"active={RUNS / 'active'}"] if (RUNS / "active").exists() else []
        )
        curve = run_curve(arms, BUDGETS, RUNS / "curve", settings=settings, **EVAL)
        (OUT / "curve.json").write_text(json.dumps(curve, indent=2, default=str))
        (OUT / "curve.png").write_bytes((RUNS / "curve" / "curve.png").read_bytes())
    if "methods" in stages:
        methods(pool, settings, args.methods_n)
    if "seeds" in stages:
        seeds(pool, settings, [int(s) for s in args.seeds.split(",")])
    log("done")


if __name__ == "__main__":
    main()
