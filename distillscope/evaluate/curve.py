"""Retention curves: students trained on the first N exchanges of each dataset, scored against N and dollars.

Each dataset is one strategy (its label: ``label=path``, else the manifest's or
the exchanges' ``strategy``, else the file name). Budgets take the first N
exchanges by harvest time, which is the order of the strategy's rounds. Every
point trains a fresh student with the same settings; points already trained
(``training.json`` present with the same settings) are reused, so an
interrupted curve resumes. Budget 0 is the untrained student. Writes
``curve.json`` and ``curve.png`` (score against queries and against dollars).

One run of a point is one draw: with ``seeds`` every point is trained once per
seed, and ``summary`` gives the mean, standard deviation and range per
(strategy, budget), the noise any difference between strategies must clear.
Seed 0 is the harvest order as above. Another seed trains with that seed and,
for a strategy whose order does not matter (anything but ``active``), on a fresh
random draw of N exchanges from the whole dataset; an active arm keeps its
selection order (its rounds are what it paid for), so only its training varies.
It must not change the held-out prompts between points or seeds.

Methods as arms (``methods=("sft", "topk-kd", "on-policy")``): every dataset is
trained once per method, labelled ``label:method``. An ``on-policy`` point at budget
N spends the same dollars as the N exchanges cost (``max_cost``): it uses their
prompts, never their answers, and puts all the money into scoring its own samples
(``alpha`` 1), so the points of all arms sit at (about) equal cost on the dollar axis.
A ``gkd`` arm (GKD's mixed objective at equal dollars) buys the first N/2 answers, trains on
them with SFT and spends the rest of the N exchanges' dollars on scoring its own samples of all
N prompts, with the loss ``alpha * divergence + (1 - alpha) * CE`` each step (``alpha`` < 1).
A ``warm-gkd`` arm (seventh evidence round) buys the same N/2 answers and first trains on them
alone for the SFT arm's epochs (``sft_warmup_steps``: GKD's warm start, in the same run), then
spends the rest of the N exchanges' dollars on scoring its own samples with the same mixed loss,
and makes as many passes over each paid scored batch as the SFT arm makes over its answers
(``score_epochs`` = ``epochs``: the later passes replay the teacher's scores).
``compare`` then tests every pair of arms at each budget over the seeds: the difference
of means and an exact two-sided permutation p-value (every split of the runs enumerated).

Retention (``tasks``): each point's task accuracy on reasoning-gym items, and its share
of the teacher's accuracy on the same items (measured once per curve). Scores of a
point are cached next to its student (``curve_eval.json``, keyed by what was measured),
so a resumed or extended curve scores each student once.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from distillscope.clitools import console
from distillscope.evaluate.run import evaluate_student
from distillscope.evaluate.settings import DEFAULT_PROMPTS, EvalSettings
from distillscope.train import METHODS, TrainSettings

ADAPTIVE_STRATEGIES = frozenset({"active"})  # their exchange order is their selection
METRICS = {"agreement": "top-1 agreement with the teacher", "kl": "KL(teacher || student), nats/token"}
COMPARED = ("agreement", "kl", "task_share")
EVAL_FILE = "curve_eval.json"
# gkd: half the budget's answers + on-policy scoring for the rest; warm-gkd: the same after an SFT
# warm-up on those answers, replaying each paid scored batch as SFT repeats its answers (see the doc)
ARMS = (*METHODS, "gkd", "warm-gkd")


def dataset_label(spec: str) -> tuple[str, Path]:
    if "=" in spec and not Path(spec).exists():
        label, path = spec.split("=", 1)
        return label, Path(path)
    from distillscope.exchanges import load_dataset

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
    seeds: Sequence[int] = (0,),
    methods: Sequence[str] | None = None,
    tasks: Sequence[str] = (),
    task_size: int = 16,
    task_max_new_tokens: int = 48,
) -> dict[str, Any]:
    """Train and score every (dataset, method, budget, seed); write curve.json and curve.png under ``out``."""
    from distillscope.evaluate.run import _messages_key, load_prompts, training_prompt_keys
    from distillscope.evaluate.teachers import make_teacher
    from distillscope.exchanges import load_dataset
    from distillscope.train import make_student, train_student

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    arms_methods = list(dict.fromkeys(methods or []))
    unknown = [m for m in arms_methods if m not in ARMS]
    if unknown:
        raise ValueError(f"methods {unknown}: choose from {', '.join(ARMS)}")
    seeds = list(dict.fromkeys(seeds))
    if not seeds or any(seed < 0 for seed in seeds):
        raise ValueError("seeds must be one or more integers >= 0")
    out = Path(out)
    base = settings or TrainSettings()
    teacher_obj = make_teacher(teacher)
    labelled = [dataset_label(spec) for spec in datasets]
    # One held-out set for every point: prompts of none of the datasets.
    seen: set[str] = set()
    for _, path in labelled:
        seen |= training_prompt_keys(path)
    asked = load_prompts(prompts or DEFAULT_PROMPTS, n, 777)
    common = EvalSettings(
        teacher=teacher_obj, max_new_tokens=max_new_tokens, tasks=(), identity=False,
        reference_cache=out / "teacher_reference.json",
        prompts=[c for c in asked if _messages_key(c) not in seen],
    )  # fmt: skip
    retention = Retention(list(tasks), task_size, task_max_new_tokens, teacher_obj, out) if tasks else None
    points: list[dict[str, Any]] = []
    if include_untrained:
        calibration = _calibration(labelled[0][1]) if labelled else None
        key = _eval_key(common, retention, [base.teacher, base.student, base.student_layers, calibration])
        untrained = _cached(out / "untrained" / EVAL_FILE, key)
        if untrained is None:
            model, tokenizer, _ = make_student(replace(base, lora=False), calibration)
            untrained = _point("untrained", 0, evaluate_student((model, tokenizer), common))
            if retention is not None:
                untrained |= retention.of(model, tokenizer)
            _store(out / "untrained" / EVAL_FILE, key, untrained)
            del model
        points.append(untrained | {"seed": None})
    for label, path in labelled:
        data = load_dataset(path)
        size = len(data.exchanges)
        adaptive = label in ADAPTIVE_STRATEGIES or _strategy(data) in ADAPTIVE_STRATEGIES
        for method in arms_methods or [base.method]:
            arm = f"{label}:{method}" if arms_methods else label
            folder = out / label / method if arms_methods else out / label
            for seed in seeds:
                source = (
                    path if seed == 0 or adaptive else _redraw(data, seed, out / label / f"data-seed{seed}")
                )
                drawn = data.exchanges if source == path else load_dataset(source).exchanges
                for budget in sorted(b for b in budgets if b <= size):
                    target = folder / (f"n{budget}" if seed == 0 else f"n{budget}-seed{seed}")
                    run = replace(base, dataset=source, out=target, limit=budget, resume=False, seed=seed)
                    run = _for_method(run, method, drawn[:budget])
                    if not _trained(target, run):
                        draw = "first" if source == path else "random"
                        console.print(f"[bold]{arm}[/]: training on {draw} {budget} exchanges (seed {seed})")
                        train_student(run)
                    point = _scored(target, common, retention) | {"strategy": arm, "exchanges": budget}
                    points.append(point | {"seed": seed, "method": method})
        skipped = [b for b in budgets if b > size]
        if skipped:
            console.print(f"[yellow]{label}: only {size} exchanges, budgets {skipped} skipped[/]")
    result = {
        "metric": metric,
        "seeds": seeds,
        "points": points,
        "summary": summarize(points),
        "compare": compare_arms(points),
        "settings": base.hyperparameters(),
        "teacher": teacher,
    }
    if retention is not None:
        result["retention"] = {"tasks": list(tasks), "items_per_task": task_size} | retention.teacher
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    plot_curve(result, out / "curve.png")
    return result


class Retention:
    """Task accuracy of students on reasoning-gym items, as a share of the teacher's (measured once)."""

    def __init__(self, tasks: list[str], size: int, max_new_tokens: int, teacher: Any, out: Path) -> None:
        from distillscope.evaluate.tasks import task_accuracy, task_items

        self.items, self.max_new_tokens = task_items(tasks, size, 2024), max_new_tokens
        self.key = json.dumps([tasks, size, max_new_tokens])
        cache = out / "teacher_tasks.json"
        stored = json.loads(cache.read_text(encoding="utf-8")) if cache.exists() else {}
        if stored.get("key") != self.key:
            with console.status(f"teacher answers {len(self.items)} task items"):
                scored = task_accuracy(
                    lambda c: [x.text for x in teacher.complete(c, max_new_tokens)], self.items
                )
            stored = {
                "key": self.key,
                "teacher_accuracy": scored["accuracy"],
                "teacher_per_task": scored["per_task"],
            }
            out.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(stored, indent=2), encoding="utf-8")
        self.teacher = {k: stored[k] for k in ("teacher_accuracy", "teacher_per_task")}

    def of(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        from distillscope.evaluate.fidelity import student_greedy
        from distillscope.evaluate.tasks import task_accuracy

        with console.status(f"student answers {len(self.items)} task items"):
            scored = task_accuracy(
                lambda c: student_greedy(model, tokenizer, c, self.max_new_tokens), self.items
            )
        teacher = self.teacher["teacher_accuracy"]
        return {
            "task_accuracy": scored["accuracy"],
            "task_items": scored["items"],
            "task_share": scored["accuracy"] / teacher if teacher else None,
        }


def _scored(target: Path, common: EvalSettings, retention: Retention | None) -> dict[str, Any]:
    """One student's scores, from ``curve_eval.json`` when it measured the same thing before."""
    key = _eval_key(common, retention, (target / "training.json").stat().st_mtime)
    cached = _cached(target / EVAL_FILE, key)
    if cached is not None:
        return cached
    point = _point("", 0, evaluate_student(target, common))
    if retention is not None:
        from distillscope.models import load_model

        point |= retention.of(*load_model(target))
    _store(target / EVAL_FILE, key, point)
    return point


def _eval_key(common: EvalSettings, retention: Retention | None, student: Any) -> str:
    """What a score depends on: teacher, answer length, held-out prompts, tasks and the student."""
    from distillscope.evaluate.run import _messages_key

    return json.dumps(
        [getattr(common.teacher, "name", str(common.teacher)), common.max_new_tokens,
         sorted(_messages_key(c) for c in common.prompts), retention.key if retention else None, student],
        default=str,
    )  # fmt: skip


def _cached(path: Path, key: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    return stored["point"] if stored.get("key") == key else None


def _store(path: Path, key: str, point: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "point": point}, indent=2), encoding="utf-8")


