"""Evidence data for the retention rounds: the whole allowed budget (400 exchanges), verifiable.

Writes ``OUT/exchanges.jsonl`` (+ manifest.json), by default ``runs/evidence/retain/pool``:
``QUESTIONS`` distinct questions of each of the task pool's four tasks (``task_pool.TASKS``, the
same exclusions: never a held-out or task-accuracy question), each answered ``SAMPLES`` times by
the teacher at ``--temperature`` (0.7, as ``task_pool.py`` asks), <= 48 new tokens, top-20
log-probs, priced at gpt-4o-mini's list price ($0.15 / $0.60 per M input / output tokens), so an
answer here costs what one there does. Sample ``r`` of every question comes before sample
``r + 1`` of any (so the first ``4 * QUESTIONS`` exchanges are one answer per question), tasks
interleaved. Every query carries its reasoning-gym item's address (``task``, ``seed``, ``size``,
``index``), so ``train --verify`` can keep only the answers the task's own checker scores correct
(rejection sampling: every answer is paid for, the wrong ones dropped).

``--total N`` asks ``N`` distinct questions once each instead (retention round 2: greedy answers,
``--temperature 0``): the tasks are interleaved while each has distinct questions left outside the
evaluation sets (products has only 79), so 400 = 79 products + 107 of each other task. Greedy
answers to one question are all the same, so temperature 0 takes one sample a question.

Run: PYTHONPATH=$PWD:docs/evidence/train nice -n 10 .venv/bin/python docs/evidence/train/retain_pool.py
       [QUESTIONS [SAMPLES]]      (defaults 50 and 2: 400 exchanges; retention round 1)
     ... retain_pool.py --total 400 --temperature 0 --out runs/evidence/retain/greedy   (round 2)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from task_pool import HELD_OUT, HELD_OUT_SEED, POOL_SEED, PRICES, TASK_ITEMS, TASK_SEED, TASKS, questions

from distillscope.evaluate.generate import exchanges_from_model
from distillscope.evaluate.tasks import INSTRUCTION
from distillscope.models import load_model
from distillscope.records import write_jsonl

OUT = Path("runs/evidence/retain/pool")
ADDRESS_SIZE = 1000  # items generated per task to find distinct questions (their index is the address)


def addressed(task: str, count: int | None, banned: set[str]) -> list[dict]:
    """The first ``count`` (None: all) distinct questions of ``task`` outside ``banned``, addressed."""
    seen: set[str] = set()
    out = []
    for index, question in enumerate(questions(task, ADDRESS_SIZE, POOL_SEED)):
        if question in banned or question in seen:
            continue
        seen.add(question)
        out.append({"source": "reasoning_gym", "task": task, "seed": POOL_SEED, "size": ADDRESS_SIZE,
                    "index": index, "question": question})  # fmt: skip
        if len(out) == count:
            return out
    if count is None:
        return out
    raise SystemExit(f"{task}: only {len(out)} distinct questions outside the evaluation sets")


def evaluation_questions() -> set[str]:
    """Every held-out and task-accuracy question: never asked for the pool."""
    banned = {q for task in TASKS for q in questions(task, HELD_OUT, HELD_OUT_SEED)}
    return banned | {q for task in TASKS for q in questions(task, TASK_ITEMS, TASK_SEED)}


def pool_questions(per_task: int | None, total: int | None = None) -> list[dict]:
    """The addressed questions in asking order: tasks interleaved, ``per_task`` each or ``total`` in all."""
    if (per_task is None) == (total is None):
        raise ValueError("give either questions per task or a total")
    banned = evaluation_questions()
    pool = {task: addressed(task, per_task, banned) for task in TASKS}
    longest = max(len(p) for p in pool.values())
    metas = [pool[task][i] for i in range(longest) for task in TASKS if i < len(pool[task])]
    if total is None:
        return metas
    if len(metas) < total:
        raise SystemExit(f"only {len(metas)} distinct questions outside the evaluation sets, asked {total}")
    return metas[:total]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("questions", nargs="?", type=int, default=50, help="distinct questions a task")
    parser.add_argument("samples", nargs="?", type=int, default=2, help="answers a question")
    parser.add_argument("--total", type=int, help="ask this many distinct questions once each instead")
    parser.add_argument("--temperature", type=float, default=0.7, help="the teacher's (0: greedy)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.total is not None:
        args.samples = 1
    if args.temperature < 0:
        parser.error("--temperature must be >= 0")
    if args.temperature == 0 and args.samples > 1:
        parser.error("greedy answers to one question are all the same: temperature 0 takes one sample")
    if min(args.questions, args.samples, 1 if args.total is None else args.total) < 1:
        parser.error("questions, samples and --total must be >= 1")
    return args


def main() -> None:
    args = parse()
    torch.set_num_threads(1)
    metas = pool_questions(None if args.total else args.questions, args.total)
    model, tokenizer = load_model()
    exchanges = []
    for sample in range(args.samples):
        for start in range(0, len(metas), 16):
            batch = metas[start : start + 16]
            chats = [[{"role": "user", "content": m["question"] + INSTRUCTION}] for m in batch]
            exchanges += exchanges_from_model(
                model, tokenizer, chats, "smollm2-135m-instruct", max_new_tokens=48, top_logprobs=20,
                temperature=args.temperature, batch_size=16, seed=10_000 * sample + start,
                metas=[m | {"sample": sample} for m in batch], strategy="random", price_per_million=PRICES,
            )  # fmt: skip
            print(f"{args.out}: {len(exchanges)}/{len(metas) * args.samples}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(exchanges, args.out / "exchanges.jsonl")
    manifest = {"teacher": "smollm2-135m-instruct", "strategy": "random", "terms": "Apache-2.0 (SmolLM2)",
                "questions_per_task": args.questions if args.total is None else None,
                "samples_per_question": args.samples}  # fmt: skip
    if args.total is not None or args.temperature != 0.7:
        manifest |= {"questions": len(metas), "temperature": args.temperature}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
