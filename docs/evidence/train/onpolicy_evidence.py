"""Evidence: on-policy distillation vs SFT at equal teacher dollars, over seeds, with task retention.

Input: the teacher pool of make_data.py (runs/evidence/pool). For each seed: a draw of
``--n`` exchanges (seed 0: the first n; other seeds: a seeded random n of the pool).

- ``sft``: the default student (every other layer of SmolLM2) trained on the draw's
  teacher answers (2 epochs, batch 8, lr 2e-4); it pays for those answers.
- ``on-policy``: the same student, same prompts, never sees the teacher's answers: it
  samples its own (<= ``--sample-tokens``), the embedded teacher behind a real loopback
  ``distillscope serve`` scores them (``/v1/completions``, echo, top-5 logprobs) and it
  minimises the per-token reverse KL; ``max_cost`` = what the SFT arm paid, scoring
  priced at the same list price (gpt-4o-mini, $0.15 / $0.60 per M input / output tokens).

Every student is scored on the same held-out prompts (agreement, KL, CE) and on
reasoning-gym tasks the teacher can do (task_search.json), as a share of the teacher's
accuracy. One JSON file per seed (runs in parallel do not collide), then ``--report``
writes onpolicy.json with mean ± sd and exact permutation p-values.

Run: PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/onpolicy_evidence.py --seeds 0,1,2,3
     PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/onpolicy_evidence.py --report
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from distillscope.evaluate.curve import redraw_exchanges
from distillscope.evaluate.fidelity import student_greedy
from distillscope.evaluate.run import evaluate_student
from distillscope.evaluate.tasks import task_accuracy, task_items
from distillscope.records import read_exchanges, write_jsonl
from distillscope.train import TrainSettings, train_student

OUT = Path("docs/evidence/train/onpolicy")
RUNS = Path("runs/evidence/onpolicy")
POOL = Path("runs/evidence/pool/exchanges.jsonl")
#: Tasks on which the teacher scores >= 0.3 (task_search.json), 10 items each.
TASKS = (
    "basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False",
    "chain_sum:min_terms=2:max_terms=2:max_digits=1",
    "products:max_digits=1",
)
TASK_ITEMS, TASK_TOKENS = 10, 32
EVAL = {"n": 40, "max_new_tokens": 24, "tasks": (), "identity": False}
SFT = TrainSettings(
    method="sft", learning_rate=2e-4, epochs=2, max_steps=10_000, batch_size=8, max_seq_len=256,
    save_every=10_000, progress=False,
)  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def draw(pool: list, seed: int, n: int) -> Path:
    directory = RUNS / f"data-seed{seed}"
    if not (directory / "exchanges.jsonl").exists():
        chosen = pool[:n] if seed == 0 else redraw_exchanges(pool, seed)[:n]
        write_jsonl(chosen, directory / "exchanges.jsonl")
        manifest = {"strategy": "random", "teacher": "smollm2-135m-instruct", "terms": "Apache-2.0 (SmolLM2)"}
        (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def task_share(model_dir: Path | None, model_and_tokenizer: tuple | None = None) -> dict:
    from distillscope.models import load_model

    model, tokenizer = model_and_tokenizer or load_model(model_dir)
    items = task_items(list(TASKS), TASK_ITEMS, 2024)
    return task_accuracy(lambda c: student_greedy(model, tokenizer, c, TASK_TOKENS), items)


def scores_of(target: Path, data: Path) -> dict:
    cache = RUNS / "teacher_reference.json"
    result = evaluate_student(target, reference_cache=cache, dataset=data, **EVAL)
    fid, info = result["fidelity"], json.loads((target / "training.json").read_text())
    return {
        "agreement": fid["agreement"],
        "kl": fid["kl"],
        "student_ce": fid["student_ce"],
        "tokens": fid["tokens"],
        "held_out_prompts": fid["prompts"],
        "cost_usd": info["cost_usd"],
        "steps": info["steps"],
        "train_seconds": info.get("train_seconds"),
        "scoring": info.get("scoring"),
        "on_policy": info.get("on_policy"),
        "tasks": task_share(target),
    }


def run_seed(pool: list, seed: int, n: int, sample_tokens: int, threads: int) -> None:
    out_file = OUT / f"seed{seed}.json"
    done = json.loads(out_file.read_text()) if out_file.exists() else {}
    data = draw(pool, seed, n)
    answers_cost = sum(e.cost_usd or 0.0 for e in read_exchanges(data / "exchanges.jsonl"))
    arms = {
        "sft": replace(SFT, seed=seed, threads=threads),
        "on-policy": replace(
            SFT,
            method="on-policy",
            alpha=1.0,
            epochs=4,
            seed=seed,
            threads=threads,
            max_cost=answers_cost,
            price_model="gpt-4o-mini",
            sample_tokens=sample_tokens,
            divergence="reverse-kl",
            score_top_k=5,
        ),  # fmt: skip
    }
    for arm, settings in arms.items():
        if arm in done:
            continue
        target = RUNS / f"{arm}-seed{seed}"
        if not (target / "config.json").exists():
            log(f"seed {seed}: train {arm} on {n} prompts (budget ${answers_cost:.6f})")
            started = time.monotonic()
            train_student(replace(settings, dataset=data, out=target))
            seconds = time.monotonic() - started
            info = json.loads((target / "training.json").read_text())
            info["train_seconds"] = round(seconds, 1)
            (target / "training.json").write_text(json.dumps(info, indent=2, default=str))
            log(f"seed {seed}: {arm} trained in {seconds:.0f} s")
        done[arm] = scores_of(target, data)
        OUT.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(done, indent=2, default=str))
        log(f"seed {seed} {arm}: agreement {done[arm]['agreement']:.3f} kl {done[arm]['kl']:.2f} "
            f"cost ${done[arm]['cost_usd']:.6f} tasks {done[arm]['tasks']['accuracy']:.2f}")  # fmt: skip


def baselines() -> None:
    """The untrained student's fidelity and the teacher's and untrained student's task accuracy."""
    target = OUT / "baselines.json"
    if target.exists():
        return
    from distillscope.models import load_model
    from distillscope.train.student import make_student

    model, tokenizer, _ = make_student(SFT)
    fid = evaluate_student((model, tokenizer), reference_cache=RUNS / "teacher_reference.json", **EVAL)
    teacher = load_model()
    record = {
        "untrained": {k: fid["fidelity"][k] for k in ("agreement", "kl", "student_ce", "tokens", "prompts")},
        "untrained_tasks": task_share(None, (model, tokenizer)),
        "teacher_tasks": task_share(None, teacher),
        "tasks": list(TASKS),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=2))
    log(f"baselines: {json.dumps(record)[:400]}")


