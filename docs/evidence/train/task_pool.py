"""Evidence data for the third round: the teacher's answers on tasks it can do (score >= 0.3).

Writes ``runs/evidence/taskpool/pool/exchanges.jsonl`` (+ manifest.json): questions of
the four reasoning-gym task variants on which SmolLM2-135M-Instruct scored >= 0.3 in
``task_search.json``, each with the evaluation's ``Answer:`` instruction (what a
distiller who wants the task would ask), answered by the teacher at temperature 0.7,
<= 48 new tokens, top-20 log-probs, priced at gpt-4o-mini's list price ($0.15 / $0.60 per
M input / output tokens). Tasks are interleaved, so the first N cover all four.
Also ``runs/evidence/taskpool/heldout/exchanges.jsonl``: 8 questions per task (seed 777)
for fidelity, never in the pool. Pool questions that equal a held-out or a task-accuracy
item (seed 2024, 16 per task) are dropped: small-digit tasks repeat questions, and a
student must not be scored on what it was trained on.

Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/task_pool.py [PER_TASK [THREADS]]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from distillscope.evaluate.generate import exchanges_from_model
from distillscope.evaluate.tasks import INSTRUCTION, make_task_dataset
from distillscope.models import load_model
from distillscope.records import write_jsonl

TASKS = (
    "basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False",
    "chain_sum:min_terms=2:max_terms=2:max_digits=1",
    "products:max_digits=1",
    "gcd:max_value=20",
)
ROOT = Path("runs/evidence/taskpool")
TASK_ITEMS, TASK_SEED, HELD_OUT, HELD_OUT_SEED, POOL_SEED = 16, 2024, 8, 777, 1234
PRICES = (0.15, 0.60)


def questions(task: str, size: int, seed: int) -> list[str]:
    return [item["question"] for item in make_task_dataset(task, size, seed)]


def answered(
    model, tokenizer, prompts: list[tuple[str, str]], out: Path, strategy: str,
    instruction: str = INSTRUCTION, max_new_tokens: int = 48,
) -> None:  # fmt: skip
    """The teacher's sampled answers to ``(task, question)`` pairs, written as harvest writes them."""
    conversations = [[{"role": "user", "content": q + instruction}] for _, q in prompts]
    metas = [{"task": task} for task, _ in prompts]
    exchanges = []
    for start in range(0, len(conversations), 16):
        exchanges += exchanges_from_model(
            model, tokenizer, conversations[start : start + 16], "smollm2-135m-instruct",
            max_new_tokens=max_new_tokens, top_logprobs=20, temperature=0.7, batch_size=16, seed=start,
            metas=metas[start : start + 16], strategy=strategy, price_per_million=PRICES,
        )  # fmt: skip
        print(f"{out}: {len(exchanges)}/{len(conversations)}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(exchanges, out / "exchanges.jsonl")
    manifest = {"teacher": "smollm2-135m-instruct", "strategy": strategy, "terms": "Apache-2.0 (SmolLM2)"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def main() -> None:
    per_task = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    held = {task: questions(task, HELD_OUT, HELD_OUT_SEED) for task in TASKS}
    banned = {q for task in TASKS for q in held[task] + questions(task, TASK_ITEMS, TASK_SEED)}
    pool: dict[str, list[str]] = {}
    for task in TASKS:
        unique = list(dict.fromkeys(q for q in questions(task, 4 * per_task, POOL_SEED) if q not in banned))
        if len(unique) < per_task:
            raise SystemExit(f"{task}: only {len(unique)} distinct questions outside the evaluation sets")
        pool[task] = unique[:per_task]
    interleaved = [(task, pool[task][i]) for i in range(per_task) for task in TASKS]
    held_out = [(task, held[task][i]) for i in range(HELD_OUT) for task in TASKS]
    model, tokenizer = load_model()
    if not (ROOT / "heldout" / "exchanges.jsonl").exists():
        answered(model, tokenizer, held_out, ROOT / "heldout", "held-out")
    answered(model, tokenizer, interleaved, ROOT / "pool", "random")


if __name__ == "__main__":
    main()
