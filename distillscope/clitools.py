"""Small helpers shared by the component CLIs: one console, clear errors, options from settings.

Nothing here knows about any component.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console

#: Progress and tables go to stderr so that stdout stays machine-readable.
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (no traceback) and exit with ``code``."""
    # soft_wrap: an error message stays one line, whatever the terminal width.
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_options(
    settings_cls: type, run: Callable[[Any], None], *, skip: tuple[str, ...] = ()
) -> Callable[..., None]:
    """A typer command whose options are the fields of the dataclass ``settings_cls``.

    Each field is written once, in the dataclass: its default, and in
    ``field(metadata=...)`` its ``help`` and optionally ``flags`` (option names,
    default ``--field-name``), ``cli_type`` (the type typer parses, for fields
    that also accept richer objects in Python) and ``min``/``max`` bounds. The
    command builds ``settings_cls(**options)`` and calls ``run`` with it; the
    command's help is ``run``'s docstring. (As TRL's ``HfArgumentParser`` and
    vLLM's ``add_cli_args`` do for argparse.)
    """
    parameters = []
    for spec in dataclasses.fields(settings_cls):
        if spec.name in skip or not spec.init:
            continue
        meta = spec.metadata
        if spec.default is not dataclasses.MISSING:
            default = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        else:
            default = ...  # required
        flags = meta.get("flags") or ("--" + spec.name.replace("_", "-"),)
        bounds = {k: meta[k] for k in ("min", "max") if k in meta}
        option = typer.Option(default, *flags, help=meta.get("help"), **bounds)
        annotation = meta["cli_type"] if "cli_type" in meta else _field_type(settings_cls, spec)
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters.append(inspect.Parameter(spec.name, keyword, default=option, annotation=annotation))

    def command(**options: Any) -> None:
        run(settings_cls(**options))

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = run.__doc__
    command.__name__ = run.__name__
    return command


def _field_type(settings_cls: type, spec: dataclasses.Field[Any]) -> Any:
    """The field's annotation as an object (annotations may be strings under postponed evaluation)."""
    if not isinstance(spec.type, str):
        return spec.type
    namespace = vars(sys.modules[settings_cls.__module__])
    return eval(spec.type, dict(namespace))  # noqa: S307 - the project's own annotation strings
