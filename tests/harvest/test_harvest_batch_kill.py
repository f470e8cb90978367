"""SIGKILL `distillscope harvest --batch` at every stage, Ctrl-C it, then rerun: every answer exactly once.

The wire server runs in its own process and records what was uploaded, which
batches were created and, per request body, how often it was submitted in a
batch and how often a batch answered (billed) it. Delays hold the harvester in
the stage under test (uploading, creating, polling, downloading) while it is
killed; the rerun must find what the killed process left at the provider
(the uploaded file by its name, the created batch by its metadata or its
creation time and size) instead of submitting anything twice.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from harvest_helpers import REPO, child_env, harvest_cli, set_process_faults, write_prompts

from distillscope.harvest.batch.store import BatchStore
from distillscope.harvest.cache import AnswerCache
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import StaticStrategy
from distillscope.records import read_exchanges
from distillscope.testing.wire_server import Faults, default_responder

COUNT = 30
PER_BATCH = 12  # 3 batches
MAX_NEW = 8
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku"}


def batch_command(out: Path, prompts: Path, base_url: str, api: str, *extra: str) -> list[str]:
    return harvest_cli(
        str(out),
        "--teacher",
        base_url,
        "--api",
        api,
        "--model",
        MODELS[api],
        "--prompts",
        str(prompts),
        "--max-new-tokens",
        str(MAX_NEW),
        "--batch",
        "--poll",
        "0.05",
        "--batch-max-requests",
        str(PER_BATCH),
        "--terms",
        "test: our own wire server",
        "--no-progress",
        *extra,
    )


def start(out: Path, prompts: Path, base_url: str, api: str, *extra: str) -> subprocess.Popen:
    command = batch_command(out, prompts, base_url, api, *extra)
    log = open(out.parent / "harvest.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=log)


def wait_for(server, process: subprocess.Popen, event: str, minimum: int = 1) -> None:
    deadline = time.monotonic() + 90
    while server.stats()["batch"]["events"].get(event, 0) < minimum:
        assert process.poll() is None, f"the harvester exited before {event}"
        assert time.monotonic() < deadline, f"no {event} seen"
        time.sleep(0.01)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def check_exactly_once(out: Path, server, batches: int = 3) -> None:
    stats = server.stats()["batch"]
    assert stats["submitted"] == COUNT and stats["submitted_twice"] == [], "a request was submitted twice"
    assert stats["paid"] == COUNT and stats["paid_twice"] == []
    assert stats["batches"] == batches
    db = sqlite3.connect(out / "cache.sqlite")
    try:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == COUNT
        assert db.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
        stages = {row[0] for row in db.execute("SELECT stage FROM batches")}
    finally:
        db.close()
    assert stages == {"collected"}
    rows = read_exchanges(out / "exchanges.jsonl")
    assert len(rows) == COUNT and len({r.id for r in rows}) == COUNT
    for row in rows:
        assert row.response_text == "".join(default_responder(row.messages, MAX_NEW)[:MAX_NEW]).strip()
        assert row.provenance["mode"] == "batch" and row.provenance["batch_id"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["totals"]["exchanges"] == COUNT


STAGES = {
    # stage: (faults that hold the harvester there, the server event that says it is there)
    "uploading": (Faults(batch_upload_delay_s=5), "upload"),
    "creating": (Faults(batch_create_delay_s=5), "create"),
    "polling": (Faults(batch_progress_s=30), "poll"),
    "downloading": (Faults(batch_download_delay_s=5), "download"),
}
CASES = [(api, stage) for api in ("openai", "anthropic") for stage in STAGES]
CASES.remove(("anthropic", "uploading"))  # Message Batches carry their requests inline: no upload


@pytest.mark.parametrize(("api", "stage"), CASES)
def test_sigkill_at_each_stage_then_rerun_gets_every_answer_exactly_once(
    tmp_path: Path, wire_process_factory, api: str, stage: str
) -> None:
    faults, event = STAGES[stage]
    server = wire_process_factory(faults)
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    process = start(out, prompts, server.base_url, api)
    wait_for(server, process, event)
    time.sleep(0.2)
    kill(process)
    at_kill = server.stats()["batch"]
    if stage in ("polling", "downloading"):
        # submitted batches reserve their worst case until their results arrive (budget across kills)
        with AnswerCache(out / "cache.sqlite") as cache:
            run_id = HarvestSettings(out_dir=out, strategy=StaticStrategy([])).run_id
            assert BatchStore(cache).outstanding(run_id).requests == at_kill["submitted"] == COUNT
    set_process_faults(server.base_url, Faults())
    finisher = start(out, prompts, server.base_url, api)
    assert finisher.wait(timeout=120) == 0, (out.parent / "harvest.log").read_text()[-3000:]
    check_exactly_once(out, server)
    if api == "openai":  # the file uploaded before the kill was found by its name, not uploaded again
        assert server.stats()["batch"]["files"] == 3


def test_sigkill_at_random_moments_then_rerun(tmp_path: Path, wire_process_factory) -> None:
    faults = Faults(
        batch_upload_delay_s=0.2,
        batch_create_delay_s=0.2,
        batch_validate_s=0.2,
        batch_progress_s=0.4,
        batch_download_delay_s=0.2,
    )
    server = wire_process_factory(faults)
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    rng = random.Random()
    for _ in range(3):
        process = start(out, prompts, server.base_url, "openai")
        time.sleep(rng.uniform(0.8, 3.0))  # interpreter start-up is ~0.5 s
        kill(process)
    finisher = start(out, prompts, server.base_url, "openai")
    assert finisher.wait(timeout=120) == 0
    check_exactly_once(out, server)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_ctrl_c_cancels_the_remote_batches_and_a_rerun_resubmits_only_the_rest(
    tmp_path: Path, wire_process_factory, api: str
) -> None:
    server = wire_process_factory(Faults(batch_progress_s=6, batch_cancel_s=0.2))
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    process = start(out, prompts, server.base_url, api, "--on-interrupt", "cancel")
    wait_for(server, process, "poll", 3)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stats = server.stats()["batch"]
    assert stats["events"].get("cancel") == 3 and stats["submitted"] == COUNT
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    set_process_faults(server.base_url, Faults())
    finisher = start(out, prompts, server.base_url, api)
    assert finisher.wait(timeout=120) == 0
    final = server.stats()["batch"]
    # what the cancelled batches answered is kept; only the rest was submitted again
    assert final["paid"] == COUNT and final["paid_twice"] == []
    assert final["submitted"] == COUNT + len(final["submitted_twice"]) and final["batches"] > 3
    assert len(read_exchanges(out / "exchanges.jsonl")) == COUNT


def test_ctrl_c_keeping_the_batches_collects_them_on_rerun(tmp_path: Path, wire_process_factory) -> None:
    server = wire_process_factory(Faults(batch_progress_s=3))
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    process = start(out, prompts, server.base_url, "anthropic", "--on-interrupt", "keep")
    wait_for(server, process, "poll", 3)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert "cancel" not in server.stats()["batch"]["events"]
    # a synchronous rerun refuses: the open batches would otherwise be paid twice
    sync = subprocess.run(
        harvest_cli(
            str(out),
            "--teacher",
            server.base_url,
            "--api",
            "anthropic",
            "--model",
            MODELS["anthropic"],
            "--prompts",
            str(prompts),
            "--max-new-tokens",
            str(MAX_NEW),
            "--no-progress",
        ),
        cwd=REPO,
        env=child_env(ANTHROPIC_API_KEY="k"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sync.returncode == 2 and "--batch" in sync.stderr and server.stats()["requests"] == 0
    finisher = start(out, prompts, server.base_url, "anthropic")
    assert finisher.wait(timeout=120) == 0
    check_exactly_once(out, server)


def test_ctrl_c_on_a_terminal_asks_whether_to_cancel(tmp_path: Path, wire_process_factory) -> None:
    import os
    import pty

    server = wire_process_factory(Faults(batch_progress_s=6, batch_cancel_s=0.1))
    prompts = write_prompts(tmp_path / "prompts.jsonl", COUNT)
    out = tmp_path / "out"
    command = batch_command(out, prompts, server.base_url, "openai")
    main, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=child_env(),
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(server, process, "poll", 3)
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        os.write(main, b"y\n")  # "Cancel the 3 running batch(es) at the provider? [y/N]"
        assert process.wait(timeout=60) == 130
    finally:
        os.close(main)
        os.close(terminal)
    assert server.stats()["batch"]["events"].get("cancel") == 3
