"""Evidence: the retention round's tables, per seed and per arm, against the default (SFT 64, auto:15).

For each arm (``LABEL:BUDGET`` = the students ``retain_curve.sh`` trained under ``OUT/LABEL/nBUDGET[-seedS]``)
and each seed it reads the curve's scores (agreement, KL on the 32 held-out prompts; task accuracy and
share of the teacher's on the curves' 32 items), the student's ``training.json`` (training-thread CPU
seconds, steps, examples, verification counts) and the exchanges it paid for (teacher dollars at
gpt-4o-mini's list price, input and output separately), and scores the student on the items of
``task_stability.py``'s three sets (seeds 2024-2026, 8 a task). Those sets overlap (reasoning-gym seeds
item i with ``seed + i``, so set 2025 is items 1-8 of set 2024 and set 2026 items 2-9): the 96 items
hold 39 distinct questions. Each distinct question is answered once (greedy, 48 tokens) and the
96-item accuracy is the per-set mean of those answers, as ``task_stability.py`` pools it; the
accuracy on the 39 distinct questions is reported beside it (teacher: its first answer per question
in ``task_stability.json``).

Exact two-sided permutation p-values (every split enumerated) compare each arm's seeds with the
fifth round's SFT 64 (auto:15) seeds: ``sft_curve.json`` (agreement, KL, 32-item share) and
``task_stability.json`` (96-item share).

``--previous NAME:LABEL:BUDGET ...`` compares every arm the same way with earlier rounds' arms, as
``retain_NAME.json`` recorded them (retention round 2: ``l24_verified:v400-l24-e2:400``; round 3 also
``l24_greedy:g400-l24:400``), on the 96-, 39- and 32-item shares, agreement and KL (``vs_previous``:
one entry per earlier arm; the JSON of rounds 1-2 holds a single dict there).

Writes docs/evidence/train/retain_<NAME>.json and prints the markdown tables.
Run: PYTHONPATH=$PWD:docs/evidence/train nice -n 10 .venv/bin/python docs/evidence/train/retain_report.py \\
       --name sizes --arms s64-l15:64 s64-l24:64 v400-l24:400 [--out runs/evidence/retain/curve]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch
from task_pool import PRICES, TASKS

from distillscope.evaluate.curve import exact_permutation_p
from distillscope.evaluate.tasks import INSTRUCTION, extract_answer, task_items
from distillscope.exchanges import load_dataset

EVIDENCE = Path("docs/evidence/train")
SETS, PER_TASK, MAX_NEW_TOKENS = (2024, 2025, 2026), 8, 48
BASELINE = "pool:sft"  # the fifth round's SFT arm in sft_curve.json
STUDENT_FILE = "retain_items.json"
VS_DEFAULT_SHOWN = ("agreement", "kl", "task_share_96", "task_share_32")  # the summary table's order
COMPARED = ("agreement", "kl", "task_share_32", "task_share_96", "task_share_39")  # the default lacks _39


def stability_items() -> list[list[tuple[str, Any, dict]]]:
    return [task_items(list(TASKS), PER_TASK, seed) for seed in SETS]


def student_scores(path: Path, sets: list[list[tuple[str, Any, dict]]]) -> dict[str, Any]:
    """The student's score per distinct question of the three sets (cached next to it)."""
    cache = path / STUDENT_FILE
    if cache.exists():
        return json.loads(cache.read_text())
    from distillscope.evaluate.fidelity import student_greedy
    from distillscope.models import load_model

    model, tokenizer = load_model(path)
    distinct = {item["question"]: (dataset, item) for items in sets for _, dataset, item in items}
    questions = list(distinct)
    replies = student_greedy(
        model, tokenizer, [[{"role": "user", "content": q + INSTRUCTION}] for q in questions], MAX_NEW_TOKENS
    )
    scores = {}
    for question, reply in zip(questions, replies, strict=True):
        dataset, item = distinct[question]
        extracted = extract_answer(reply, str(item.get("answer")))
        scores[question] = float(dataset.score_answer(answer=extracted, entry=item))
    result = {
        "scores": scores,
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": model.config.num_hidden_layers,
    }
    cache.write_text(json.dumps(result, indent=2))
    return result


def accuracies(scores: dict[str, float], sets: list[list[tuple[str, Any, dict]]]) -> tuple[float, float]:
    """(96-item accuracy: mean of the per-set means, distinct-question accuracy)."""
    per_set = [statistics.fmean(scores[item["question"]] for _, _, item in items) for items in sets]
    return statistics.fmean(per_set), statistics.fmean(scores.values())


