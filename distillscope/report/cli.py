"""`distillscope report --run DIR`: render the exposure report from a run's report.json.

This module must not render or measure anything: :func:`~distillscope.report.build.build_report`
writes the page from report.json alone, and this module reports the sections' state and where the
page went.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distillscope.clitools import console, fail


def report_command(
    run: Path = typer.Option(
        ..., "--run", help="Run directory holding report.json (or the report.json itself)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Where to write the HTML (default: report.html beside it)."
    ),
    screenshot: Path | None = typer.Option(
        None, "--screenshot", help="Also open the page in headless Chromium and save a PNG screenshot here."
    ),
    screenshot_height: int = typer.Option(16000, help="Cut the screenshot at this many CSS pixels."),
) -> None:
    """Build ONE self-contained report.html (inline plots, no network) from report.json alone."""
    from distillscope.report.build import build_report
    from distillscope.report.schema import ReportFormatError, load_report

    try:
        report = load_report(run)
        target = build_report(run, out)
    except ReportFormatError as exc:
        fail(str(exc))
    for name, section in report.sections.items():
        if section.invalid:
            console.print(f"[yellow]warning:[/] section {name!r} could not be read: {section.invalid}")
        elif not section.measured:
            console.print(f"[dim]{name}: not measured in this run[/]")
    if screenshot is not None:
        from distillscope.report.browser import BrowserError, visit

        try:
            page = visit(target, max_height=screenshot_height)
        except BrowserError as exc:
            fail(f"report written to {target}, but no screenshot: {exc}")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(page.screenshot or b"")
        console.print(f"screenshot -> {screenshot}")
    typer.echo(str(target))


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
