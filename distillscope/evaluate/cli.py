"""`distillscope evaluate` (one student against its teacher) and `distillscope curve` (retention curves).

The evaluate options are generated from :class:`~distillscope.evaluate.settings.EvalSettings`.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.evaluate.settings import EvaluateCommand


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


def curve_command(
    datasets: list[str] = typer.Argument(..., help="Datasets, one per strategy (label=PATH names it)."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for students, curve.json and curve.png."),
    budgets: str = typer.Option("50,100,200,400", help="Exchanges per student (first N by harvest time)."),
    method: str = typer.Option("sft", help="Training method for every student (sft, topk-kd, mixed)."),
    methods: str = typer.Option(
        None,
        help="Compare methods as arms, e.g. sft,topk-kd,on-policy: an on-policy point spends what its N "
        "exchanges cost on scoring its own samples (equal dollars); needs --price-model for a local teacher.",
    ),
    price_model: str = typer.Option(
        None, help="on-policy arms: price scoring calls as this model of the price table (e.g. gpt-4o-mini)."
    ),
    teacher_url: str = typer.Option(
        None, help="on-policy arms: the teacher's base URL (default: serve --teacher on loopback)."
    ),
    sample_tokens: int = typer.Option(48, help="on-policy arms: longest student sample."),
    teacher: str = typer.Option(
        "smollm2-135m-instruct", help="Teacher (local) for fidelity, and the model students are cut from."
    ),
    student: str = typer.Option(None, help="Any local Hugging Face causal LM directory as every student."),
    student_layers: str = typer.Option(
        "every-other",
        help="Teacher layers to keep: every-other, first:N, spread:N, 0,2,4, auto:N (measured).",
    ),
    metric: str = typer.Option("agreement", help="Plotted score: agreement or kl."),
    prompts: str = typer.Option(None, help="Held-out prompts (as for evaluate)."),
    n: int = typer.Option(32, help="Number of held-out prompts."),
    max_new_tokens: int = typer.Option(48, help="Greedy answer length for fidelity."),
    max_steps: int = typer.Option(300, help="Step cap per student."),
    epochs: float = typer.Option(2.0, help="Passes over each budget's data."),
    learning_rate: float = typer.Option(5e-5, "--lr", help="Peak learning rate."),
    seeds: str = typer.Option(
        "0",
        help="Train every point once per seed (e.g. 0,1,2) and report mean ± sd: seed 0 takes the first N "
        "exchanges, other seeds a random N (an active arm keeps its order; only training varies).",
    ),
) -> None:
    """Train students at several budgets per dataset and plot score against queries and dollars."""
    from distillscope.errors import DistillscopeError
    from distillscope.evaluate.curve import run_curve
    from distillscope.exchanges import DatasetError
    from distillscope.models import ModelNotFoundError
    from distillscope.train import TrainSettings

    try:
        sizes = [int(b) for b in budgets.split(",") if b.strip()]
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        settings = TrainSettings(
            method=method, max_steps=max_steps, epochs=epochs, learning_rate=learning_rate,
            teacher=teacher, student=student, student_layers=student_layers, price_model=price_model,
            teacher_url=teacher_url, sample_tokens=sample_tokens,
        )  # fmt: skip
        arms = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
        result = run_curve(
            datasets, sizes, out, settings=settings, teacher=teacher, prompts=prompts, n=n,
            max_new_tokens=max_new_tokens, metric=metric, seeds=seed_list, methods=arms,
        )  # fmt: skip
    except (ModelNotFoundError, DatasetError, ValueError, DistillscopeError) as exc:
        fail(str(exc))
    from rich.table import Table

    columns = ("strategy", "exchanges", "seed", "cost_usd", "agreement", "kl", "exact_match")
    table = Table(title=f"retention curve ({metric})")
    for column in columns:
        table.add_column(column, justify="right")
    for point in result["points"]:
        table.add_row(*(_fmt(point.get(c)) for c in columns))
    console.print(table)
    if len(result["seeds"]) > 1:
        console.print(_summary_table(result["summary"]))
    typer.echo(str(Path(out) / "curve.json"))


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


def register(app: typer.Typer) -> None:
    app.command("evaluate")(settings_options(EvaluateCommand, evaluate_command))
    app.command("curve")(curve_command)
