"""The red-team demo: settings, honest gaps, Ctrl-C, and one real end-to-end --quick run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillscope import demo
from distillscope.cli import app
from distillscope.report.browser import find_chromium, visit
from distillscope.report.build import build_report
from distillscope.report.schema import SECTIONS, load_report, write_report_json

runner = CliRunner()

# As small as the pipeline allows: every stage runs, on the real SmolLM2 teacher.
TINY = [
    "--quick", "--attackers", "2", "--exchanges", "3", "--benign", "2", "--train-steps", "2",
    "--eval-prompts", "3", "--task-size", "2", "--max-new-tokens", "16",
]  # fmt: skip


def test_settings_are_validated() -> None:
    quick = demo.DemoSettings(quick=True)
    assert quick.exchanges == 12 and quick.attackers == 2
    assert demo.DemoSettings(quick=True, exchanges=5).exchanges == 5  # explicit values win
    with pytest.raises(ValueError, match="exchanges must be at least 1"):
        demo.DemoSettings(exchanges=0)
    with pytest.raises(ValueError, match="teacher-url"):
        demo.DemoSettings(teacher_url="ftp://x")
    result = runner.invoke(app, ["demo", "--top-logprobs", "21"])
    assert result.exit_code == 2 and "top_logprobs" in result.output


def test_a_missing_component_is_reported_not_invented(tmp_path: Path) -> None:
    run = demo.DemoRun(demo.DemoSettings(quick=True), tmp_path)
    with run.stage("watermark", "radioactivity"):
        demo._need("distillscope.no_such_component", "radioactivity")
    with run.stage("identity", "identity"):
        raise RuntimeError("the student server died")
    data = demo._report_json(run)
    assert data["watermark"] == {
        "not_measured": "not_available: distillscope.no_such_component is not available "
        "(No module named 'distillscope.no_such_component')"
    }
    assert data["identity"]["not_measured"] == "failed: RuntimeError: the student server died"
    assert data["harvest"] == {"not_measured": "the stage did not run"}
    report = load_report(write_report_json(data, tmp_path / "report.json"))
    assert all(not report.sections[name].measured for name in SECTIONS)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path: Path, teacher_dir: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["demo", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    stages = {s["name"]: s for s in data["run"]["stages"]}
    assert all(s["status"] == "ok" for s in stages.values()), stages
    assert {"serve", "harvest", "guard", "detect", "students", "watermark", "identity", "share"} <= set(
        stages
    )
    harvest = data["harvest"]
    assert harvest["answered"] >= 1 and harvest["completion_tokens"] > 0
    assert {a["account"] for a in harvest["accounts"]} == {"atk-1", "atk-2"}
    roles = {a["account"]: a["role"] for a in data["guard"]["accounts"]}
    assert roles == {"atk-1": "attacker", "atk-2": "attacker", "user-1": "benign", "user-2": "benign"}
    assert data["guard"]["timeline"] and data["guard"]["offline"]["accounts"]
    assert {m["method"] for m in data["student"]["methods"]} >= {"untrained", "sft"}
    assert data["watermark"]["negative_control"]["p_value"] is not None
    assert any(p["model"].startswith("student") for p in data["identity"]["probes"])
    # Secrets stay out of the run directory and the report.
    assert not (out / "watermark.secret").exists()
    text = (out / "report.json").read_text(encoding="utf-8")
    assert "Bearer" not in text and '"key"' not in text
    # The report is rebuilt from report.json alone, identically.
    first = (out / "report.html").read_text(encoding="utf-8")
    (out / "report.html").unlink()
    assert build_report(out).read_text(encoding="utf-8") == first
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("chromium is not installed")
    page = visit(
        out / "report.html",
        evaluate="Array.from(document.querySelectorAll('section[data-section]')).map(s => s.id)",
    )
    assert page.console_errors == [] and page.network == []
    assert set(page.evaluated) == {"actions", *SECTIONS, "run"}
    (tmp_path / "demo-report.png").write_bytes(page.screenshot or b"")


@pytest.mark.slow
def test_ctrl_c_writes_what_was_measured_and_exits_130(tmp_path: Path, teacher_dir: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "distillscope", "demo", *TINY, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if "gateway on" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
    assert code == 130, "".join(seen)
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    serve = data["run"]["stages"][0]
    assert serve["name"] == "serve" and serve["detail"] == "interrupted (Ctrl-C)"
    assert "not_measured" in data["student"]
    assert (out / "report.html").exists()
