"""The harvest progress bar (rich): done/total, request rate, elapsed and ETA, tokens and spend.

A no-op when disabled. It only displays; it must not count anything the
manifest relies on.
"""

from __future__ import annotations

import time

from distillscope.clitools import console
from distillscope.harvest.budget import Budget, Usage


class HarvestProgress:
    """A rich progress bar with rate, ETA, tokens and spend (a no-op when disabled)."""

    def __init__(self, enabled: bool, budget: Budget) -> None:
        self.enabled, self.budget = enabled, budget
        self.started = time.monotonic()
        self.answered = self._answered
        self.count = 0

    def __enter__(self) -> HarvestProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]harvest"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[tokens]} tok  ${task.fields[cost]}"),
                console=console,
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("harvest", total=0, rate="", tokens=0, cost="0.0000")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(None, None, None)

    def add(self, count: int) -> None:
        if self.enabled:
            total = self._bar.tasks[0].total or 0
            self._bar.update(self._task, total=total + count)

    def done(self, cached: bool) -> None:
        if self.enabled:
            self._bar.advance(self._task)

    def _answered(self, usage: Usage) -> None:
        self.count += 1
        if self.enabled:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            spent = self.budget.spent
            self._bar.update(
                self._task,
                rate=f"{self.count / elapsed:.1f} req/s",
                tokens=spent.tokens,
                cost=f"{spent.cost:.4f}",
            )
