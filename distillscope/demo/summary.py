"""The demo's closing words on the terminal: the executive summary of report.json and where the report is.

It prints the same summary the report opens with (built by
:mod:`distillscope.report.summary` from report.json alone), so the terminal and
the page never disagree. This module must not compute anything.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text


def terminal_summary(folder: Path, console: Console) -> None:
    """Print the executive summary of ``folder/report.json`` and the report's path."""
    from distillscope.report.schema import ReportFormatError, load_report
    from distillscope.report.summary import executive_summary

    try:
        report = load_report(folder)
    except ReportFormatError as exc:
        console.print(f"[red]no report summary: {exc}[/]")
        return
    summary = executive_summary(report)
    text = Text()
    for title, lines in (("Exposure as a target", summary.target), ("Exposure as a tactic", summary.tactic)):
        text.append(f"{title}\n", style="bold")
        for line in lines or ["not measured in this run"]:
            text.append(f"  • {line}\n")
    text.append("Recommended actions\n", style="bold")
    for i, action in enumerate(summary.actions, 1):
        text.append(f"  {i}. {action.title}\n", style="bold")
        text.append(f"     {action.evidence}\n", style="dim")
    if not summary.actions:
        text.append("  none: no evidence to base an action on\n")
    duration = report.run.get("duration_s")
    title = f"distillscope demo — {report.run.get('mode', '')} run"
    if duration is not None:
        title += f" in {float(duration) / 60:.1f} min"
    console.print(Panel(text, title=title, expand=False))
    console.print(f"[bold green]report:[/] {folder / 'report.html'}")
