"""The local teacher: the real `distillscope serve` app in-process, reached over HTTP like any URL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harvest_helpers import REPO, child_env

from distillscope.harvest.run import harvest
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.tasks import ReasoningGymStrategy, score
from distillscope.records import read_exchanges


def test_local_tiny_model_with_top_logprobs(tmp_path: Path, tiny_model_dir: Path) -> None:
    settings = HarvestSettings(
        out_dir=tmp_path,
        strategy=ReasoningGymStrategy("basic_arithmetic", count=3, seed=1),
        teacher="local",
        model=str(tiny_model_dir),
        max_new_tokens=6,
        temperature=0.0,
        top_logprobs=3,
        progress=False,
    )
    result = harvest(settings)
    assert result.exchanges == 3 and result.failed == 0
    rows = read_exchanges(tmp_path / "exchanges.parquet")
    for row in rows:
        assert row.completion_tokens and 0 < row.completion_tokens <= 6
        assert len(row.logprobs) == row.completion_tokens
        assert all(len(t["top_logprobs"]) == 3 for t in row.logprobs)
        assert row.cost_usd == 0.0
        assert row.provenance["teacher"] == "local"
        assert row.provenance["base_url"] == f"local:{tiny_model_dir.resolve()}"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["terms_stated"] is False and manifest["warnings"]  # warned loudly, recorded
    # a second run (a new server on another port) is answered from the cache: same teacher identity
    again = harvest(settings)
    assert again.sent == 0 and again.from_cache == 3


@pytest.mark.slow
def test_cli_against_embedded_smollm2_with_reasoning_gym(tmp_path: Path, teacher_dir: Path) -> None:
    """The issue's "done when": harvest SmolLM2 with a reasoning-gym task and top_logprobs."""
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "distillscope", "harvest", str(out),
        "--teacher", "local", "--model", "smollm2-135m-instruct",
        "--task", "basic_arithmetic", "--count", "2", "--max-new-tokens", "16",
        "--top-logprobs", "5", "--temperature", "0", "--no-progress",
        "--terms", "SmolLM2 is Apache-2.0",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = read_exchanges(out / "exchanges.jsonl")
    assert len(rows) == 2
    assert all(r.response_text and len(r.logprobs[0]["top_logprobs"]) == 5 for r in rows)
    meta = rows[0].provenance["query_meta"]
    assert score(meta, meta["answer"]) == 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["terms"] == "SmolLM2 is Apache-2.0"
    assert manifest["teacher"]["model"] == "smollm2-135m-instruct"
