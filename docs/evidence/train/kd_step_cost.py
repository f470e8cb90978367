"""CPU cost of one training step: SFT (cross-entropy) against top-k KD (sparse_kd_loss), side by side.

The same auto:24-sized student (SmolLM2's first 24 layers; which layers does not change the cost), the same
batch (8 sequences of 110 tokens, the last 20 positions answer tokens with top-20 teacher log-probs), one
torch thread, the two losses alternated in one process so that the machine's load falls on both alike.
Prints JSON: CPU seconds per step (forward, backward, AdamW) for each repetition of each loss.
Run (repository root): PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/kd_step_cost.py
    > docs/evidence/train/kd_step_cost.json
"""

from __future__ import annotations

import json
import os
import time

import torch
from transformers import AutoModelForCausalLM

from distillscope.models import resolve_model_path
from distillscope.train.losses import completion_ce, sparse_kd_loss

BATCH, LENGTH, ANSWER, TOP_K, LAYERS, STEPS, ROUNDS = 8, 110, 20, 20, 24, 2, 3


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(), dtype=torch.float32)
    model.model.layers = model.model.layers[:LAYERS]
    model.config.num_hidden_layers = LAYERS
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (BATCH, LENGTH))
    attention = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, : LENGTH - ANSWER] = -100
    mask = torch.zeros(BATCH, LENGTH, dtype=torch.bool)
    mask[:, LENGTH - ANSWER - 1 : LENGTH - 1] = True  # the positions predicting the answer tokens
    kd_ids = torch.stack([torch.randperm(vocab)[:TOP_K] for _ in range(BATCH * LENGTH)]).view(
        BATCH, LENGTH, TOP_K
    )
    kd_logprobs = torch.log_softmax(torch.randn(BATCH, LENGTH, TOP_K), -1) - 0.1  # some mass in the tail
    out: dict[str, list[float]] = {"sft": [], "topk-kd": []}
    for _ in range(ROUNDS):
        for name in out:
            started = time.process_time()
            for _ in range(STEPS):
                logits = model(input_ids=ids, attention_mask=attention).logits
                if name == "sft":
                    loss = completion_ce(logits, labels)
                else:
                    loss = sparse_kd_loss(logits, kd_ids, kd_logprobs, mask)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            out[name].append(round((time.process_time() - started) / STEPS, 2))
    load = os.getloadavg()
    print(
        json.dumps(
            {
                "cpu_s_per_step": out,
                "batch": [BATCH, LENGTH],
                "answer_positions": ANSWER,
                "top_k": TOP_K,
                "layers": LAYERS,
                "load_average": [round(x, 2) for x in load],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
