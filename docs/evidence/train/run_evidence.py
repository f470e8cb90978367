"""Evidence for the README: untrained vs trained students, SFT vs top-k KD vs mixed, active vs random.

Input: the teacher pool written by make_data.py (runs/evidence/pool). Uses the
first N exchanges (harvest order) as the "random" dataset; the active strategy
picks N/2 of the same N prompts in two rounds (entropy probe, a few training
steps between rounds), so both arms pay for the same number of teacher answers.
Writes docs/evidence/train/{curve.json,curve.png,methods.json,full_eval.json}.
Run: .venv/bin/python docs/evidence/train/run_evidence.py [N]
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from distillscope.evaluate.curve import run_curve
from distillscope.evaluate.run import evaluate_student
from distillscope.harvest.strategies.active import ActiveStrategy, exchange_key
from distillscope.harvest.strategies.base import Query
from distillscope.records import read_exchanges, write_jsonl
from distillscope.train import TrainSettings, train_student

OUT = Path("docs/evidence/train")
RUNS = Path("runs/evidence")
EVAL = {"n": 12, "max_new_tokens": 24}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    torch.set_num_threads(2)
    pool = read_exchanges(RUNS / "pool" / "exchanges.jsonl")[:n]
    random_dir = RUNS / f"random{n}"
    write_jsonl(pool, random_dir / "exchanges.jsonl")
    (random_dir / "manifest.json").write_text(
        json.dumps({"strategy": "random", "teacher": "smollm2-135m-instruct"})
    )
    settings = TrainSettings(
        method="sft", learning_rate=2e-4, epochs=1, max_steps=3, batch_size=8, max_seq_len=256, threads=2
    )

    active_dir = RUNS / f"active{n // 2}"
    with_active = "--no-active" not in sys.argv
    if with_active and not (active_dir / "exchanges.jsonl").exists():
        select_active(pool, n, settings, active_dir)

    cache = RUNS / "curve" / "teacher_reference.json"
    methods_file = OUT / "methods.json"
    results: dict = json.loads(methods_file.read_text())["results"] if methods_file.exists() else {}
    if "untrained" not in results:
        from distillscope.train.student import make_student

        log("evaluate the untrained student")
        model, tokenizer, _ = make_student(settings)
        results["untrained"] = evaluate_student(
            (model, tokenizer), tasks=(), identity=False, reference_cache=cache, dataset=random_dir, **EVAL
        )["fidelity"]
        del model
    for method in ("sft", "topk-kd", "mixed"):
        if method in results:
            continue
        # The SFT student at n is also the curve's random point at n (same directory and settings).
        target = RUNS / "curve" / "random" / f"n{n}" if method == "sft" else RUNS / f"{method}{n}"
        log(f"train {method}")
        train_student(replace(settings, method=method, dataset=random_dir, out=target, limit=n))
        log(f"evaluate {method}")
        results[method] = evaluate_student(
            target, tasks=(), identity=False, reference_cache=cache, dataset=random_dir, **EVAL
        )["fidelity"]
        record = {"exchanges": n, "settings": settings.hyperparameters(), "results": results}
        methods_file.write_text(json.dumps(record, indent=2, default=str))

    if not with_active:
        log("done (no active arm)")
        return
    log("curve: random vs active")
    curve = run_curve(
        [f"random={random_dir}", f"active={active_dir}"], [n // 2, n], RUNS / "curve",
        settings=settings, **EVAL,
    )  # fmt: skip
    (OUT / "curve.json").write_text(json.dumps(curve, indent=2, default=str))
    (OUT / "curve.png").write_bytes((RUNS / "curve" / "curve.png").read_bytes())
    log("done")


def select_active(pool: list, n: int, settings: TrainSettings, active_dir: Path) -> None:
    """Two rounds of n/4 prompts each, chosen by the student's entropy, 4 training steps between."""
    log("active selection")
    by_key = {exchange_key(e): e for e in pool}
    queries = [Query(tuple({"role": m["role"], "content": m["content"]} for m in e.messages)) for e in pool]
    active = ActiveStrategy(queries, round_size=n // 4, rounds=2, settings=replace(settings), train_steps=4)
    answered: list = []
    for round_index in range(2):
        picked = active.next_round(round_index, answered)
        answered += [by_key[q.key] for q in picked]
        tasks = [by_key[q.key].provenance["query_meta"]["task"] for q in picked]
        log(f"round {round_index}: {len(picked)} prompts, tasks {tasks}")
    ordered = [replace(e, ts=float(i)) for i, e in enumerate(answered)]
    write_jsonl(ordered, active_dir / "exchanges.jsonl")
    manifest = {"strategy": "active", "teacher": "smollm2-135m-instruct"}
    (active_dir / "manifest.json").write_text(json.dumps(manifest))


if __name__ == "__main__":
    main()
