"""Evidence: the disagreement probe against random selection, over seeds, at equal training exchanges.

Input: the task pool of task_pool.py and the on-policy curve (``onpolicy_curve.sh``), whose
``pool:sft`` points at budget 32 are the random arm: the same student (``auto:15``), the
same SFT settings, held-out prompts and retention tasks, trained on the first (seed 0) or a
seeded random (seeds 1-3) 32 exchanges of the pool.

Active arm, per seed: ``ActiveStrategy(probe="disagreement")`` picks 32 of the pool's prompts
(64 in the fourth round) in 2 rounds of 16. Before each round the selection student (the untrained auto:15
copy, then 8 SFT steps with that seed on what was picked) scores every prompt not yet
picked by its cross-entropy on the teacher's greedy 16-token answer to it; the 16 highest
are the round. The teacher's probe answers are generated once and reused (a greedy answer
is deterministic: the harvester's cache would serve the second seed from the first), and
what they would cost is counted per seed: every candidate probed in every round, priced
at gpt-4o-mini's list price. The 32 picked prompts' pool answers are the arm's
exchanges; a student is trained on them as the random arm's were, with the seed, and
scored by ``run_curve``.

Writes docs/evidence/train/active_disagreement.json (per-seed points, mean ± sd, exact
permutation p-values, the probe's cost).
Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/active_evidence.py --seeds 0,1,2,3
(several processes may each take some seeds, once probe_answers.json exists; --report then collects)
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
from distillscope.exchanges import calibration_texts, load_dataset, prompt_messages
from distillscope.harvest.strategies.active import ActiveStrategy, exchange_key
from distillscope.harvest.strategies.base import Query
from distillscope.models.runtime import prompt_ids
from distillscope.records import write_jsonl
from distillscope.train import TrainSettings, make_student

ROOT = Path("runs/evidence/taskpool")
CURVE = Path("runs/evidence/opcurve")
RUNS = Path("runs/evidence/active")
OUT = Path("docs/evidence/train/active_disagreement.json")
BUDGET, ROUND, PROBE_TOKENS, SELECT_STEPS = 32, 16, 16, 8
PRICE = (0.15, 0.60)  # gpt-4o-mini, USD per M input / output tokens
SETTINGS = TrainSettings(
    student_layers="auto:15", learning_rate=2e-4, epochs=2, batch_size=8, threads=1, progress=False,
    save_every=10_000,
)  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def probe_answers(queries: list[Query]) -> dict[str, str]:
    """The teacher's greedy 16-token answer to every pool prompt, generated once."""
    path = RUNS / "probe_answers.json"
    if path.exists():
        return json.loads(path.read_text())
    from distillscope.evaluate.teachers import make_teacher

    teacher = make_teacher("smollm2-135m-instruct")
    answers = teacher.complete([list(q.messages) for q in queries], PROBE_TOKENS)
    stored = {q.key: a.text for q, a in zip(queries, answers, strict=True)}
    RUNS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored))
    return stored


