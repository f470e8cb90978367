"""`distillscope serve`: help, refusal of open mode off loopback, Ctrl-C drains and exits 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest

SERVE = [sys.executable, "-m", "distillscope", "serve"]


def test_help_explains_every_option() -> None:
    out = subprocess.run(
        [*SERVE, "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert out.returncode == 0
    for option in (
        "--model",
        "--served-model-name",
        "--upstream",
        "--upstream-key-env",
        "--host",
        "--port",
        "--max-batch-size",
        "--open",
        "--db",
        "--policy",
        "--watermark",
    ):
        assert option in out.stdout


@pytest.mark.parametrize("extra", [[], ["--open", "--db", "unused.db"]], ids=["default", "open-with-db"])
def test_open_mode_refuses_a_public_address(extra: list[str]) -> None:
    out = subprocess.run([*SERVE, "--host", "0.0.0.0", *extra], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "loopback" in out.stderr and "Traceback" not in out.stderr


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [*SERVE, "--model", str(tmp_path / "nope")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert "never downloads" in out.stderr and "Traceback" not in out.stderr


def _start(args: list[str]) -> tuple[subprocess.Popen, list[str], str]:
    """Start `distillscope serve ARGS` on a free port; return the process, its output lines and base URL."""
    process = subprocess.Popen(
        [*SERVE, *args, "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    deadline = time.monotonic() + 180
    while True:
        found = re.search(r"http://127\.0\.0\.1:\d+/v1", "".join(lines))
        if found:
            return process, lines, found.group(0)
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("server did not start:\n" + "".join(lines))
        time.sleep(0.1)


def _wait_for(lines: list[str], text: str, timeout: float = 30) -> str:
    """The output so far once it contains TEXT: the banner arrives line by line, after the URL."""
    deadline = time.monotonic() + timeout
    while text not in "".join(lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "".join(lines)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def test_ctrl_c_drains_in_flight_requests_and_exits_cleanly(tiny_model_dir: Path) -> None:
    process, lines, url = _start(["--model", str(tiny_model_dir), "--threads", "1"])
    try:
        banner = _wait_for(lines, "openai.OpenAI")
        assert "open" in banner and "openai.OpenAI" in banner
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        stream = client.chat.completions.create(
            model=tiny_model_dir.name,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=40,
            stream=True,
        )
        first = next(iter(stream))  # the request is in flight
        process.send_signal(signal.SIGINT)
        rest = list(stream)
        finishes = [
            c.choices[0].finish_reason for c in [first, *rest] if c.choices and c.choices[0].finish_reason
        ]
        assert finishes and finishes[-1] in ("length", "stop")
        assert process.wait(timeout=120) == 0
        assert "Traceback" not in "".join(lines)
    finally:
        _stop(process)


def test_upstream_mode_from_the_command_line(tiny_server) -> None:
    process, lines, url = _start(["--upstream", tiny_server.base_url, "--served-model-name", "relayed"])
    try:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        assert [m.id for m in client.models.list()] == ["relayed"]
        kwargs = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}
        relayed = client.chat.completions.create(model="relayed", **kwargs)
        direct = tiny_server.client().chat.completions.create(model="tiny", **kwargs)
        assert relayed.choices[0].message.content == direct.choices[0].message.content
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    finally:
        _stop(process)


def test_bad_watermark_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "wm.toml"
    config.write_text("gamma = [not toml")
    out = subprocess.run([*SERVE, "--watermark", str(config)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "watermark" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_embedded_teacher_answers_paris_with_top_logprobs(teacher_dir: Path) -> None:
    from distillscope.serving import ServeSettings, serve

    with serve(ServeSettings(threads=1, port=0)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
        assert [m.id for m in client.models.list()] == ["smollm2-135m-instruct"]
        response = client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            max_tokens=24,
            temperature=0,
            logprobs=True,
            top_logprobs=5,
        )
    choice = response.choices[0]
    assert "Paris" in choice.message.content
    entries = choice.logprobs.content
    assert entries and all(len(e.top_logprobs) == 5 for e in entries)
    assert any("Paris" in e.token for e in entries)
    for entry in entries:
        values = [t.logprob for t in entry.top_logprobs]
        assert values == sorted(values, reverse=True) and entry.logprob == pytest.approx(values[0], abs=1e-5)
