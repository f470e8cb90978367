"""Which reasoning-gym tasks can the embedded teacher (SmolLM2-135M-Instruct) actually do?

Asks the teacher (greedy, with the evaluation's "Answer:" instruction) a few items of
each candidate task spec and scores them with the task's own ``score_answer``. A task
is usable for retention when the teacher scores at least 0.3 *above chance* (binary
answers are left out on purpose). Writes docs/evidence/train/task_search.json.
Run: PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/task_search.py [ITEMS [THREADS]]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from distillscope.evaluate.fidelity import student_greedy
from distillscope.evaluate.tasks import task_accuracy, task_items
from distillscope.models import load_model

CANDIDATES = (
    "basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False",
    "chain_sum:min_terms=2:max_terms=2:max_digits=1",
    "products:max_digits=1",
    "needle_haystack:min_num_statements=5:max_num_statements=10",
    "word_sequence_reversal:max_words=3",
    "spell_backward:max_word_len=4",
    "letter_counting:min_words=3:max_words=5",
    "simple_equations:max_terms=2:max_value=10",
    "gcd:max_value=20",
    "basic_arithmetic",
)
OUT = Path("docs/evidence/train/task_search.json")


def main() -> None:
    items_per_task = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    model, tokenizer = load_model()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for spec in CANDIDATES:
        if spec in results:
            continue
        started = time.monotonic()
        items = task_items([spec], items_per_task, 2024)
        scored = task_accuracy(lambda c: student_greedy(model, tokenizer, c, 64), items)
        results[spec] = {"items": scored["items"], "teacher_accuracy": scored["accuracy"]}
        print(f"{spec}: {scored['accuracy']:.2f} of {scored['items']} ({time.monotonic() - started:.0f} s)")
        OUT.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
