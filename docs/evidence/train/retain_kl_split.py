"""Evidence: where a retention student's KL comes from -- held-out prompts the teacher answers right vs wrong.

The curve's fidelity judge is the teacher's greedy answer to each of the 32 held-out prompts (the
same prompts as ``retain_curve.sh``, the answers read from its cache ``OUT/teacher_reference.json``).
Those prompts are task questions, so each reference answer can be scored by the task's own checker.
This splits agreement and KL per token (``evaluate.fidelity``, teacher-forced along the reference) by
whether the teacher's answer is right, and prints the share of the KL that falls on the prompts it
gets wrong: a student trained only on correct answers may be sure of the right digit where the
teacher writes a wrong one.

Nothing here trains or changes a student. Run:
  PYTHONPATH=$PWD:docs/evidence/train nice -n 10 .venv/bin/python docs/evidence/train/retain_kl_split.py \\
    runs/evidence/retain/curve/g400-l24/n400 [STUDENT ...] [--out runs/evidence/retain/curve]
Writes docs/evidence/train/retain_kl_split.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from task_pool import HELD_OUT, HELD_OUT_SEED, TASKS

from distillscope.evaluate.fidelity import Continuation, fidelity
from distillscope.evaluate.run import load_prompts
from distillscope.evaluate.tasks import INSTRUCTION, extract_answer, make_task_dataset
from distillscope.evaluate.teachers import make_teacher
from distillscope.models import load_model

HELD = "runs/evidence/taskpool/heldout"
N, SEED, MAX_NEW_TOKENS = 32, 777, 24  # as retain_curve.sh scores fidelity


def teacher_right(conversations: list, continuations: list) -> list[bool]:
    """Whether the teacher's reference answer to each held-out task question is right (task checker)."""
    items = {}
    for task in TASKS:
        dataset = make_task_dataset(task, HELD_OUT, HELD_OUT_SEED)
        for entry in dataset:
            items[entry["question"] + INSTRUCTION] = (dataset, entry)
    right = []
    for conversation, cont in zip(conversations, continuations, strict=True):
        dataset, entry = items[conversation[-1]["content"]]
        answer = extract_answer(cont.text, str(entry["answer"]))
        right.append(float(dataset.score_answer(answer=answer, entry=entry)) >= 1.0)
    return right


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("students", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/evidence/retain/curve"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    teacher = make_teacher("smollm2-135m-instruct")
    conversations = list(load_prompts(HELD, N, SEED))
    cached = json.loads((args.out / "teacher_reference.json").read_text())["continuations"]
    continuations = [Continuation(**c) for c in cached]  # the curve's own references, read as they are
    right = teacher_right(conversations, continuations)
    result = {"teacher_right": sum(right), "prompts": len(right), "students": {}}
    for path in args.students:
        model, tokenizer = load_model(path)
        row = {}
        for name, keep in (("all", [True] * len(right)), ("teacher_right", right),
                           ("teacher_wrong", [not r for r in right])):  # fmt: skip
            convs = [c for c, k in zip(conversations, keep, strict=True) if k]
            conts = [c for c, k in zip(continuations, keep, strict=True) if k]
            scores = fidelity(model, tokenizer, convs, conts, teacher=teacher.model,
                              teacher_tokenizer=teacher.tokenizer)  # fmt: skip
            row[name] = {key: scores[key] for key in ("prompts", "tokens", "agreement", "kl")}
        wrong, total = row["teacher_wrong"], row["all"]
        row["kl_share_on_teacher_wrong"] = wrong["kl"] * wrong["tokens"] / (total["kl"] * total["tokens"])
        result["students"][str(path)] = row
        print(
            f"{path}: all {total['agreement']:.3f} / KL {total['kl']:.2f} ({total['tokens']} tokens); "
            f"teacher right ({row['teacher_right']['prompts']} prompts) "
            f"{row['teacher_right']['agreement']:.3f} / {row['teacher_right']['kl']:.2f}; "
            f"teacher wrong ({wrong['prompts']}) "
            f"{wrong['agreement']:.3f} / {wrong['kl']:.2f}; share of the KL on teacher-wrong prompts "
            f"{row['kl_share_on_teacher_wrong']:.0%}",
            flush=True,
        )
        del model
    Path("docs/evidence/train/retain_kl_split.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
