"""`distillscope serve --db` as real processes: two servers share one store, SIGTERM drains the log.

The upstream is the OpenAI-wire test server (in this process, on loopback); each
guarded server is a separate ``distillscope serve --upstream ... --db ...`` process.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
import pytest

from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.secret import load_server_secret
from distillscope.testing.wire_server import WireServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "process-test-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(upstream: str, db: str, env: dict[str, str], policy: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "distillscope", "serve", "--upstream", upstream, "--model", "wire-model"]
    command += ["--port", str(port), "--db", db, "--policy", str(policy), "--log-level", "warning"]
    # stderr to a file, not a pipe: a pipe nobody reads could fill up and stall the server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    proc.log = log  # type: ignore[attr-defined]
    return proc, f"http://127.0.0.1:{port}"


def _ready(proc: subprocess.Popen[bytes], base: str) -> tuple[subprocess.Popen[bytes], str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.log.seek(0)  # type: ignore[attr-defined]
            raise AssertionError(proc.log.read().decode())  # type: ignore[attr-defined]
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base + "/v1"
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_server_processes_one_store_nothing_lost(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    db = str(tmp_path / "guard.db") if store == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", SECRET)
    env = {**os.environ, "DISTILLSCOPE_SERVER_SECRET": SECRET, "DISTILLSCOPE_HOME": str(tmp_path / "home")}
    keys = KeyStore(db, load_server_secret())
    key, info = keys.create_key("acme")
    policy = tmp_path / "policy.toml"
    policy.write_text("[risk]\nthrottle = 1.0\nstrip_logprobs = 1.0\nblock = 1.0\n")
    n_per_server = 30
    with WireServer() as wire:
        spawned = [_spawn(wire.base_url, db, env, policy) for _ in range(2)]  # start both at once
        servers = [_ready(proc, base) for proc, base in spawned]
        try:

            def ask(i: int) -> str:
                base = servers[i % 2][1]
                client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=60)
                reply = client.chat.completions.create(
                    model="wire-model", messages=[{"role": "user", "content": f"q{i}"}], max_tokens=8
                )
                return reply.choices[0].message.content or ""

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(ask, range(2 * n_per_server)))
            assert all(answers)
            # A key revoked through one process's store is refused by the other at once.
            keys.revoke(info.key_id)
            for _, base in servers:
                client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
                with pytest.raises(openai.AuthenticationError):
                    client.chat.completions.create(
                        model="wire-model", messages=[{"role": "user", "content": "late"}], max_tokens=2
                    )
        finally:
            for proc, _ in servers:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=120) for proc, _ in servers]
        upstream = wire.stats()
    assert codes == [0, 0]
    logged = list(open_log_store(db).iter_exchanges())
    ok = [e for e in logged if e.status == 200]
    assert len(ok) == 2 * n_per_server and len({e.id for e in ok}) == 2 * n_per_server
    assert sorted(e.last_user_text for e in ok) == sorted(f"q{i}" for i in range(2 * n_per_server))
    assert [e.status for e in logged].count(401) == 2
    assert upstream["requests"] == 2 * n_per_server  # the revoked key's requests never went upstream
