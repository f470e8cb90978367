"""Fixtures for harvest tests: the wire server (in a thread or as a subprocess) and small helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from distillscope.testing.wire_server import Faults, WireServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def wire() -> Iterator[WireServer]:
    """A fault-free wire server in a thread; tests change faults with ``set_faults``."""
    with WireServer(Faults()) as server:
        yield server


class WireProcess:
    """The wire server as a subprocess, so a harvester can be SIGKILLed while it keeps counting."""

    def __init__(self, faults: Faults) -> None:
        import dataclasses

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distillscope.testing.wire_server",
                "--port",
                "0",
                "--faults",
                json.dumps(dataclasses.asdict(faults)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"wire server did not start: {line!r}")
        self.base_url = line.split()[1]

    def stats(self) -> dict:
        import httpx

        return httpx.get(self.base_url.removesuffix("/v1") + "/_stats", timeout=10).json()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def wire_process_factory() -> Iterator:
    started: list[WireProcess] = []

    def start(faults: Faults) -> WireProcess:
        process = WireProcess(faults)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
