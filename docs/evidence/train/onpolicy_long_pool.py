"""Evidence data with long answers: the task pool's questions, asked for a worked, step-by-step answer.

Why: with the short answers of ``task_pool.py`` (~18 output tokens after a ~64-token prompt) a
scoring call (the prompt re-sent plus the sample, input tokens only) costs ~0.66x an answer at
gpt-4o-mini's list price, so on-policy gets only ~1.5x the samples per dollar. With answers of
100-150 tokens the answer's output tokens dominate its price and a scoring call costs ~0.3-0.4x
an answer: the regime where on-policy distillation through an API can buy 2.5-3x the samples.

Writes ``runs/evidence/longpool/pool`` (64 questions, 16 a task, the same tasks and the same
held-out exclusions as ``task_pool.py``, each with ``COT`` appended, answered by the teacher at
temperature 0.7, <= 128 new tokens, top-20 log-probs, priced at gpt-4o-mini's $0.15 / $0.60 per M)
and ``runs/evidence/longpool/heldout`` (32 held-out questions, 8 a task, seed 777, with ``COT``;
only their prompts are used: the curve asks the teacher for its greedy answers itself).

Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/onpolicy_long_pool.py [PER_TASK]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from task_pool import (  # this script's folder is on sys.path
    HELD_OUT,
    HELD_OUT_SEED,
    POOL_SEED,
    TASK_ITEMS,
    TASK_SEED,
    TASKS,
    answered,
    questions,
)

from distillscope.models import load_model

ROOT = Path("runs/evidence/longpool")
COT = (
    "\nThink step by step: explain how you get the result, then end your reply with a line "
    "'Answer: <final answer>'."
)


def main() -> None:
    per_task = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    torch.set_num_threads(1)
    held = {task: questions(task, HELD_OUT, HELD_OUT_SEED) for task in TASKS}
    banned = {q for task in TASKS for q in held[task] + questions(task, TASK_ITEMS, TASK_SEED)}
    pool = {
        task: list(dict.fromkeys(q for q in questions(task, 4 * per_task, POOL_SEED) if q not in banned))[
            :per_task
        ]
        for task in TASKS
    }
    model, tokenizer = load_model()
    if not (ROOT / "heldout" / "exchanges.jsonl").exists():
        held_out = [(task, held[task][i]) for i in range(HELD_OUT) for task in TASKS]
        answered(model, tokenizer, held_out, ROOT / "heldout", "held-out", COT, max_new_tokens=1)
    interleaved = [(task, pool[task][i]) for i in range(per_task) for task in TASKS]
    answered(model, tokenizer, interleaved, ROOT / "pool", "random", COT, max_new_tokens=128)


if __name__ == "__main__":
    main()
