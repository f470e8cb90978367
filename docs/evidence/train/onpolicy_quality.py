"""Evidence, a second metric: how good is what the student itself writes, in the teacher's eyes.

The curve's judge (``evaluate`` fidelity) teacher-forces the student along the teacher's greedy
answers: agreement and KL(teacher || student) there. On-policy distillation (GKD, MiniLLM)
optimises something else, the student's own samples, so this script reports, clearly apart,
the metric those papers use: per student of a curve, on the same held-out prompts, the student
samples one answer to each (temperature 1, <= TOKENS, a fixed seed; its EOS scored when it
stopped), and the local teacher and the student are teacher-forced on prompt + sample:

- ``sampled_reverse_kl``: KL(student || teacher) over the full vocabulary at every sampled
  position, mean nats/token (exact: both models are local);
- ``teacher_nll``: the teacher's negative log-likelihood of the sampled tokens, nats/token.

Lower is better for both. Arms are compared over seeds with exact permutation p-values.
Per-student results are cached next to the student (``quality_eval.json``).

Run (after onpolicy_curve.sh wrote the curve):
  PYTHONPATH=$PWD nice -n 10 .venv/bin/python docs/evidence/train/onpolicy_quality.py \
      runs/evidence/longcurve runs/evidence/longpool/heldout docs/evidence/train/onpolicy_long_quality.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
from pathlib import Path

import torch

from distillscope.evaluate.curve import exact_permutation_p
from distillscope.evaluate.run import load_prompts
from distillscope.models import load_model
from distillscope.models.generate import generate, teacher_force
from distillscope.models.runtime import prompt_ids

KEYS = ("sampled_reverse_kl", "teacher_nll")
STUDENT = re.compile(r"n(?P<budget>\d+)(?:-seed(?P<seed>\d+))?$")


def quality(student_dir: Path, teacher, prompts: list, tokens: int) -> dict:
    """The student's samples to ``prompts``, judged by ``teacher`` (see the module doc)."""
    model, tokenizer = load_model(student_dir)
    model.eval()
    ids = [prompt_ids(tokenizer, c) for c in prompts]
    samples = generate(model, tokenizer, ids, max_new_tokens=tokens, batch_size=8, do_sample=True, seed=0)
    eos = tokenizer.eos_token_id
    pairs = [
        (p, s.ids + ([eos] if s.finish_reason == "stop" else [])) for p, s in zip(ids, samples, strict=True)
    ]
    mine = teacher_force(model, pairs, keep_dist=True, max_length=None)
    theirs = teacher_force(teacher, pairs, keep_dist=True, max_length=None)
    kl, nll = [], []
    for s, t in zip(mine, theirs, strict=True):
        if s.dist is None or not len(s.logprobs):
            continue
        kl += (torch.exp(s.dist) * (s.dist - t.dist)).sum(dim=-1).tolist()
        nll += [-x for x in t.logprobs]
    return {
        "sampled_reverse_kl": statistics.fmean(kl),
        "teacher_nll": statistics.fmean(nll),
        "positions": len(kl),
        "stopped": sum(s.finish_reason == "stop" for s in samples),
        "samples": len(samples),
    }


def cached_quality(student_dir: Path, teacher, prompts: list, tokens: int) -> dict:
    key = json.dumps([(student_dir / "training.json").stat().st_mtime, len(prompts), tokens])
    path = student_dir / "quality_eval.json"
    if path.exists() and (stored := json.loads(path.read_text())).get("key") == key:
        return stored["point"]
    point = quality(student_dir, teacher, prompts, tokens)
    path.write_text(json.dumps({"key": key, "point": point}, indent=2))
    return point


def _difference(first: list[dict], second: list[dict], key: str) -> dict:
    xs, ys = [p[key] for p in first], [p[key] for p in second]
    return {"difference": statistics.fmean(xs) - statistics.fmean(ys), "p_value": exact_permutation_p(xs, ys)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("curve", type=Path, help="the curve's --out folder")
    parser.add_argument("heldout", help="held-out prompts (the curve's --prompts)")
    parser.add_argument("out", type=Path, help="JSON to write")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    teacher, _ = load_model()
    teacher.eval()
    prompts = load_prompts(args.heldout, args.n, 777)
    arms: dict[str, list[dict]] = {}
    for training in sorted(args.curve.glob("*/*/n*/training.json")):
        match = STUDENT.match(training.parent.name)
        if match is None:
            continue
        point = cached_quality(training.parent, teacher, prompts, args.tokens)
        arm = f"{training.parent.parent.name} {match['budget']}"
        arms.setdefault(arm, []).append(point | {"seed": int(match["seed"] or 0)})
        print(arm, match["seed"] or 0, json.dumps(point), flush=True)
    summary = {
        arm: {k: {"mean": statistics.fmean(p[k] for p in pts),
                  "sd": statistics.stdev(p[k] for p in pts) if len(pts) > 1 else None} for k in KEYS}
        | {"runs": len(pts)}
        for arm, pts in arms.items()
    }  # fmt: skip
    compare = [
        {"arms": [a, b]} | {k: _difference(arms[a], arms[b], k) for k in KEYS}
        for a, b in itertools.combinations(sorted(arms), 2)
        if len(arms[a]) > 1 and len(arms[b]) > 1
    ]
    result = {
        "n": len(prompts),
        "tokens": args.tokens,
        "points": arms,
        "summary": summary,
        "compare": compare,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({"summary": summary, "compare": compare}, indent=2))


if __name__ == "__main__":
    main()