def select(seed: int, pool: list, queries: list[Query], answers: dict[str, str]) -> tuple[Path, dict]:
    """The disagreement probe's 32 prompts for one seed, as an exchanges dataset, and the probe's cost."""
    target = RUNS / f"data-seed{seed}"
    record_path = target / "selection.json"
    if record_path.exists():
        return target, json.loads(record_path.read_text())
    settings = replace(SETTINGS, seed=seed)
    data = load_dataset(ROOT / "pool")
    model, tokenizer, _ = make_student(settings, calibration_texts(data))
    probed: list[Query] = []

    def teacher_probe(batch: list[Query]) -> list[str]:
        probed.extend(batch)
        return [answers[q.key] for q in batch]

    strategy = ActiveStrategy(
        queries, ROUND, rounds=BUDGET // ROUND, model=model, tokenizer=tokenizer, settings=settings,
        probe="disagreement", probe_tokens=PROBE_TOKENS, train_steps=SELECT_STEPS,
        teacher_probe=teacher_probe,
    )  # fmt: skip
    by_key = {exchange_key(e): e for e in pool}
    picked: list = []
    for round_index in range(BUDGET // ROUND):
        chosen = strategy.next_round(round_index, picked)
        picked += [by_key[q.key] for q in chosen]
        log(f"seed {seed}: round {round_index} picked {len(chosen)} (tasks {_tasks(chosen)})")
    exchanges = [replace(e, ts=float(i)) for i, e in enumerate(picked)]
    write_jsonl(exchanges, target / "exchanges.jsonl")
    (target / "manifest.json").write_text(
        json.dumps({"strategy": "active", "teacher": "smollm2-135m-instruct"})
    )
    input_tokens = sum(len(prompt_ids(tokenizer, list(q.messages))) for q in probed)
    output_tokens = sum(len(tokenizer.encode(answers[q.key], add_special_tokens=False)) for q in probed)
    record = {
        "probe_calls": len(probed),
        "probe_cost_usd": (input_tokens * PRICE[0] + output_tokens * PRICE[1]) / 1e6,
        "answers_cost_usd": sum(e.cost_usd or 0.0 for e in exchanges),
        "tasks": _tasks([Query(tuple(prompt_messages(e))) for e in exchanges], pool),
    }
    record_path.write_text(json.dumps(record, indent=2))
    return target, record


def _tasks(chosen: list[Query], pool: list | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in chosen:
        task = q.meta.get("task")
        if task is None and pool is not None:
            task = next(_task_of(e) for e in pool if exchange_key(e) == q.key)
        counts[str(task).split(":")[0]] = counts.get(str(task).split(":")[0], 0) + 1
    return counts


def _task_of(exchange) -> str | None:
    return ((exchange.provenance or {}).get("query_meta") or {}).get("task")


def train_and_score(seed: int, data: Path) -> dict:
    out = RUNS / f"curve-seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    for cache in ("teacher_reference.json", "teacher_tasks.json"):  # the curve's, so the teacher runs once
        if (CURVE / cache).exists() and not (out / cache).exists():
            shutil.copy(CURVE / cache, out / cache)
    result = run_curve(
        [f"active={data}"], [BUDGET], out, settings=SETTINGS, prompts=str(ROOT / "heldout"), n=32,
        max_new_tokens=24, include_untrained=False, seeds=[seed], methods=["sft"], tasks=TASKS, task_size=8,
        task_max_new_tokens=48,
    )  # fmt: skip
    return result["points"][0]


def report(results: dict) -> dict:
    curve = json.loads((CURVE / "curve.json").read_text())
    random_arm = {
        p["seed"]: p for p in curve["points"] if p["strategy"] == "pool:sft" and p["exchanges"] == BUDGET
    }
    seeds = sorted(s for s in results if int(s) in random_arm)
    summary: dict = {"budget": BUDGET, "seeds": seeds, "per_seed": {}, "arms": {}, "active_minus_random": {}}
    for s in seeds:
        summary["per_seed"][s] = {"active": results[s], "random": random_arm[int(s)]}
    for key in ("agreement", "kl", "task_share"):
        active = [results[s]["point"][key] for s in seeds]
        rand = [random_arm[int(s)][key] for s in seeds]
        for arm, xs in (("active", active), ("random", rand)):
            summary["arms"].setdefault(arm, {})[key] = {
                "mean": statistics.fmean(xs),
                "sd": statistics.stdev(xs) if len(xs) > 1 else None,
            }
        if len(seeds) > 1:
            summary["active_minus_random"][key] = {
                "difference": statistics.fmean(active) - statistics.fmean(rand),
                "p_value": exact_permutation_p(active, rand),
            }
    probe = [results[s]["selection"]["probe_cost_usd"] for s in seeds]
    answers = [results[s]["selection"]["answers_cost_usd"] for s in seeds]
    summary["cost"] = {
        "active_answers_usd": statistics.fmean(answers),
        "active_probe_usd": statistics.fmean(probe),
        "random_answers_usd": statistics.fmean(random_arm[int(s)]["cost_usd"] for s in seeds),
    }
    OUT.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = RUNS / "results.json"
    results = json.loads(state.read_text()) if state.exists() else {}
    if not args.report:
        pool = load_dataset(ROOT / "pool").exchanges
        queries = [Query(tuple(prompt_messages(e)), {"task": _task_of(e)}) for e in pool]
        answers = probe_answers(queries)
        for seed in [int(s) for s in args.seeds.split(",")]:
            if str(seed) in results:
                continue
            data, selection = select(seed, pool, queries, answers)
            point = train_and_score(seed, data)
            results = json.loads(state.read_text()) if state.exists() else {}  # other processes' seeds
            results[str(seed)] = {"selection": selection, "point": point}
            state.write_text(json.dumps(results, indent=2, default=str))
            log(f"seed {seed}: active agreement {point['agreement']:.3f} kl {point['kl']:.2f}")
    print(json.dumps(report(results), indent=2, default=str))


if __name__ == "__main__":
    main()
