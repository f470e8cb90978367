"""Evidence: is the retention measurement stable? The teacher's task accuracy on disjoint item sets.

The retention tasks (four reasoning-gym variants on which the embedded teacher scored >= 0.3
in ``task_search.json``) are scored on 8 items a task (32 items, seed 2024) in the curves.
This script answers the same tasks on ``--sets`` item sets (seeds 2024, 2025, ...; 8 a task,
greedy, <= 48 new tokens, the curve's ``Answer:`` instruction and ``score_answer``) and
writes each set's accuracy, per task and overall, plus the per-item scores, so the
set-to-set spread of the denominator of every task share can be read off directly.

Writes docs/evidence/train/task_stability.json.
Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/task_stability.py [--sets 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from distillscope.evaluate.tasks import INSTRUCTION, task_items
from distillscope.evaluate.teachers import make_teacher

TASKS = (
    "basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False",
    "chain_sum:min_terms=2:max_terms=2:max_digits=1",
    "products:max_digits=1",
    "gcd:max_value=20",
)
OUT = Path("docs/evidence/train/task_stability.json")
PER_TASK, FIRST_SEED, MAX_NEW_TOKENS = 8, 2024, 48


def item_scores(teacher, seed: int) -> list[dict]:
    """Per item: task, question, the teacher's greedy reply and its score (``score_answer``)."""
    from distillscope.evaluate.tasks import extract_answer

    items = task_items(list(TASKS), PER_TASK, seed)
    chats = [[{"role": "user", "content": item["question"] + INSTRUCTION}] for _, _, item in items]
    replies = [r.text for r in teacher.complete(chats, MAX_NEW_TOKENS)]
    rows = []
    for (task, dataset, item), reply in zip(items, replies, strict=True):
        # exactly as distillscope.evaluate.tasks.task_accuracy scores an item, kept per item here
        score = float(dataset.score_answer(answer=extract_answer(reply, str(item.get("answer"))), entry=item))
        rows.append(
            {"task": task.split(":")[0], "question": item["question"], "reply": reply, "score": score}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    teacher = make_teacher("smollm2-135m-instruct")
    sets = []
    for seed in range(FIRST_SEED, FIRST_SEED + args.sets):
        rows = item_scores(teacher, seed)
        per_task: dict[str, list[float]] = {}
        for row in rows:
            per_task.setdefault(row["task"], []).append(row["score"])
        accuracy = statistics.fmean(r["score"] for r in rows)
        sets.append({
            "seed": seed, "items": len(rows), "accuracy": accuracy,
            "per_task": {t: statistics.fmean(v) for t, v in per_task.items()}, "rows": rows,
        })  # fmt: skip
        print(f"seed {seed}: teacher accuracy {accuracy:.3f} on {len(rows)} items", flush=True)
    accuracies = [s["accuracy"] for s in sets]
    scores = [r["score"] for s in sets for r in s["rows"]]
    spread = statistics.stdev(accuracies) if len(sets) > 1 else None
    summary = {
        "tasks": list(TASKS), "items_per_task": PER_TASK, "max_new_tokens": MAX_NEW_TOKENS,
        "set_accuracy": {"mean": statistics.fmean(accuracies), "sd": spread, "values": accuracies},
        "pooled": {"items": len(scores), "accuracy": statistics.fmean(scores),
                   "item_sd": statistics.pstdev(scores)},
        "sets": sets,
    }  # fmt: skip
    OUT.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "sets"}, indent=2))


if __name__ == "__main__":
    main()
