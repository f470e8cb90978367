"""Retention curves: students trained on the first N exchanges of each dataset, scored against N and dollars.

Each dataset is one strategy (its label: ``label=path``, else the manifest's or
the exchanges' ``strategy``, else the file name). Budgets take the first N
exchanges by harvest time, which is the order of the strategy's rounds. Every
point trains a fresh student with the same settings; points already trained
(``training.json`` present with the same settings) are reused, so an
interrupted curve resumes. Budget 0 is the untrained student. Writes
``curve.json`` and ``curve.png`` (score against queries and against dollars).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from distillscope.clitools import console
from distillscope.evaluate.run import evaluate_student
from distillscope.train.settings import TrainSettings

METRICS = {"agreement": "top-1 agreement with the teacher", "kl": "KL(teacher || student), nats/token"}


def dataset_label(spec: str) -> tuple[str, Path]:
    if "=" in spec and not Path(spec).exists():
        label, path = spec.split("=", 1)
        return label, Path(path)
    from distillscope.train.data import load_dataset

    data = load_dataset(spec)
    strategy = (data.manifest or {}).get("strategy") or (data.exchanges[0].provenance or {}).get("strategy")
    return str(strategy or Path(spec).stem), Path(spec)


def _trained(out: Path, settings: TrainSettings) -> bool:
    info_path = out / "training.json"
    if not info_path.exists():
        return False
    info = json.loads(info_path.read_text(encoding="utf-8"))
    return json.loads(json.dumps(settings.hyperparameters(), default=str)) == info.get("hyperparameters")


def run_curve(
    datasets: list[str],
    budgets: list[int],
    out: str | Path,
    settings: TrainSettings | None = None,
    teacher: str = "smollm2-135m-instruct",
    prompts: str | None = None,
    n: int = 32,
    max_new_tokens: int = 48,
    metric: str = "agreement",
    include_untrained: bool = True,
) -> dict[str, Any]:
    """Train and score every (dataset, budget); write curve.json and curve.png under ``out``."""
    from distillscope.evaluate.run import DEFAULT_PROMPTS, _messages_key, load_prompts, training_prompt_keys
    from distillscope.evaluate.teachers import make_teacher
    from distillscope.train import train_student
    from distillscope.train.data import load_dataset
    from distillscope.train.student import make_student

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    out = Path(out)
    base = settings or TrainSettings()
    teacher_obj = make_teacher(teacher)
    common: dict[str, Any] = {"teacher": teacher_obj}
    common |= {"max_new_tokens": max_new_tokens, "tasks": (), "identity": False}
    common["reference_cache"] = out / "teacher_reference.json"
    labelled = [dataset_label(spec) for spec in datasets]
    # One held-out set for every point: prompts of none of the datasets.
    seen: set[str] = set()
    for _, path in labelled:
        seen |= training_prompt_keys(path)
    asked = load_prompts(prompts or DEFAULT_PROMPTS, n, 777)
    common["prompts"] = [c for c in asked if _messages_key(c) not in seen]
    points: list[dict[str, Any]] = []
    if include_untrained:
        model, tokenizer, _ = make_student(replace(base, lora=False))
        points.append(_point("untrained", 0, evaluate_student((model, tokenizer), **common)))
        del model
    for label, path in labelled:
        size = len(load_dataset(path).exchanges)
        for budget in sorted(b for b in budgets if b <= size):
            target = out / label / f"n{budget}"
            run = replace(base, dataset=path, out=target, limit=budget, resume=False)
            if not _trained(target, run):
                console.print(f"[bold]{label}[/]: training on the first {budget} exchanges")
                train_student(run)
            scores = evaluate_student(target, **common)
            points.append(_point(label, budget, scores))
        skipped = [b for b in budgets if b > size]
        if skipped:
            console.print(f"[yellow]{label}: only {size} exchanges, budgets {skipped} skipped[/]")
    result = {"metric": metric, "points": points, "settings": base.hyperparameters(), "teacher": teacher}
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    plot_curve(result, out / "curve.png")
    return result


def _point(label: str, budget: int, scores: dict[str, Any]) -> dict[str, Any]:
    fid = scores["fidelity"]
    return {
        "strategy": label,
        "exchanges": budget,
        "cost_usd": (scores.get("cost") or {}).get("cost_usd") or 0.0,
        "held_out_prompts": fid["prompts"],
        "tokens": fid["tokens"],
        "agreement": fid["agreement"],
        "kl": fid["kl"],
        "student_ce": fid["student_ce"],
        "exact_match": fid.get("exact_match"),
    }


def plot_curve(result: dict[str, Any], path: Path) -> None:
    """Score against queries (left) and dollars (right), one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result["metric"]
    base = [p for p in result["points"] if p["strategy"] == "untrained"]
    strategies = sorted({p["strategy"] for p in result["points"]} - {"untrained"})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label in strategies:
        pts = base + sorted(
            (p for p in result["points"] if p["strategy"] == label), key=lambda p: p["exchanges"]
        )
        values = [p[metric] for p in pts]
        axes[0].plot([p["exchanges"] for p in pts], values, marker="o", label=label)
        axes[1].plot([p["cost_usd"] for p in pts], values, marker="o", label=label)
    axes[0].set_xlabel("teacher queries (exchanges)")
    axes[1].set_xlabel("cost of the queries (USD)")
    for ax in axes:
        ax.set_ylabel(METRICS[metric])
        ax.grid(alpha=0.3)
        ax.legend()
    held = result["points"][0]["held_out_prompts"] if result["points"] else 0
    fig.suptitle(f"What the student kept ({held} held-out prompts)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
