"""Plain helpers shared by the harvest tests (importable: the tests folder has no package)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def harvest_cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """The command line of ``distillscope harvest`` in a fresh interpreter."""
    return [sys.executable, "-m", "distillscope", "harvest", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    env.update(extra)
    return env


def write_prompts(path: Path, count: int, prefix: str = "prompt") -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(json.dumps({"prompt": f"{prefix} number {i}: say something", "id": i}) + "\n")
    return path


def set_process_faults(base_url: str, faults) -> None:
    """Change a wire server process's faults (its batches, files and counters stay)."""
    import dataclasses

    import httpx

    url = base_url.removesuffix("/v1") + "/_faults"
    httpx.post(url, json=dataclasses.asdict(faults), timeout=10).raise_for_status()
