"""Evidence data for the train/evaluate README section: a prompt pool answered by the embedded teacher.

Writes runs/evidence/pool/exchanges.jsonl (+ manifest.json): reasoning-gym questions
from several tasks, answered by SmolLM2-135M-Instruct at temperature 0.7 with 64 new
tokens and its top-20 log-probs, priced like a small hosted model
($0.15 / $0.60 per million input / output tokens) so curves have a dollar axis.
Run: .venv/bin/python docs/evidence/train/make_data.py [N_PER_TASK [THREADS]]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import reasoning_gym
import torch

from distillscope.evaluate.generate import exchanges_from_model
from distillscope.models import load_model
from distillscope.records import write_jsonl

TASKS = ("basic_arithmetic", "gsm_symbolic", "leg_counting", "word_sorting", "spell_backward")


def main() -> None:
    per_task = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    out = Path("runs/evidence/pool")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    conversations, metas = [], []
    for task in TASKS:
        for item in reasoning_gym.create_dataset(task, size=per_task, seed=1234):
            conversations.append([{"role": "user", "content": item["question"]}])
            metas.append({"task": task, "answer": item["answer"]})
    # Interleave tasks so that "the first N by harvest time" covers every task.
    order = sorted(range(len(conversations)), key=lambda i: (i % per_task, i // per_task))
    conversations = [conversations[i] for i in order]
    metas = [metas[i] for i in order]
    model, tokenizer = load_model()
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        print(f"{done[0]}/{len(conversations)}", flush=True)

    exchanges = []
    for start in range(0, len(conversations), 16):  # written as it goes: a long run keeps its work
        exchanges += exchanges_from_model(
            model, tokenizer, conversations[start : start + 16], "smollm2-135m-instruct", max_new_tokens=64,
            top_logprobs=20, temperature=0.7, batch_size=16, seed=start, metas=metas[start : start + 16],
            strategy="random", progress=tick, price_per_million=(0.15, 0.60),
        )  # fmt: skip
        write_jsonl(exchanges, out / "exchanges.jsonl")
    manifest = {"teacher": "smollm2-135m-instruct", "strategy": "random", "terms": "Apache-2.0 (SmolLM2)"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