def teacher_accuracy() -> tuple[float, float]:
    stability = json.loads((EVIDENCE / "task_stability.json").read_text())
    first: dict[str, float] = {}
    for s in stability["sets"]:
        for row in s["rows"]:
            first.setdefault(row["question"], row["score"])
    return stability["pooled"]["accuracy"], statistics.fmean(first.values())


def dollars(info: dict[str, Any]) -> tuple[float, float]:
    """(input, output) USD of the exchanges the student paid for (the first ``limit`` of its dataset)."""
    data = load_dataset(info["dataset"], limit=info["hyperparameters"].get("limit"))
    prompt = sum(e.prompt_tokens or 0 for e in data.exchanges)
    completion = sum(e.completion_tokens or 0 for e in data.exchanges)
    return prompt * PRICES[0] / 1e6, completion * PRICES[1] / 1e6


def student_row(path: Path, sets: list, teacher96: float, teacher39: float) -> dict[str, Any]:
    point = json.loads((path / "curve_eval.json").read_text())["point"]
    info = json.loads((path / "training.json").read_text())
    items = student_scores(path, sets)
    acc96, acc39 = accuracies(items["scores"], sets)
    usd_in, usd_out = dollars(info)
    verified = info.get("verified") or {}
    return {
        "student": str(path), "layers": items["layers"], "parameters": items["parameters"],
        "agreement": point["agreement"], "kl": point["kl"],
        "task_accuracy_32": point["task_accuracy"], "task_share_32": point["task_share"],
        "task_accuracy_96": acc96, "task_share_96": acc96 / teacher96,
        "task_accuracy_39": acc39, "task_share_39": acc39 / teacher39,
        "paid_exchanges": info["exchanges"], "trained_examples": info["examples"],
        "verified_kept": verified.get("kept"), "usd_input": usd_in, "usd_output": usd_out,
        "usd": usd_in + usd_out, "steps": info["steps"],
        "student_cpu_s": info["compute"]["thread_cpu_seconds"],
    }  # fmt: skip


def baseline() -> dict[str, list[float]]:
    curve = json.loads((EVIDENCE / "sft_curve.json").read_text())
    points = sorted(
        (p for p in curve["points"] if p["strategy"] == BASELINE and p["exchanges"] == 64),
        key=lambda p: p["seed"],
    )
    shares = json.loads((EVIDENCE / "task_stability.json").read_text())["students"]
    paths = ["runs/evidence/opcurve/pool/sft/n64"] + [
        f"runs/evidence/opcurve/pool/sft/n64-seed{s}" for s in (1, 2, 3)
    ]
    return {
        "agreement": [p["agreement"] for p in points],
        "kl": [p["kl"] for p in points],
        "task_share_32": [p["task_share"] for p in points],
        "task_share_96": [shares[p]["pooled_share"] for p in paths],
        "usd": [p["cost_usd"] for p in points],
    }


def previous_arm(spec: str) -> tuple[str, dict[str, list[float]]]:
    """``NAME:LABEL:BUDGET``: that arm's per-seed values in ``retain_NAME.json`` (an earlier round)."""
    name, arm = spec.split(":", 1)
    path = EVIDENCE / f"retain_{name}.json"
    if not path.exists():
        raise SystemExit(f"--previous {spec}: no {path}")
    arms = json.loads(path.read_text())["arms"]
    if arm not in arms:
        raise SystemExit(f"--previous {spec}: {path} has the arms {', '.join(arms)}")
    rows = arms[arm]["seeds"]
    return f"{name}:{arm}", {key: [r[key] for r in rows] for key in COMPARED}


def compare(rows: list[dict[str, Any]], other: dict[str, list[float]]) -> dict[str, Any]:
    """Mean difference and exact two-sided permutation p of each compared metric (needs >= 2 runs)."""
    return {
        key: {
            "difference": statistics.fmean(r[key] for r in rows) - statistics.fmean(other[key]),
            "p_value": exact_permutation_p([r[key] for r in rows], other[key]),
        }
        for key in COMPARED
        if key in other and len(rows) > 1
    }


