"""Small helpers shared by the component CLIs: one console, clear errors, options from settings.

Nothing here knows about any component.

This module must not import another distillscope module, and must not write to stdout: its console
is stderr, so that a command's stdout stays its result.
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
    that also accept richer objects in Python), ``min``/``max`` bounds, ``panel``
    (the help section), ``argument`` (a positional argument instead of an option),
    ``required`` (required on the command line though optional in Python),
    ``metavar`` (the value's name in ``--help``, e.g. ``FILE`` for a repeatable path),
    ``cli: False`` (not on the command line) and ``options_from`` (a settings class
    whose fields become options too, or those named in ``only``; the field gets
    that object). The command
    builds ``settings_cls(**options)``, turning a ``ValueError`` of the settings'
    checks into a clear error, and calls ``run`` with it; the command's help is
    ``run``'s docstring. (As TRL's ``HfArgumentParser`` and vLLM's ``add_cli_args``
    do for argparse.)
    """
    parameters: list[inspect.Parameter] = []
    nested: dict[str, tuple[type, list[str]]] = {}
    for spec in _cli_fields(settings_cls, skip):
        inner = spec.metadata.get("options_from")
        if inner is None:
            parameters.append(_parameter(settings_cls, spec))
            continue
        only = spec.metadata.get("only")
        inner_fields = [f for f in _cli_fields(inner, skip) if only is None or f.name in only]
        nested[spec.name] = (inner, [f.name for f in inner_fields])
        parameters += [_parameter(inner, f) for f in inner_fields]
    names = [p.name for p in parameters]
    if len(names) != len(set(names)):
        raise TypeError(f"{settings_cls.__name__}: two options share a name")
    # Positional arguments first, in field order (typer reads them in signature order).
    parameters.sort(key=lambda p: not isinstance(p.default, typer.models.ArgumentInfo))

    def command(**options: Any) -> None:
        for name, (inner, fields) in nested.items():
            options[name] = _build(inner, {f: options.pop(f) for f in fields})
        run(_build(settings_cls, options))

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = run.__doc__
    command.__name__ = run.__name__
    return command


def _cli_fields(settings_cls: type, skip: tuple[str, ...]) -> list[dataclasses.Field[Any]]:
    return [
        spec
        for spec in dataclasses.fields(settings_cls)
        if spec.name not in skip and spec.init and spec.metadata.get("cli", True)
    ]


def _parameter(settings_cls: type, spec: dataclasses.Field[Any]) -> inspect.Parameter:
    meta = spec.metadata
    if meta.get("required"):
        default: Any = ...
    elif spec.default is not dataclasses.MISSING:
        default = spec.default
    elif spec.default_factory is not dataclasses.MISSING:
        default = spec.default_factory()
    else:
        default = ...  # required
    extra = {k: meta[k] for k in ("min", "max", "metavar") if k in meta}
    if "panel" in meta:
        extra["rich_help_panel"] = meta["panel"]
    if meta.get("argument"):
        info = typer.Argument(default, help=meta.get("help"), **extra)
    else:
        flags = meta.get("flags") or ("--" + spec.name.replace("_", "-"),)
        info = typer.Option(default, *flags, help=meta.get("help"), **extra)
    annotation = meta["cli_type"] if "cli_type" in meta else _field_type(settings_cls, spec)
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _build(settings_cls: type, options: dict[str, Any]) -> Any:
    try:
        return settings_cls(**options)
    except ValueError as exc:  # the settings' own checks name the setting
        fail(str(exc))


def _field_type(settings_cls: type, spec: dataclasses.Field[Any]) -> Any:
    """The field's annotation as an object (annotations may be strings under postponed evaluation)."""
    if not isinstance(spec.type, str):
        return spec.type
    namespace = vars(sys.modules[settings_cls.__module__])
    return eval(spec.type, dict(namespace))  # noqa: S307 - the project's own annotation strings
