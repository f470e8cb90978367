"""`distillscope evaluate` (one student against its teacher) and `distillscope curve` (retention curves).

The options are generated from :class:`~distillscope.evaluate.settings.EvalSettings`
(evaluate) and :class:`~distillscope.evaluate.settings.CurveCommand` (curve: its own
fields and those of ``TrainSettings`` a curve varies).

This module must not compute a metric or import torch at import time: :func:`evaluate_student` and
:func:`run_curve` are imported inside the commands, and this module prints what they return.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.evaluate.settings import CurveCommand, EvaluateCommand


def evaluate_command(command: EvaluateCommand) -> None:
    """Fidelity (agreement, KL, CE, exact match), task accuracy, identity and cost of a student."""
    from distillscope.evaluate.run import evaluate_student
    from distillscope.exchanges import DatasetError
    from distillscope.models import ModelNotFoundError

    settings = replace(command.settings, teacher_api_key=os.environ.get(command.settings.teacher_key_env))
    try:
        result = evaluate_student(command.student, settings)
    except (ModelNotFoundError, DatasetError, ValueError) as exc:
        fail(str(exc))
    print_result(result)
    text = json.dumps(result, indent=2, default=str)
    if command.out is not None:
        command.out.parent.mkdir(parents=True, exist_ok=True)
        command.out.write_text(text, encoding="utf-8")
    typer.echo(text)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_result(result: dict[str, Any]) -> None:
    from rich.table import Table

    fid = result["fidelity"]
    table = Table(title=f"student vs teacher ({fid['prompts']} held-out prompts, {fid['tokens']} tokens)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("agreement", "kl", "student_ce", "teacher_ce", "exact_match"):
        table.add_row(key, _fmt(fid.get(key)))
    for who, scores in (result.get("tasks") or {}).items():
        table.add_row(f"task accuracy ({who}, {scores['items']} items)", _fmt(scores["accuracy"]))
    cost = result.get("cost") or {}
    table.add_row("exchanges / cost (USD)", f"{_fmt(cost.get('exchanges'))} / {_fmt(cost.get('cost_usd'))}")
    if "identity" in result:
        table.add_row("teacher: who are you?", result["identity"]["teacher"][:120])
        table.add_row("student: who are you?", result["identity"]["student"][:120])
    console.print(table)


def curve_command(command: CurveCommand) -> None:
    """Train students at several budgets per dataset and plot score against queries and dollars."""
    from distillscope.errors import DistillscopeError
    from distillscope.evaluate.curve import run_curve
    from distillscope.exchanges import DatasetError
    from distillscope.models import ModelNotFoundError

    try:
        sizes = [int(b) for b in command.budgets.split(",") if b.strip()]
        seed_list = [int(s) for s in command.seeds.split(",") if s.strip()]
        arms = [m.strip() for m in command.methods.split(",") if m.strip()] if command.methods else None
        result = run_curve(
            command.datasets, sizes, command.out, settings=command.train, teacher=command.train.teacher,
            prompts=command.prompts, n=command.n, max_new_tokens=command.max_new_tokens,
            metric=command.metric, seeds=seed_list, methods=arms, include_untrained=command.untrained,
            tasks=[t.strip() for t in command.tasks.split(",") if t.strip()], task_size=command.task_size,
            task_max_new_tokens=command.task_max_new_tokens,
        )  # fmt: skip
    except (ModelNotFoundError, DatasetError, ValueError, DistillscopeError) as exc:
        fail(str(exc))
    from rich.table import Table

    columns = ("strategy", "exchanges", "seed", "cost_usd", "agreement", "kl", "exact_match")
    if "retention" in result:
        columns += ("task_accuracy", "task_share")
    table = Table(title=f"retention curve ({command.metric})")
    for column in columns:
        table.add_column(column, justify="right")
    for point in result["points"]:
        table.add_row(*(_fmt(point.get(c)) for c in columns))
    console.print(table)
    if len(result["seeds"]) > 1:
        console.print(_summary_table(result["summary"]))
    if result["compare"]:
        console.print(_compare_table(result["compare"]))
    typer.echo(str(Path(command.out) / "curve.json"))


def _summary_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="over seeds: mean ± sd (min–max)")
    for column in ("strategy", "exchanges", "runs", "agreement", "kl"):
        table.add_column(column, justify="right")
    for row in rows:
        cells = []
        for key in ("agreement", "kl"):
            stats = row[key]
            sd = f" ± {stats['sd']:.4f}" if stats["sd"] is not None else ""
            cells.append(f"{stats['mean']:.4f}{sd} ({stats['min']:.4f}–{stats['max']:.4f})")
        table.add_row(row["strategy"], str(row["exchanges"]), str(row["runs"]), *cells)
    return table


def _compare_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="arm A − arm B over seeds (exact permutation p, two-sided)")
    for column in ("exchanges", "A", "B", "runs", "agreement", "kl", "task_share"):
        table.add_column(column, justify="right")
    for row in rows:
        cells = [
            f"{row[k]['difference']:+.4f} (p={row[k]['p_value']:.3f})" if k in row else "–"
            for k in ("agreement", "kl", "task_share")
        ]
        runs = "/".join(str(r) for r in row["runs"])
        table.add_row(str(row["exchanges"]), *row["arms"], runs, *cells)
    return table


def register(app: typer.Typer) -> None:
    app.command("evaluate")(settings_options(EvaluateCommand, evaluate_command))
    app.command("curve")(settings_options(CurveCommand, curve_command))
