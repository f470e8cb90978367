"""Evidence: which 15 of SmolLM2's 30 layers to keep, every-other vs auto:15 (measured redundancy).

Measures each layer's angular distance between input and output hidden states on the
calibration text ``train`` would use (the first 32 prompts of the on-policy evidence's
seed-0 draw), then scores the untrained students and SFT students trained on the same
64 exchanges (settings and held-out set of onpolicy_evidence.py; the every-other SFT
student is that script's ``sft-seed0``). Writes docs/evidence/train/layers.json.
Run: PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/layers_evidence.py [--trained]
     then --on-policy (on-policy from auto:15) and --tasks (task accuracy of both trained students)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from onpolicy_evidence import EVAL, RUNS, SFT, log  # noqa: E402

from distillscope.evaluate.run import evaluate_student  # noqa: E402
from distillscope.exchanges import calibration_texts, load_dataset  # noqa: E402
from distillscope.models import choose_layers, layer_redundancy, load_model  # noqa: E402
from distillscope.train import (
    make_student,  # noqa: E402
    train_student,  # noqa: E402
)

OUT = Path("docs/evidence/train/layers.json")


def fidelity_of(student, data: Path) -> dict:
    cache = RUNS / "teacher_reference.json"
    fid = evaluate_student(student, reference_cache=cache, dataset=data, **EVAL)["fidelity"]
    return {k: fid[k] for k in ("agreement", "kl", "student_ce", "tokens", "prompts")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trained", action="store_true", help="also train and score the auto:15 SFT student")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--tasks", action="store_true", help="only: task accuracy of the trained auto:15 students"
    )
    parser.add_argument(
        "--on-policy",
        action="store_true",
        help="only: on-policy from the auto:15 student (8 steps, 16-token samples)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    record = json.loads(OUT.read_text()) if OUT.exists() else {}
    data = RUNS / "data-seed0"
    if args.on_policy:
        on_policy_from_auto(data, args.threads)
        return
    if args.tasks:
        tasks_of_auto()
        return
    texts = calibration_texts(load_dataset(data))
    if "redundancy" not in record:
        teacher, tokenizer = load_model()
        started = time.monotonic()
        record["redundancy"] = layer_redundancy(teacher, tokenizer, texts)
        record["auto15"] = choose_layers(teacher, tokenizer, 15, texts)
        record["redundancy_seconds"] = round(time.monotonic() - started, 1)
        record["every_other"] = list(range(0, 30, 2))
        OUT.write_text(json.dumps(record, indent=2))
        log(f"auto:15 keeps {record['auto15']}")
    for label, layers in (("every-other", "every-other"), ("auto:15", "auto:15")):
        key = f"untrained {label}"
        if key not in record:
            model, tokenizer, _ = make_student(replace(SFT, student_layers=layers), texts)
            record[key] = fidelity_of((model, tokenizer), data)
            OUT.write_text(json.dumps(record, indent=2))
            log(f"{key}: {record[key]}")
    if args.trained and "sft auto:15" not in record:
        target = RUNS / "sft-auto15-seed0"
        if not (target / "config.json").exists():
            started = time.monotonic()
            train_student(
                replace(SFT, student_layers="auto:15", dataset=data, out=target, threads=args.threads)
            )
            log(f"sft auto:15 trained in {time.monotonic() - started:.0f} s")
        record["sft auto:15"] = fidelity_of(target, data)
        OUT.write_text(json.dumps(record, indent=2))
        log(f"sft auto:15: {record['sft auto:15']}")


def tasks_of_auto() -> None:
    """Task accuracy (onpolicy_evidence's tasks) of the trained auto:15 students -> layers_tasks.json."""
    from onpolicy_evidence import task_share

    out = {}
    for name in ("sft-auto15-seed0", "on-policy-auto15-seed0"):
        out[name] = task_share(RUNS / name)
        OUT.with_name("layers_tasks.json").write_text(json.dumps(out, indent=2))
        log(f"{name}: {out[name]}")


def on_policy_from_auto(data: Path, threads: int) -> None:
    """On-policy from a student that is not broken: auto:15, 8 steps of 8 samples of <= 16 tokens."""
    out = OUT.with_name("layers_onpolicy.json")
    target = RUNS / "on-policy-auto15-seed0"
    if not (target / "config.json").exists():
        started = time.monotonic()
        settings = replace(
            SFT, method="on-policy", alpha=1.0, student_layers="auto:15", epochs=100, max_steps=8,
            sample_tokens=16, price_model="gpt-4o-mini", max_cost=0.0025, threads=threads,
        )  # fmt: skip
        train_student(replace(settings, dataset=data, out=target))
        log(f"on-policy auto:15 trained in {time.monotonic() - started:.0f} s")
    info = json.loads((target / "training.json").read_text())
    record = {
        "on-policy auto:15": fidelity_of(target, data),
        "cost_usd": info["cost_usd"],
        "steps": info["steps"],
    }
    record["scoring"] = info["scoring"]
    out.write_text(json.dumps(record, indent=2))
    log(f"on-policy auto:15: {record}")


if __name__ == "__main__":
    main()
