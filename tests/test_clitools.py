"""Typer options generated from a settings dataclass: each setting written once."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from typer.testing import CliRunner

from distillscope.clitools import settings_options


@dataclass
class ToySettings:
    out: str = field(metadata={"help": "Where to write."})
    count: int = field(default=3, metadata={"flags": ("--count", "-n"), "min": 1, "help": "How many."})
    loud: bool = field(default=False, metadata={"flags": ("--loud",), "help": "Shout."})
    label: str | None = field(default=None, metadata={"help": "An optional label."})


def _app(seen: list[ToySettings]) -> typer.Typer:
    def run(settings: ToySettings) -> None:
        """Do the toy thing."""
        seen.append(settings)

    app = typer.Typer()
    app.command("toy")(settings_options(ToySettings, run))
    app.command("other")(lambda: None)  # two commands, so typer keeps the sub-command name
    return app


def test_options_come_from_the_dataclass():
    seen: list[ToySettings] = []
    result = CliRunner().invoke(_app(seen), ["toy", "--out", "x", "-n", "5", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen == [ToySettings(out="x", count=5, loud=True, label=None)]


def test_defaults_help_and_bounds():
    seen: list[ToySettings] = []
    app = _app(seen)
    help_text = CliRunner().invoke(app, ["toy", "--help"], env={"COLUMNS": "200"}).output
    assert "Do the toy thing." in help_text and "How many." in help_text and "--label" in help_text
    assert CliRunner().invoke(app, ["toy"]).exit_code == 2  # --out is required
    assert CliRunner().invoke(app, ["toy", "--out", "x", "--count", "0"]).exit_code == 2  # min 1
    assert seen == []
    assert CliRunner().invoke(app, ["toy", "--out", "y"]).exit_code == 0
    assert seen == [ToySettings(out="y")]


@dataclass
class InnerSettings:
    depth: int = field(default=1, metadata={"help": "How deep.", "panel": "Inner"})


@dataclass
class OuterSettings:
    source: str = field(metadata={"argument": True, "help": "What to read."})
    inner: InnerSettings = field(metadata={"options_from": InnerSettings})
    target: str | None = field(default=None, metadata={"required": True, "help": "Where to write."})
    secret: str = field(default="python-only", metadata={"cli": False})

    def __post_init__(self) -> None:
        if self.inner.depth > 9:
            raise ValueError("depth must be <= 9")


def test_arguments_nested_settings_required_and_hidden_fields():
    seen: list[OuterSettings] = []

    def run(settings: OuterSettings) -> None:
        """Do the outer thing."""
        seen.append(settings)

    app = typer.Typer()
    app.command("outer")(settings_options(OuterSettings, run))
    app.command("other")(lambda: None)
    runner = CliRunner()
    result = runner.invoke(app, ["outer", "in.txt", "--target", "t", "--depth", "4"])
    assert result.exit_code == 0, result.output
    assert seen == [OuterSettings("in.txt", InnerSettings(4), target="t")]
    assert runner.invoke(app, ["outer", "in.txt"]).exit_code == 2  # --target is required on the CLI
    help_text = runner.invoke(app, ["outer", "--help"], env={"COLUMNS": "200"}).output
    assert "Inner" in help_text and "--secret" not in help_text
    bad = runner.invoke(app, ["outer", "in.txt", "--target", "t", "--depth", "12"])
    assert bad.exit_code == 2 and "depth must be <= 9" in bad.output and "Traceback" not in bad.output
    assert len(seen) == 1


@dataclass
class ListSettings:
    files: list[str] | None = field(default=None, metadata={"help": "Files; repeatable.", "metavar": "FILE"})


def test_metavar_names_a_repeatable_value_in_help():
    seen: list[ListSettings] = []

    def run(settings: ListSettings) -> None:
        """Read files."""
        seen.append(settings)

    app = typer.Typer()
    app.command("read")(settings_options(ListSettings, run))
    app.command("other")(lambda: None)
    runner = CliRunner()
    help_text = runner.invoke(app, ["read", "--help"], env={"COLUMNS": "200"}).output
    assert "FILE" in help_text and "list[" not in help_text
    assert runner.invoke(app, ["read", "--files", "a", "--files", "b"]).exit_code == 0
    assert seen == [ListSettings(files=["a", "b"])]


@dataclass
class ArgumentListSettings:
    paths: list[str] = field(metadata={"argument": True, "help": "Paths.", "metavar": "[LABEL=]PATH"})


def test_metavar_names_a_positional_list_in_usage():
    app = typer.Typer()
    app.command("read")(settings_options(ArgumentListSettings, lambda settings: None))
    app.command("other")(lambda: None)
    runner = CliRunner()
    help_text = runner.invoke(app, ["read", "--help"], env={"COLUMNS": "200"}).output
    usage = next(line for line in help_text.splitlines() if "Usage:" in line)
    assert "[LABEL=]PATH" in usage
    assert runner.invoke(app, ["read", "a=x", "y"]).exit_code == 0
