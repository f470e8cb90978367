"""The scripts in examples/ run as a user would run them (tiny models, small sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_detect_campaigns_example(tmp_path):
    out = _run("detect_campaigns.py", "--out", str(tmp_path), "--benign-users", "40")
    assert "accounts flagged" in out and "against the labels:" in out
    rows = [json.loads(line) for line in (tmp_path / "det" / "accounts.jsonl").read_text().splitlines()]
    assert rows and {"account", "score", "flagged", "campaign", "reasons"} <= set(rows[0])


def test_guard_a_model_example(tiny_model_dir, tmp_path):
    db = tmp_path / "guard.db"
    out = _run(
        "guard_a_model.py",
        "--model",
        str(tiny_model_dir),
        "--db",
        str(db),
        env={"DISTILLSCOPE_HOME": str(tmp_path / "home")},
    )
    assert "a wrong key is refused: HTTP 401" in out
    assert "the guard logged 3 exchanges" in out
    assert out.count("alice /v1/chat/completions status=200") == 3


def test_distill_a_teacher_example(tiny_model_dir, tmp_path):
    out = _run(
        "distill_a_teacher.py",
        "--teacher",
        str(tiny_model_dir),
        "--out",
        str(tmp_path),
        "--count",
        "4",
        "--steps",
        "2",
    )
    assert "harvested 4 answers (0 failed)" in out
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["held_out"]["prompts"] > 0 and "fidelity" in report
    assert (tmp_path / "student" / "training.json").exists()