def permutation_p(a: list[float], b: list[float]) -> float:
    from scipy.stats import permutation_test

    test = permutation_test([a, b], lambda x, y: sum(x) / len(x) - sum(y) / len(y), n_resamples=100_000)
    return float(test.pvalue)


def report() -> dict:
    base = json.loads((OUT / "baselines.json").read_text())
    seeds = {p.stem: json.loads(p.read_text()) for p in sorted(OUT.glob("seed*.json"))}
    teacher_acc = base["teacher_tasks"]["accuracy"]
    summary: dict = {"seeds": sorted(seeds), "baselines": base, "arms": {}}
    values: dict = {}
    for arm in ("sft", "on-policy"):
        runs = [s[arm] for s in seeds.values() if arm in s]
        if not runs:
            continue
        row = {"runs": len(runs)}
        for key, get in {
            "agreement": lambda r: r["agreement"],
            "kl": lambda r: r["kl"],
            "cost_usd": lambda r: r["cost_usd"],
            "task_share": lambda r: r["tasks"]["accuracy"] / teacher_acc if teacher_acc else None,
            "train_seconds": lambda r: r["train_seconds"],
        }.items():
            xs = [get(r) for r in runs]
            if any(x is None for x in xs):
                continue
            values.setdefault(arm, {})[key] = xs
            row[key] = {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else None}
        summary["arms"][arm] = row
    if "sft" in values and "on-policy" in values:
        summary["on_policy_minus_sft"] = {
            key: {
                "difference": statistics.fmean(values["on-policy"][key])
                - statistics.fmean(values["sft"][key]),
                "p_value": permutation_p(values["on-policy"][key], values["sft"][key]),
            }
            for key in ("agreement", "kl", "task_share")
            if key in values["sft"] and key in values["on-policy"]
        }
    (OUT.parent / "onpolicy.json").write_text(json.dumps(summary, indent=2, default=str))
    print(markdown(summary, seeds, teacher_acc))
    return summary


def markdown(summary: dict, seeds: dict, teacher_acc: float) -> str:
    """The docs/train.md table: one row per run, then mean ± sd per arm."""
    lines = [
        "| arm | seed | agreement | KL nats/token | teacher $ | steps | task acc. (share of teacher's) "
        "| train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in seeds.items():
        for arm, r in runs.items():
            share = r["tasks"]["accuracy"] / teacher_acc if teacher_acc else float("nan")
            lines.append(
                f"| {arm} | {name[4:]} | {r['agreement']:.3f} | {r['kl']:.2f} | {r['cost_usd']:.5f} | "
                f"{r['steps']} | {r['tasks']['accuracy']:.2f} ({share:.0%}) | {r['train_seconds']:.0f} |"
            )
    for arm, row in summary["arms"].items():
        cells = []
        for key, digits in (("agreement", 3), ("kl", 2), ("cost_usd", 5)):
            stats = row.get(key)
            sd = f" ± {stats['sd']:.{digits}f}" if stats and stats["sd"] is not None else ""
            cells.append(f"{stats['mean']:.{digits}f}{sd}" if stats else "")
        lines.append(f"| **{arm}** mean ± sd | {row['runs']} runs | {' | '.join(cells)} | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--n", type=int, default=48, help="exchanges (prompts) per seed")
    parser.add_argument("--sample-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baselines", action="store_true")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.report:
        report()
        return
    if args.baselines:
        baselines()
        return
    pool = read_exchanges(POOL)
    for seed in [int(s) for s in args.seeds.split(",")]:
        run_seed(pool, seed, args.n, args.sample_tokens, args.threads)
    log("done")


if __name__ == "__main__":
    main()
