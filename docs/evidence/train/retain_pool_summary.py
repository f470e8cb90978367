"""Evidence: what a retention pool holds and cost, how many answers ``train --verify`` keeps, and the epochs.

For each pool folder (``retain_pool.py``'s output) it prints the exchanges, the distinct questions,
the prompt and completion tokens and their dollars at gpt-4o-mini's list price (input and output
separately), the answers the task's own checker scores correct (``harvest.verify.keep_verified``,
the rule ``train --verify`` applies), per task (unaddressed exchanges are counted, not scored), and
retention round 2's registered epoch rule for a student trained on the K verified answers: the
largest multiple of 0.1 with ceil(epochs x K / 8) <= 66 steps of batch 8 (66 of round 1's dearest
steps, 8.3 CPU-s, are ~550 CPU-s: 50 s under the 600 allowed). ``--first N PATH``: also whether the
first ``N`` answers are the same as another pool's (question, reply and token counts).

Nothing here looks at a held-out or task-accuracy item.
Run: PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/retain_pool_summary.py POOL [POOL ...]
       [--first 64 runs/evidence/taskpool/pool] [--epochs-only]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from distillscope.exchanges import load_dataset
from distillscope.harvest.verify import keep_verified

PRICES = (0.15, 0.60)  # gpt-4o-mini list price, USD per million input / output tokens (task_pool.PRICES)
BATCH, MAX_STEPS = 8, 66


def registered_epochs(kept: int) -> float:
    """Round 2's epoch rule, from the verified count alone: the most tenths of a pass in MAX_STEPS steps."""
    if kept < 1:
        raise ValueError("no verified answers to train on")
    return max(t for t in range(1, 1000) if math.ceil(t / 10 * kept / BATCH) <= MAX_STEPS) / 10


def summary(path: Path) -> dict:
    data = load_dataset(path)
    exchanges = data.exchanges
    verified = keep_verified(exchanges, unverifiable="drop")
    prompt = sum(e.prompt_tokens or 0 for e in exchanges)
    completion = sum(e.completion_tokens or 0 for e in exchanges)
    kept = len(verified.kept)
    epochs = registered_epochs(kept) if kept else None
    return {
        "exchanges": len(exchanges),
        "distinct_questions": len({e.messages[-1]["content"] for e in exchanges}),
        "prompt_tokens": prompt, "completion_tokens": completion,
        "usd_input": prompt * PRICES[0] / 1e6, "usd_output": completion * PRICES[1] / 1e6,
        "correct": verified.correct, "unverifiable": verified.unverifiable, "per_task": verified.per_task,
        "kept": kept, "epochs": epochs, "steps": math.ceil(epochs * kept / BATCH) if epochs else None,
    }  # fmt: skip


def same_first(path: Path, other: Path, count: int) -> int:
    """How many of the first ``count`` answers equal the other pool's (question, reply, tokens)."""

    def key(e) -> tuple:
        return e.messages[-1]["content"], e.response_text, e.prompt_tokens, e.completion_tokens

    mine, theirs = load_dataset(path).exchanges[:count], load_dataset(other).exchanges[:count]
    return sum(key(a) == key(b) for a, b in zip(mine, theirs, strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pools", nargs="+", type=Path)
    parser.add_argument("--first", nargs=2, metavar=("N", "POOL"), help="compare the first N with POOL's")
    parser.add_argument("--epochs-only", action="store_true", help="print only the registered epochs")
    args = parser.parse_args()
    if args.epochs_only:
        print(" ".join(f"{summary(path)['epochs']:.1f}" for path in args.pools))
        return
    for path in args.pools:
        s = summary(path)
        tasks = ", ".join(f"{t} {c}/{n}" for t, (c, n) in s["per_task"].items())
        print(
            f"{path}: {s['exchanges']} exchanges, {s['distinct_questions']} distinct questions; "
            f"{s['prompt_tokens']:,} input + {s['completion_tokens']:,} output tokens = "
            f"${s['usd_input']:.5f} + ${s['usd_output']:.5f} = ${s['usd_input'] + s['usd_output']:.5f}; "
            f"correct {s['correct']}/{s['exchanges'] - s['unverifiable']} ({tasks}); "
            + (
                f"registered epochs {s['epochs']:.1f} -> {s['steps']} steps"
                if s["epochs"]
                else "no addresses"
            )
        )
        if args.first:
            count = int(args.first[0])
            print(
                f"  first {count}: {same_first(path, Path(args.first[1]), count)} equal to {args.first[1]}'s"
            )


if __name__ == "__main__":
    main()
