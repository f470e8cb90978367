"""The local teacher: the real `distillscope serve` app in-process, reached over HTTP like any URL."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
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


def start_serve(model_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`distillscope serve` in its own process (open mode, logging every exchange to JSONL)."""
    command = [
        sys.executable, "-m", "distillscope", "serve", "--model", str(model_dir), "--open",
        "--served-model-name", "tiny",
        "--port", "0", "--threads", "1", "--log-jsonl", str(log), "--log-level", "warning",
    ]  # fmt: skip
    env = child_env(COLUMNS="400")
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        if match:
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("distillscope serve did not start")


def logged_prompts(log: Path) -> list[str]:
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e["messages"][-1]["content"] for e in lines if e.get("status") == 200]


def test_sigkill_and_resume_against_distillscope_serve(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The real server logs every answer it generates: nothing the harvester had received is asked again."""
    log = tmp_path / "served.jsonl"
    server, base_url = start_serve(tiny_model_dir, log)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "distillscope", "harvest", str(out), "--teacher", base_url,
        "--model", "tiny", "--random-words", "24", "--max-new-tokens", "6", "--top-logprobs", "2",
        "--concurrency", "4", "--no-progress", "--terms", "our own test model",
    ]  # fmt: skip
    try:
        harvester = subprocess.Popen(command, cwd=REPO, env=child_env(), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while len(logged_prompts(log)) < 4:
            assert harvester.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        harvester.send_signal(signal.SIGKILL)
        harvester.wait(timeout=30)
        time.sleep(1.0)  # let requests in flight at the kill finish (and be logged) on the server
        served_at_kill = logged_prompts(log)
        db = sqlite3.connect(out / "cache.sqlite")
        bodies = [json.loads(body) for (body,) in db.execute("SELECT body FROM answers")]
        cached = {body["messages"][-1]["content"] for body in bodies}
        db.close()
        assert cached and cached <= set(served_at_kill)
        finisher = subprocess.run(
            command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=600
        )
        assert finisher.returncode == 0, finisher.stderr
    finally:
        server.terminate()
        server.wait(timeout=60)
    served = logged_prompts(log)
    after_kill = served[len(served_at_kill) :]
    assert not cached & set(after_kill)  # nothing already answered was requested again
    rows = read_exchanges(out / "exchanges.jsonl")
    assert len(rows) == 24 and {r.messages[-1]["content"] for r in rows} == set(served)
    assert all(r.logprobs and len(r.logprobs[0]["top_logprobs"]) == 2 for r in rows)
