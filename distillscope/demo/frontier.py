"""The countermeasure frontier in the demo's report: what ``distillscope defend evaluate`` measured,
and the one point this run measures itself.

The frontier (teacher quality lost against the distilled student's fidelity denied,
per countermeasure and strength) takes train-and-evaluate runs far beyond the
demo's budget, so the demo reads it from the frontier file that
``distillscope defend evaluate`` (formerly ``bench/defend.py``) wrote, by default
the repository's ``docs/evidence/defend/frontier.json``, and labels it as measured
there, on that file's machine, not in this run. The point the run does measure is
the cost of the watermark it served: the teacher's greedy answers to the questions
the attackers asked greedily, with the watermark (what the gateway sent) and without
it (the same teacher, same prompts), scored with the task's own checker, paired by
question.

This module must not train or score students, and must not change the frontier file.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from distillscope.demo.live import LiveResult
from distillscope.demo.settings import TASK, TASK_CONFIG, DemoSettings

#: Where the repository keeps the measured frontier (``distillscope defend evaluate --report-dir``).
DEFAULT_FRONTIER = Path(__file__).resolve().parents[2] / "docs" / "evidence" / "defend" / "frontier.json"


class FrontierUnavailable(ValueError):
    """No frontier file, or one this reader cannot use (the reason is shown in the report)."""


def _mean(stat: Any) -> float | None:
    """The mean of a ``{"mean", "sd", "runs"}`` statistic (or a bare number)."""
    if isinstance(stat, dict):
        stat = stat.get("mean")
    return float(stat) if isinstance(stat, int | float) and not isinstance(stat, bool) else None


def _sd(stat: Any) -> float | None:
    value = stat.get("sd") if isinstance(stat, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _display_path(path: Path) -> str:
    """The file as the report names it: relative to the repository when it lives there."""
    root = DEFAULT_FRONTIER.parents[3]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def read_frontier(path: Path | None = None) -> dict[str, Any]:
    """The frontier file's rows and provenance, as the report shows them; raises FrontierUnavailable."""
    path = Path(path) if path is not None else DEFAULT_FRONTIER
    if not path.exists():
        raise FrontierUnavailable(
            f"no frontier file at {_display_path(path)}: run `distillscope defend evaluate` "
            "(or pass --frontier FILE)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrontierUnavailable(f"{_display_path(path)} is not readable JSON: {exc}") from exc
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise FrontierUnavailable(f"{_display_path(path)} holds no frontier rows")
    out_rows = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("condition") or not row.get("method"):
            raise FrontierUnavailable(f"{_display_path(path)}: rows[{i}] has no condition or method")
        cost = row.get("teacher_accuracy_cost_points")
        out_rows.append(
            {
                "condition": str(row["condition"]),
                "kind": str(row.get("kind") or ""),
                "method": str(row["method"]),
                "seeds": len(row.get("seeds") or []),
                "teacher_cost_points": float(cost) if isinstance(cost, int | float) else None,
                "teacher_cost_se": _mean(row.get("teacher_accuracy_cost_se")),
                "teacher_accuracy": _mean((row.get("teacher") or {}).get("task_accuracy")),
                "student_agreement": _mean(row.get("student_agreement")),
                "fidelity_gain": _mean(row.get("fidelity_gain")),
                "gain_cut": _mean(row.get("gain_cut")),
                "gain_cut_sd": _sd(row.get("gain_cut")),
                "meets_goal": row.get("meets_goal"),
            }
        )
    goal = data.get("goal") if isinstance(data.get("goal"), dict) else None
    costs = {r["condition"]: r["teacher_cost_points"] for r in out_rows}
    best = [
        {"condition": str(b["condition"]), "kind": str(b.get("kind") or ""),
         "best_method": b.get("best_method"), "gain_cut": _mean(b.get("gain_cut")),
         "teacher_cost_points": costs.get(str(b["condition"]))}
        for b in data.get("best_response") or [] if isinstance(b, dict) and b.get("condition")
    ]  # fmt: skip
    return {
        "source": _display_path(path),
        "format": data.get("format") or "bench/defend.py (unversioned)",
        "measured_by": "distillscope defend evaluate"
        if data.get("format")
        else "bench/defend.py (now distillscope defend evaluate)",
        "machine": data.get("machine"),
        "task": data.get("task"),
        "train_answers": data.get("train_answers"),
        "eval_prompts": data.get("eval_prompts"),
        "student_layers": data.get("student_layers"),
        "reference_teacher_accuracy": _mean((data.get("reference_teacher") or {}).get("task_accuracy")),
        "goal": goal,
        "rows": out_rows,
        "best_response": best,
    }


def _greedy_harvest(live: LiveResult) -> list[Any]:
    """The task answers the gateway produced greedily (temperature 0): comparable one to one, and
    scored by the task's checker (the extractor's playbook prompts have no checker)."""
    return [
        e
        for e in live.harvested
        if float((e.params or {}).get("temperature") or 0.0) == 0.0
        and ((e.provenance or {}).get("query_meta") or {}).get("task")
    ]


def _items(live: LiveResult, rows: list[Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """The task items (``(task, dataset, item)``) the rows answered, from the harvest's task seed."""
    import reasoning_gym

    metas = [(e.provenance or {}).get("query_meta") or {} for e in rows]
    size = max(int(m.get("index", 0)) for m in metas) + 1
    dataset = reasoning_gym.create_dataset(TASK, size=size, seed=live.task_seed, **TASK_CONFIG)
    items = [(TASK, dataset, dataset[int(m.get("index", 0))]) for m in metas]
    for (_, _, item), meta in zip(items, metas, strict=True):
        if item["question"] != meta.get("question"):
            raise RuntimeError("the harvest's task items cannot be rebuilt from its seed")
    return items


def _item_scores(texts: list[str], items: list[tuple[str, Any, dict[str, Any]]]) -> list[float]:
    """The task checker's score of each answer, one item at a time (for the pairing)."""
    from distillscope.evaluate.tasks import task_accuracy

    return [
        float(task_accuracy(lambda _, text=text: [text], [item])["accuracy"])
        for text, item in zip(texts, items, strict=True)
    ]


def _paired_cost(without: list[float], with_: list[float]) -> tuple[float, float | None]:
    """Accuracy lost in points (without minus with the watermark), mean and standard error, paired."""
    diffs = [100.0 * (a - b) for a, b in zip(without, with_, strict=True)]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else None
    return statistics.fmean(diffs), se


def watermark_cost(settings: DemoSettings, live: LiveResult, teacher: Any, out: Path) -> dict[str, Any]:
    """The served watermark's cost to the teacher, measured in this run (paired by question)."""
    from distillscope.evaluate.run import teacher_continuations

    if live.watermark is None:
        return {"not_measured": live.watermark_note or "the watermark was off"}
    rows = _greedy_harvest(live)
    if not rows:
        return {"not_measured": "no attacker asked greedily, so no answer has an unwatermarked twin"}
    items = _items(live, rows)
    conversations = [list(e.messages or []) for e in rows]
    plain = teacher_continuations(
        teacher, conversations, int(settings.max_new_tokens), out / "eval" / "unwatermarked.json"
    )
    marked_texts = [e.response_text or "" for e in rows]
    plain_texts = [c.text for c in plain]
    with_scores = _item_scores(marked_texts, items)
    without_scores = _item_scores(plain_texts, items)
    cost, se = _paired_cost(without_scores, with_scores)
    same = sum(1 for a, b in zip(marked_texts, plain_texts, strict=True) if a.strip() == b.strip())
    return {
        "condition": f"watermark delta {live.watermark.delta:g}",
        "delta": live.watermark.delta,
        "gamma": live.watermark.gamma,
        "items": len(rows),
        "accounts": sorted({e.account for e in rows}),
        "teacher_accuracy_with": statistics.fmean(with_scores),
        "teacher_accuracy_without": statistics.fmean(without_scores),
        "teacher_cost_points": cost,
        "teacher_cost_se": se,
        "identical_answers": same,
        "method": "the greedy answers the gateway sent with the account's watermark, against the same "
        "teacher's greedy answers without it to the same questions, scored by the task's checker, paired",
    }


def frontier_section(
    settings: DemoSettings, live: LiveResult | None, teacher: Any, out: Path
) -> dict[str, Any]:
    """The report's frontier section: the evaluated frontier (elsewhere) and this run's own point."""
    try:
        section: dict[str, Any] = read_frontier(settings.frontier)
    except FrontierUnavailable as exc:
        section = {"rows": [], "unavailable": str(exc)}
    if live is not None and teacher is not None:
        try:
            section["this_run"] = watermark_cost(settings, live, teacher, out)
        except Exception as exc:  # the evaluated table still shows
            section["this_run"] = {"not_measured": f"{type(exc).__name__}: {exc}"}
    else:
        section["this_run"] = {"not_measured": "the live window or the teacher did not run"}
    if not section["rows"] and "not_measured" in section["this_run"]:
        return {"not_measured": f"{section['unavailable']}; {section['this_run']['not_measured']}"}
    return section
