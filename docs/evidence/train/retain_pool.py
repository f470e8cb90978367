"""Evidence data for the retention round: the whole allowed budget (400 exchanges), verifiable.

Writes ``runs/evidence/retain/pool/exchanges.jsonl`` (+ manifest.json): ``QUESTIONS`` distinct
questions of each of the task pool's four tasks (``task_pool.TASKS``, the same exclusions:
never a held-out or task-accuracy question), each answered ``SAMPLES`` times by the teacher
at temperature 0.7, <= 48 new tokens, top-20 log-probs, priced at gpt-4o-mini's list price
($0.15 / $0.60 per M input / output tokens) -- exactly as ``task_pool.py`` asks, so an
answer here costs what one there does. Sample ``r`` of every question comes before sample
``r + 1`` of any (so the first ``4 * QUESTIONS`` exchanges are one answer per question), tasks
interleaved. Every query carries its reasoning-gym item's address (``task``, ``seed``,
``size``, ``index``), so ``train --verify`` can keep only the answers the task's own
checker scores correct (rejection sampling: every answer is paid for, the wrong ones dropped).

Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/retain_pool.py [QUESTIONS [SAMPLES]]
(defaults 50 and 2: 400 exchanges).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from task_pool import HELD_OUT, HELD_OUT_SEED, POOL_SEED, PRICES, TASK_ITEMS, TASK_SEED, TASKS, questions

from distillscope.evaluate.generate import exchanges_from_model
from distillscope.evaluate.tasks import INSTRUCTION
from distillscope.models import load_model
from distillscope.records import write_jsonl

OUT = Path("runs/evidence/retain/pool")
ADDRESS_SIZE = 1000  # items generated per task to find distinct questions (their index is the address)


def addressed(task: str, count: int, banned: set[str]) -> list[dict]:
    """The first ``count`` distinct questions of ``task`` outside ``banned``, with their item address."""
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
    raise SystemExit(f"{task}: only {len(out)} distinct questions outside the evaluation sets")


def main() -> None:
    per_task = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(1)
    banned = {q for task in TASKS for q in questions(task, HELD_OUT, HELD_OUT_SEED)}
    banned |= {q for task in TASKS for q in questions(task, TASK_ITEMS, TASK_SEED)}
    pool = {task: addressed(task, per_task, banned) for task in TASKS}
    metas = [pool[task][i] for i in range(per_task) for task in TASKS]
    model, tokenizer = load_model()
    exchanges = []
    for sample in range(samples):
        for start in range(0, len(metas), 16):
            batch = metas[start : start + 16]
            chats = [[{"role": "user", "content": m["question"] + INSTRUCTION}] for m in batch]
            exchanges += exchanges_from_model(
                model, tokenizer, chats, "smollm2-135m-instruct", max_new_tokens=48, top_logprobs=20,
                temperature=0.7, batch_size=16, seed=10_000 * sample + start,
                metas=[m | {"sample": sample} for m in batch], strategy="random", price_per_million=PRICES,
            )  # fmt: skip
            print(f"{OUT}: {len(exchanges)}/{len(metas) * samples}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(exchanges, OUT / "exchanges.jsonl")
    manifest = {"teacher": "smollm2-135m-instruct", "strategy": "random", "terms": "Apache-2.0 (SmolLM2)",
                "questions_per_task": per_task, "samples_per_question": samples}  # fmt: skip
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
