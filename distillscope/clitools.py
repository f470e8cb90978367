"""Small helpers shared by the component CLIs: one console and clear errors.

Nothing here knows about any component.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

#: Progress and tables go to stderr so that stdout stays machine-readable.
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (no traceback) and exit with ``code``."""
    # soft_wrap: an error message stays one line, whatever the terminal width.
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

