"""Kill the harvester (SIGKILL, Ctrl-C) at random moments while the wire server keeps counting, then resume.

The server runs as its own process and counts, per request body, what it
received and what it answered and billed. The harvester runs as
``distillscope harvest`` in a subprocess and is killed without warning.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
from harvest_helpers import REPO, child_env, harvest_cli, write_prompts

from distillscope.records import read_exchanges
from distillscope.testing.wire_server import Faults, body_key, default_responder

COUNT = 120
MAX_NEW = 12


def harvest_command(out: Path, prompts: Path, base_url: str, concurrency: int = 4) -> list[str]:
    return harvest_cli(
        str(out),
        "--teacher",
        base_url,
        "--model",
        "gpt-4o-mini",
        "--prompts",
        str(prompts),
        "--max-new-tokens",
        str(MAX_NEW),
        "--concurrency",
        str(concurrency),
        "--top-logprobs",
        "2",
        "--terms",
        "test: our own wire server",
        "--no-progress",
    )


def start_harvest(out: Path, prompts: Path, base_url: str, concurrency: int = 4) -> subprocess.Popen:
    command = harvest_command(out, prompts, base_url, concurrency)
    # stdout/stderr to files: a full pipe would block the child and skew the kill moment
    log = open(out.parent / "harvest.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=log)


def wait_for_traffic(server, process: subprocess.Popen, minimum: int) -> None:
    deadline = time.monotonic() + 120
    while server.stats()["paid"] < minimum:
        assert process.poll() is None, "the harvester exited early"
        assert time.monotonic() < deadline, "the harvester sent nothing"
        time.sleep(0.02)


def cached_server_keys(out: Path) -> set[str]:
    """Server-side keys of every answer in the harvester's cache (read after the kill)."""
    db = sqlite3.connect(out / "cache.sqlite")
    try:
        return {body_key(json.loads(body)) for (body,) in db.execute("SELECT body FROM answers")}
    finally:
        db.close()


def check_dataset(out: Path, prompts: Path) -> None:
    """All rows present, none corrupt, each answer the one the server gave for that prompt."""
    expected = {json.loads(line)["prompt"] for line in prompts.read_text().splitlines()}
    rows = read_exchanges(out / "exchanges.jsonl")  # raises on any malformed line
    assert len(rows) == COUNT and len({r.id for r in rows}) == COUNT
    assert {r.messages[-1]["content"] for r in rows} == expected
    for row in rows:
        tokens = default_responder(row.messages, MAX_NEW)[:MAX_NEW]
        assert row.response_text == "".join(tokens).strip()
        assert row.logprobs and len(row.logprobs) == row.completion_tokens
    assert pq.read_table(out / "exchanges.parquet").num_rows == COUNT
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["totals"]["exchanges"] == COUNT


def test_sigkill_at_random_moments_then_resume(tmp_path: Path, wire_process_factory) -> None:
    """Without server-side idempotency: an answer the client received is never requested again.

    Three runs are killed at random moments, a fourth finishes. Only a request in
    flight at the very moment of a kill can be billed without the client ever
    seeing its answer; the test allows exactly those to be paid twice, no other.
    """
    faults = Faults(latency_s=0.05, rate_500=0.05, rate_drop=0.03, seed=7, honour_idempotency=False)
    server = wire_process_factory(faults)
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    rng = random.Random()
    snapshots: list[tuple[dict, set[str]]] = []  # (server stats, cached keys) at each kill
    for _ in range(3):
        paid_before = server.stats()["paid"]
        process = start_harvest(out, prompts, server.base_url)
        wait_for_traffic(server, process, minimum=paid_before + 5)
        time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        snapshots.append((server.stats(), cached_server_keys(out)))
    finisher = start_harvest(out, prompts, server.base_url)
    assert finisher.wait(timeout=240) == 0
    final = server.stats()
    later_views = [s for s, _ in snapshots[1:]] + [final]
    in_flight_at_kills: set[str] = set()
    for (at_kill, answered), later in zip(snapshots, later_views, strict=True):
        assert answered, "nothing was cached before the kill"
        for key in answered:  # an answer in the cache is never requested again
            assert later["per_body"][key]["received"] == at_kill["per_body"][key]["received"], "re-sent"
        in_flight_at_kills |= {k for k, v in at_kill["per_body"].items() if v["paid"]} - answered
    assert set(final["paid_twice"]) <= in_flight_at_kills
    assert len(final["paid_twice"]) <= 3 * 4  # at most the concurrency, per kill
    assert final["paid"] - len(final["paid_twice"]) == COUNT
    check_dataset(out, prompts)


def test_sigkill_with_idempotency_keys_pays_nothing_twice(tmp_path: Path, wire_process_factory) -> None:
    """With a server that honours Idempotency-Key, even in-flight requests are not billed twice."""
    server = wire_process_factory(Faults(latency_s=0.05, rate_503=0.05, seed=3))
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    process = start_harvest(out, prompts, server.base_url, concurrency=6)
    wait_for_traffic(server, process, minimum=10)
    time.sleep(random.uniform(0.0, 0.6))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    finisher = start_harvest(out, prompts, server.base_url, concurrency=6)
    assert finisher.wait(timeout=240) == 0
    stats = server.stats()
    assert stats["paid_twice"] == [] and stats["paid"] == COUNT
    check_dataset(out, prompts)


def test_ctrl_c_stops_gracefully_and_keeps_everything(tmp_path: Path, wire_process_factory) -> None:
    server = wire_process_factory(Faults(latency_s=0.25))
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    process = start_harvest(out, prompts, server.base_url, concurrency=3)
    wait_for_traffic(server, process, minimum=6)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stats = server.stats()
    manifest = json.loads((out / "manifest.json").read_text())
    rows = read_exchanges(out / "exchanges.jsonl")
    assert manifest["status"] == "interrupted"
    # requests in flight at Ctrl-C were allowed to finish: everything paid is in the dataset
    assert len(rows) == stats["paid"] == len(cached_server_keys(out)) < COUNT
    finisher = start_harvest(out, prompts, server.base_url, concurrency=8)
    assert finisher.wait(timeout=240) == 0
    assert server.stats()["paid_twice"] == []
    check_dataset(out, prompts)


def test_budget_holds_across_kills_counting_requests_in_flight(tmp_path: Path, wire_process_factory) -> None:
    """A request in flight at a SIGKILL may be billed without its answer ever arriving.

    Its reservation is on disk, so the rerun counts it as spent: across the kill
    and the rerun, the requests that reached the server (each of which a real
    provider may bill) never exceed --max-requests.
    """
    server = wire_process_factory(Faults(latency_s=2.0, honour_idempotency=False))
    prompts = write_prompts(tmp_path / "prompts.jsonl", 40)
    out = tmp_path / "out"
    command = harvest_command(out, prompts, server.base_url, concurrency=8) + ["--max-requests", "12"]
    log = open(tmp_path / "harvest.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while server.stats()["requests"] < 8:  # the probe answered, then 7-8 in flight
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    in_flight = server.stats()["requests"] - server.stats()["paid"]
    assert in_flight >= 1
    with sqlite3.connect(out / "cache.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] >= in_flight
    rerun = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, timeout=240)
    assert rerun.returncode == 0
    stats = server.stats()
    assert len(stats["per_body"]) <= 12  # distinct requests that reached the server: within the cap
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "budget_exhausted" and manifest["budget"]["spent"]["requests"] == 12
