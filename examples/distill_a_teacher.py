"""Distill a teacher you may use into a small student, and measure what it kept.

    python examples/distill_a_teacher.py --out runs/example-distill            # the embedded SmolLM2
    python examples/distill_a_teacher.py --teacher path/to/hf-model --count 8   # any local HF model

Serves the teacher on a loopback port (the same server as ``distillscope serve``),
harvests reasoning-gym questions through its OpenAI API, trains a layer-subset
student on the answers (sequence-level KD) and compares it with the teacher.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import openai

import distillscope as ds
from distillscope.harvest.strategies.tasks import ReasoningGymStrategy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--teacher", default="smollm2-135m-instruct", help="embedded teacher or a HF model dir"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/example-distill"))
    parser.add_argument("--count", type=int, default=32, help="questions to harvest")
    parser.add_argument("--steps", type=int, default=20, help="student training steps")
    args = parser.parse_args()

    with ds.serve(ds.ServeSettings(model=args.teacher, port=0, max_batch_size=8)) as base_url:
        served = openai.OpenAI(base_url=base_url, api_key="local").models.list().data[0].id
        harvested = ds.run_harvest(
            ds.HarvestSettings(
                out_dir=args.out / "harvest",
                strategy=ReasoningGymStrategy("basic_arithmetic", count=args.count),
                teacher=base_url,
                model=served,
                max_new_tokens=48,
                progress=False,
            )
        )
    print(f"harvested {harvested.exchanges} answers ({harvested.failed} failed)")

    student = ds.train_student(
        ds.TrainSettings(
            dataset=args.out / "harvest",
            out=args.out / "student",
            teacher=args.teacher,
            max_steps=args.steps,
            progress=False,
        )
    )
    report = ds.evaluate_student(student, teacher=args.teacher, n=8, max_new_tokens=24, task_size=4)
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"student at {student}; fidelity: {json.dumps(report.get('fidelity'), default=str)}")


if __name__ == "__main__":
    main()