def summarize(rows: list[dict[str, Any]], base: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(rows)}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if all(isinstance(v, int | float) for v in values):
            sd = statistics.stdev(values) if len(values) > 1 else None
            out[key] = {"mean": statistics.fmean(values), "sd": sd}
    out["vs_default"] = compare(rows, base)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", required=True)
    parser.add_argument("--arms", nargs="+", required=True, help="LABEL:BUDGET of each arm")
    parser.add_argument("--out", default="runs/evidence/retain/curve")
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument(
        "--previous", metavar="NAME:LABEL:BUDGET", nargs="+", default=[],
        help="also compare every arm with these arms of retain_NAME.json, e.g. l24_verified:v400-l24-e2:400",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = stability_items()
    teacher96, teacher39 = teacher_accuracy()
    base = baseline()
    previous = [previous_arm(spec) for spec in args.previous]
    result: dict[str, Any] = {
        "teacher_accuracy_96": teacher96, "teacher_accuracy_39": teacher39,
        "prices_per_million": PRICES, "default_sft64_auto15": base, "arms": {},
    }  # fmt: skip
    for arm in args.arms:
        label, budget = arm.rsplit(":", 1)
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):
            path = Path(args.out) / label / (f"n{budget}" if seed == 0 else f"n{budget}-seed{seed}")
            if (path / "curve_eval.json").exists():
                rows.append(student_row(path, sets, teacher96, teacher39) | {"seed": seed})
        if rows:
            result["arms"][arm] = {"seeds": rows, "summary": summarize(rows, base)}
            if previous:  # one dict per earlier arm, in --previous order
                result["arms"][arm]["summary"]["vs_previous"] = [
                    {"arm": name} | compare(rows, values) for name, values in previous
                ]
    (EVIDENCE / f"retain_{args.name}.json").write_text(json.dumps(result, indent=2))
    print_tables(result)


def print_tables(result: dict[str, Any]) -> None:
    print(
        f"teacher accuracy: {result['teacher_accuracy_96']:.3f} on the 96 items, "
        f"{result['teacher_accuracy_39']:.3f} on their 39 distinct questions\n"
    )
    print("| arm | seed | layers (params) | agreement | KL | task acc. 96 (share) | share 39 distinct | "
          "share 32 | teacher $ in / out | examples (paid) | student CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arm, data in result["arms"].items():
        for r in data["seeds"]:
            print(
                f"| {arm} | {r['seed']} | {r['layers']} ({r['parameters'] / 1e6:.0f}M) | "
                f"{r['agreement']:.3f} | {r['kl']:.2f} | "
                f"{r['task_accuracy_96']:.3f} ({r['task_share_96']:.0%}) | "
                f"{r['task_share_39']:.0%} | {r['task_share_32']:.0%} | "
                f"{r['usd_input']:.5f} / {r['usd_output']:.5f} | "
                f"{r['trained_examples']} ({r['paid_exchanges']}) | {r['student_cpu_s']:.0f} |"
            )
    print()
    print("| arm | runs | agreement | KL | share 96 | share 39 | share 32 | teacher $ | CPU s | "
          "p vs default: agr. / KL / share 96 / share 32 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arm, data in result["arms"].items():
        s = data["summary"]

        def ms(key: str, fmt: str = ".3f", s=s) -> str:
            sd = f" ± {s[key]['sd']:{fmt}}" if s[key]["sd"] is not None else ""
            return f"{s[key]['mean']:{fmt}}{sd}"

        versus = s["vs_default"]
        ps = " / ".join(f"{versus[k]['p_value']:.3f}" for k in VS_DEFAULT_SHOWN if k in versus) or "–"
        print(
            f"| {arm} | {s['runs']} | {ms('agreement')} | {ms('kl', '.2f')} | {ms('task_share_96', '.2f')} | "
            f"{ms('task_share_39', '.2f')} | {ms('task_share_32', '.2f')} | {s['usd']['mean']:.5f} | "
            f"{s['student_cpu_s']['mean']:.0f} | {ps} |"
        )
    for arm, data in result["arms"].items():
        for versus in (dict(v) for v in data["summary"].get("vs_previous", [])):
            against = versus.pop("arm")
            if versus:
                cells = ", ".join(
                    f"{k} {v['difference']:+.3f} (p = {v['p_value']:.3f})" for k, v in versus.items()
                )
                print(f"\n{arm} - {against}: {cells}")
    print("\nper query and per dollar (96-item task accuracy and share, means over seeds):")
    for arm, data in result["arms"].items():
        s = data["summary"]
        queries, usd = s["paid_exchanges"]["mean"], s["usd"]["mean"]
        acc, share = s["task_accuracy_96"]["mean"], s["task_share_96"]["mean"]
        print(
            f"  {arm}: {queries:.0f} queries, ${usd:.5f}: accuracy {acc:.3f} = "
            f"{acc / queries * 100:.3f} per 100 queries, {acc / (usd * 1000):.3f} per $0.001; "
            f"share {share:.2f} = {share / (usd * 1000):.3f} per $0.001"
        )


if __name__ == "__main__":
    main()
