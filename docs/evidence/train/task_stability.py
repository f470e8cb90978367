"""Evidence: is the retention measurement stable? The teacher's task accuracy on disjoint item sets.

The retention tasks (four reasoning-gym variants on which the embedded teacher scored >= 0.3
in ``task_search.json``) are scored on 8 items a task (32 items, seed 2024) in the curves.
This script answers the same tasks on ``--sets`` item sets (seeds 2024, 2025, ...; 8 a task,
greedy, <= 48 new tokens, the curve's ``Answer:`` instruction and ``score_answer``) and
writes each set's accuracy, per task and overall, plus the per-item scores, so the
set-to-set spread of the denominator of every task share can be read off directly.

``--students DIR ...`` then scores trained students on the same sets (the teacher's answers are
read back from the JSON) and adds each one's accuracy and share of the teacher's per set and
pooled, so a share can be read on 3x the items the curves use.

Writes docs/evidence/train/task_stability.json.
Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/task_stability.py [--sets 3]
     ... task_stability.py --students runs/evidence/opcurve/pool/sft/n64 ...
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from task_pool import TASKS  # the task pool's tasks, defined once (this script's folder is on sys.path)

from distillscope.evaluate.tasks import INSTRUCTION, task_items
from distillscope.evaluate.teachers import make_teacher

OUT = Path("docs/evidence/train/task_stability.json")
PER_TASK, FIRST_SEED, MAX_NEW_TOKENS = 8, 2024, 48


def item_scores(answer, seed: int) -> list[dict]:
    """Per item: task, question, the greedy reply of ``answer`` (chats -> texts) and its score."""
    from distillscope.evaluate.tasks import extract_answer

    items = task_items(list(TASKS), PER_TASK, seed)
    chats = [[{"role": "user", "content": item["question"] + INSTRUCTION}] for _, _, item in items]
    replies = answer(chats)
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
    parser.add_argument("--students", nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.students:
        return score_students(args.students)
    model = make_teacher("smollm2-135m-instruct")

    def teacher(chats: list) -> list[str]:
        return [r.text for r in model.complete(chats, MAX_NEW_TOKENS)]

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


def score_students(paths: list[str]) -> None:
    """Each student's accuracy on the stored sets, per set and pooled, and its share of the teacher's."""
    from distillscope.evaluate.fidelity import student_greedy
    from distillscope.models import load_model

    summary = json.loads(OUT.read_text())
    students = summary.setdefault("students", {})
    teacher_sets = [s["accuracy"] for s in summary["sets"]]
    teacher_pooled = summary["pooled"]["accuracy"]
    for path in paths:
        if path in students:
            continue
        model, tokenizer = load_model(path)

        def student(chats: list, model=model, tokenizer=tokenizer) -> list[str]:
            return student_greedy(model, tokenizer, chats, MAX_NEW_TOKENS)

        per_set = [
            statistics.fmean(r["score"] for r in item_scores(student, s["seed"])) for s in summary["sets"]
        ]
        pooled = statistics.fmean(per_set)  # equal-sized sets
        students[path] = {
            "set_accuracy": per_set,
            "set_share": [a / t for a, t in zip(per_set, teacher_sets, strict=True)],
            "pooled_accuracy": pooled,
            "pooled_share": pooled / teacher_pooled,
        }
        print(
            f"{path}: accuracy per set {[round(a, 3) for a in per_set]}, "
            f"pooled share {pooled / teacher_pooled:.2f}"
        )
        OUT.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
