"""`distillscope defend ...`: the countermeasures' price. `defend evaluate` measures the frontier.

The options of ``defend evaluate`` are generated from
:class:`~distillscope.defend.settings.FrontierSettings`. No logic lives here: the
run is :func:`distillscope.defend.frontier.run_frontier`; this module shows its
progress and prints the table. The countermeasures themselves are served by
``distillscope serve`` (``--logprob-*``, ``--antidistill-*``, ``--watermark-delta``).

This module must not measure anything itself (:func:`run_frontier` does), and must not import the
frontier at import time.
"""

from __future__ import annotations

import typer

from distillscope.clitools import console, fail, settings_options
from distillscope.defend.settings import FrontierSettings

defend_app = typer.Typer(
    help="Countermeasures against distillation and their price: what each costs the teacher's answers "
    "and how much it denies a student (serve them with `distillscope serve --logprob-* "
    "--antidistill-lambda --watermark-delta`).",
    no_args_is_help=True,
)


def evaluate_command(settings: FrontierSettings) -> None:
    """Measure what each countermeasure costs the teacher and denies a distilled student.

    For each condition: the teacher's task accuracy, perplexity and agreement against the undefended
    teacher, and the fidelity and task accuracy of students distilled from its answers (SFT, top-k KD),
    over seeds. Cached in --out: a stopped run resumes. Writes frontier.json, .png and .md.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from distillscope.defend.frontier import FrontierError, build_report, markdown, pending, run_frontier

    try:
        if settings.report_only:
            result = build_report(settings)
        else:
            steps = len(pending(settings))
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("frontier", total=steps)
                started = [False]

                def step(description: str) -> None:
                    if started[0]:
                        bar.advance(task)
                    started[0] = True
                    bar.update(task, description=description)
                    if not console.is_terminal:  # a log file gets one line per step
                        console.log(f"[{bar.tasks[0].completed:.0f}/{steps}] {description}", highlight=False)

                result = run_frontier(settings, step)
                bar.update(task, completed=steps, description="frontier done")
    except FrontierError as exc:
        fail(str(exc))
    console.print(markdown(result), highlight=False, soft_wrap=True)
    met = result["goal"]["met_by"]
    console.print(
        f"goal (gain cut >= {result['goal']['gain_cut']:.0%} for <= "
        f"{result['goal']['max_relative_accuracy_cost']:.0%} of teacher accuracy): "
        + (", ".join(met) if met else "met by no condition measured")
        + "; against the distiller's best method (SFT on unchanged text included): "
        + (", ".join(result["goal"]["met_against_best_response"]) or "none"),
        highlight=False,
    )
    typer.echo(str((settings.report_dir or settings.out) / "frontier.json"))


def register(app: typer.Typer) -> None:
    defend_app.command("evaluate")(settings_options(FrontierSettings, evaluate_command))
    app.add_typer(defend_app, name="defend")
