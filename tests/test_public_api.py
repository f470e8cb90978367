"""The flat public face (`import distillscope as ds`) and the one exception root."""

from __future__ import annotations

import subprocess
import sys

import pytest

import distillscope as ds
from distillscope.errors import ConfigError, DistillscopeError, InputError


def test_every_public_name_resolves():
    for name in ds.__all__:
        assert getattr(ds, name) is not None, name
    assert set(ds.__all__) <= set(dir(ds))
    assert set(ds.__all__) == {"__version__", *ds._PUBLIC}


def test_no_public_name_is_shadowed_by_a_subpackage():
    """Importing every sub-package first must not replace a public function with a module."""
    import pkgutil
    from importlib import import_module

    for info in pkgutil.iter_modules(ds.__path__):
        if info.name == "__main__":  # runs the CLI when imported
            continue
        import_module(f"distillscope.{info.name}")
        assert info.name not in ds._PUBLIC, info.name
    assert callable(ds.run_harvest) and callable(ds.serve) and callable(ds.run_detection)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ds.nope  # noqa: B018


def test_import_is_cheap():
    """`import distillscope` loads no component, torch or DuckDB."""
    code = (
        "import sys, distillscope; "
        "mods = ('torch', 'duckdb', 'transformers', 'distillscope.records'); "
        "heavy = [m for m in mods if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("module", "name", "root"),
    [
        ("distillscope.records", "LogFormatError", InputError),
        ("distillscope.watermark.config", "WatermarkConfigError", ConfigError),
        ("distillscope.harvest.teacher", "TeacherError", ConfigError),
        ("distillscope.harvest.run", "HarvestError", DistillscopeError),
        ("distillscope.exchanges", "DatasetError", InputError),
        ("distillscope.guard.keys", "KeyStoreError", DistillscopeError),
        ("distillscope.share.export", "ShareInputError", InputError),
    ],
)
def test_component_errors_share_one_root(module, name, root):
    from importlib import import_module

    cls = getattr(import_module(module), name)
    assert issubclass(cls, root) and issubclass(cls, DistillscopeError)


def test_a_malformed_log_is_an_input_error_and_a_value_error(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"id": "a", "ts": 1, "account": "x", "prompt": "hi"}\n{not json\n')
    with pytest.raises(ds.InputError) as caught:
        ds.read_exchanges(log)
    assert isinstance(caught.value, ValueError) and "log.jsonl:2:" in str(caught.value)


def test_watermark_config_and_keys_have_no_import_cycle():
    """keys must import without config (config imports keys, never the reverse)."""
    code = "import distillscope.watermark.keys, sys; print('distillscope.watermark.config' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_turns_an_uncaught_known_failure_into_one_line(tmp_path):
    """A DistillscopeError that reaches the root CLI prints `error: ...` and exits 2, no traceback."""
    code = (
        "import sys; from distillscope import cli; from distillscope.errors import InputError\n"
        "@cli.app.command('boom')\n"
        "def boom():\n    raise InputError('the log is broken at line 7')\n"
        "sys.argv = ['distillscope', 'boom']; cli.main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2
    assert "error: the log is broken at line 7" in out.stderr
    assert "Traceback" not in out.stderr


SETTINGS = (
    "ServeSettings", "HarvestSettings", "StrategySettings", "TrainSettings", "EvalSettings", "DetectSettings",
    "RadioactivityTest", "DemoSettings",
)  # fmt: skip


@pytest.mark.parametrize("name", SETTINGS)
def test_the_settings_a_user_needs_are_on_the_face(name):
    """Each is the component's own class, and every field the command line shows has its help."""
    import dataclasses

    cls = getattr(ds, name)
    assert name in ds.__all__ and dataclasses.is_dataclass(cls)
    shown = [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("cli", True)]
    assert shown, name
    missing = [f.name for f in shown if "help" not in f.metadata and "options_from" not in f.metadata]
    assert missing == [], f"{name}: no help for {missing}"
