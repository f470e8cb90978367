"""The demo's progress display: one line per stage with its state, time and ETA (rich).

Each stage has a planned duration (from the preset); the ETA of the running stage
and of the whole run is the plan still ahead, scaled by how the finished stages
went against theirs (a busy machine makes every stage slower alike). On a
terminal the board redraws in place; elsewhere (a log file, CI) one line is
printed as each stage ends. This module must not know what the stages do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

MARKS = {
    "pending": ("·", "dim"),
    "running": ("▶", "bold cyan"),
    "ok": ("✓", "green"),
    "failed": ("✗", "red"),
    "not_available": ("!", "yellow"),
    "skipped": ("–", "dim"),
}


@dataclass
class BoardLine:
    name: str
    label: str
    planned_s: float
    status: str = "pending"
    seconds: float = 0.0
    detail: str = ""
    started: float | None = None
    note: str = ""  # what the running stage is at ("23/64 answers")


@dataclass
class StageBoard:
    """The stages of a run, what they planned and how they went."""

    lines: list[BoardLine] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)

    def add(self, name: str, label: str, planned_s: float) -> None:
        self.lines.append(BoardLine(name, label, planned_s))

    def line(self, name: str) -> BoardLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(name)

    def start(self, name: str) -> None:
        line = self.line(name)
        line.status, line.started = "running", time.monotonic()

    def finish(self, name: str, status: str, seconds: float, detail: str = "") -> None:
        line = self.line(name)
        line.status, line.seconds, line.detail = status, seconds, detail

    def progress(self, name: str, note: str) -> None:
        """What the running stage is at, shown beside its line (e.g. "23/64 answers")."""
        self.line(name).note = note

    def skip(self, name: str, detail: str) -> None:
        self.finish(name, "skipped", 0.0, detail)

    def pace(self) -> float:
        """Actual over planned time of the stages done so far (1.0 before any), within 0.25..5."""
        done = [x for x in self.lines if x.status in ("ok", "failed") and x.planned_s > 0]
        planned = sum(x.planned_s for x in done)
        if planned <= 0:
            return 1.0
        return min(5.0, max(0.25, sum(x.seconds for x in done) / planned))

    def remaining_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        pace = self.pace()
        left = 0.0
        for x in self.lines:
            if x.status == "pending":
                left += x.planned_s * pace
            elif x.status == "running" and x.started is not None:
                left += max(0.0, x.planned_s * pace - (now - x.started))
        return left

    def __rich__(self) -> Any:
        now = time.monotonic()
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column(ratio=1)
        table.add_column(justify="right")
        pace = self.pace()
        for x in self.lines:
            mark, style = MARKS[x.status]
            if x.status == "running" and x.started is not None:
                elapsed = now - x.started
                left = max(0.0, x.planned_s * pace - elapsed)
                when = f"{elapsed:4.0f} s, ETA {_clock(left)}" if left else f"{elapsed:4.0f} s, overdue"
            elif x.status == "pending":
                when = f"~{_clock(x.planned_s * pace)}" if x.planned_s else ""
            else:
                when = f"{x.seconds:4.0f} s"
            label = Text(x.label, style=style if x.status != "pending" else "dim")
            if x.status == "running" and x.note:
                label.append(f" — {x.note}", style="cyan")
            if x.detail and x.status in ("failed", "not_available", "skipped"):
                label.append(f" — {x.detail}", style="dim")
            table.add_row(Text(mark, style=style), label, Text(when, style="dim"))
        total = Text(
            f"elapsed {_clock(now - self.began)} · about {_clock(self.remaining_s(now))} to go",
            style="bold",
        )
        return Group(table, total)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class LiveBoard:
    """Shows a :class:`StageBoard` while a run goes on; prints stage lines where nothing redraws."""

    def __init__(self, board: StageBoard, console: Console) -> None:
        self.board = board
        self.console = console
        self.redraws = console.is_terminal and not console.is_dumb_terminal
        self._live: Live | None = None

    def __enter__(self) -> LiveBoard:
        if self.redraws:
            self._live = Live(self.board, console=self.console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(*exc)
            self._live = None

    def began(self, name: str) -> None:
        """A stage began: where nothing redraws, say so for a stage planned to take a while."""
        x = self.board.line(name)
        if self.redraws or x.planned_s < 30:
            return
        self.console.print(
            f"[cyan]▶[/] {x.label} (about {_clock(x.planned_s * self.board.pace())})",
            highlight=False,
            soft_wrap=True,  # one line per event in a log file, whatever its width
        )

    def ended(self, name: str) -> None:
        """A stage ended: print its line where the board does not redraw."""
        if self.redraws:
            return
        x = self.board.line(name)
        mark, style = MARKS[x.status]
        detail = f": {x.detail}" if x.detail and x.status != "ok" else ""
        self.console.print(
            f"[{style}]{mark}[/] {x.label} ({x.seconds:.0f} s){detail} — about "
            f"{_clock(self.board.remaining_s())} to go",
            highlight=False,
            soft_wrap=True,
        )