def compare_arms(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pair of arms at each budget with >= 2 runs each: difference of means and exact p-values."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for point in points:
        if point["strategy"] != "untrained":
            groups.setdefault((point["exchanges"], point["strategy"]), []).append(point)
    rows = []
    budgets = sorted({budget for budget, _ in groups})
    for budget in budgets:
        arms = sorted(arm for b, arm in groups if b == budget and len(groups[(b, arm)]) >= 2)
        for i, first in enumerate(arms):
            for second in arms[i + 1 :]:
                a, b = groups[(budget, first)], groups[(budget, second)]
                row: dict[str, Any] = {"exchanges": budget, "arms": [first, second], "runs": [len(a), len(b)]}
                for key in COMPARED:
                    xs, ys = [p.get(key) for p in a], [p.get(key) for p in b]
                    if any(v is None for v in xs + ys):
                        continue
                    row[key] = {
                        "difference": statistics.fmean(xs) - statistics.fmean(ys),
                        "p_value": exact_permutation_p(xs, ys),
                    }
                rows.append(row)
    return rows


def exact_permutation_p(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Two-sided p-value of the difference of means, over every split of the pooled runs (exact)."""
    import numpy as np
    from scipy.stats import permutation_test

    test = permutation_test(
        (list(xs), list(ys)), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="independent", n_resamples=np.inf, alternative="two-sided", vectorized=True,
    )  # fmt: skip
    return float(test.pvalue)


def _for_method(run: TrainSettings, method: str, exchanges: Sequence[Any]) -> TrainSettings:
    """The settings of one arm's point: on-policy and gkd spend what the budget's exchanges cost."""
    if method not in ("on-policy", "gkd", "warm-gkd"):
        return replace(run, method=method)
    dollars = float(sum(e.cost_usd or 0.0 for e in exchanges))
    if dollars <= 0:
        raise ValueError(
            "an on-policy arm spends what the budget's exchanges cost, and these carry no cost_usd: "
            "harvest with a priced teacher (or --prices)"
        )
    if method == "gkd":
        if run.alpha >= 1.0:
            raise ValueError("a gkd arm mixes SFT into the loss: --alpha must be < 1")
        answers = max(1, len(exchanges) // 2)
        return replace(run, method="on-policy", max_cost=dollars, epochs=1000.0, sft_answers=answers)
    if method == "warm-gkd":
        answers = max(1, len(exchanges) // 2)
        warmup = math.ceil(run.epochs * answers / (run.batch_size * run.grad_accum))
        return replace(
            run, method="on-policy", max_cost=dollars, epochs=1000.0, sft_answers=answers,
            sft_warmup_steps=warmup, score_epochs=max(1, round(run.epochs)),
        )  # fmt: skip
    return replace(run, method="on-policy", alpha=1.0, max_cost=dollars, epochs=1000.0)


def _calibration(path: Path) -> list[str] | None:
    """What ``train`` would measure ``auto:N`` on for this dataset (its first prompts)."""
    from distillscope.exchanges import DatasetError, calibration_texts, load_dataset

    try:
        return calibration_texts(load_dataset(path))
    except DatasetError:
        return None


def _strategy(data: Any) -> str | None:
    first = data.exchanges[0].provenance if data.exchanges else None
    return (data.manifest or {}).get("strategy") or (first or {}).get("strategy")


def redraw_exchanges(exchanges: Sequence[Any], seed: int) -> list[Any]:
    """The exchanges in a seeded random order, restamped so that "the first N by time" is a random N."""
    shuffled = list(exchanges)
    random.Random(seed).shuffle(shuffled)
    return [replace(e, ts=float(i)) for i, e in enumerate(shuffled)]


def _redraw(data: Any, seed: int, directory: Path) -> Path:
    """The dataset in a seeded random order, restamped so that "the first N" is a random N."""
    from distillscope.records import write_jsonl

    target = directory / "exchanges.jsonl"
    if not target.exists():
        write_jsonl(redraw_exchanges(data.exchanges, seed), target)
        if data.manifest is not None:
            (directory / "manifest.json").write_text(json.dumps(data.manifest), encoding="utf-8")
    return directory


def summarize(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, standard deviation (n - 1) and range of each metric per (strategy, budget) over seeds."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault((point["strategy"], point["exchanges"]), []).append(point)
    rows = []
    for (strategy, budget), group in groups.items():
        row: dict[str, Any] = {"strategy": strategy, "exchanges": budget, "runs": len(group)}
        for key in ("agreement", "kl", "cost_usd", "task_share"):
            values = [p.get(key) for p in group]
            if any(v is None for v in values):
                continue
            row[key] = {
                "mean": statistics.fmean(values),
                "sd": statistics.stdev(values) if len(values) > 1 else None,
                "min": min(values),
                "max": max(values),
            }
        rows.append(row)
    return rows


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
    """Score against queries (left) and dollars (middle), one line per strategy; with retention,
    the task-accuracy share of the teacher's against dollars (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result["metric"]
    rows = result.get("summary") or summarize(result["points"])
    base = [r for r in rows if r["strategy"] == "untrained"]
    strategies = sorted({r["strategy"] for r in rows} - {"untrained"})
    panels = [("exchanges", metric), ("cost_usd", metric)]
    if "retention" in result:
        panels.append(("cost_usd", "task_share"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for label in strategies:
        rows_of = base + sorted((r for r in rows if r["strategy"] == label), key=lambda r: r["exchanges"])
        runs = [p for p in result["points"] if p["strategy"] == label]
        for ax, (x_of, y_of) in zip(axes, panels, strict=True):
            shown = [r for r in rows_of if y_of in r]
            xs = [r[x_of] if x_of == "exchanges" else r[x_of]["mean"] for r in shown]
            means = [r[y_of]["mean"] for r in shown]
            spread = [r[y_of]["sd"] or 0.0 for r in shown]
            line = ax.errorbar(xs, means, yerr=spread, marker="o", capsize=3, label=label)
            dots = [p for p in runs if p.get(y_of) is not None]
            if len(dots) > len(shown) - len(base):  # several seeds: each run a faint dot
                color = line.lines[0].get_color()
                ax.scatter([p[x_of] for p in dots], [p[y_of] for p in dots], s=10, alpha=0.35, color=color)
    for ax, (x_of, y_of) in zip(axes, panels, strict=True):
        ax.set_xlabel("teacher queries (exchanges)" if x_of == "exchanges" else "teacher spend (USD)")
        ax.set_ylabel(METRICS.get(y_of, "task accuracy / teacher's"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    held = result["points"][0]["held_out_prompts"] if result["points"] else 0
    fig.suptitle(f"What the student kept ({held} held-out prompts; mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
