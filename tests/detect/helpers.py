"""Helpers for detect tests: hand-built exchange logs, and accounts in clusters of a topic space."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

T0 = 1_772_409_600.0  # 2026-03-02 00:00 UTC


def write_log(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one per line."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def ex(i: int, account: str, ts: float, prompt: str, **extra: Any) -> dict[str, Any]:
    row = {
        "id": f"{account}-{i:06d}",
        "ts": ts,
        "account": account,
        "messages": [{"role": "user", "content": prompt}],
    }
    row.update(extra)
    return row


WORDS = [
    "river",
    "market",
    "proof",
    "garden",
    "engine",
    "ticket",
    "invoice",
    "budget",
    "poem",
    "orbit",
    "cell",
    "protein",
    "chess",
    "salad",
    "contract",
    "lease",
    "voltage",
    "kernel",
    "spring",
    "harbor",
    "glacier",
    "pixel",
    "ledger",
    "thesis",
    "novel",
    "tariff",
    "vaccine",
]
TOOLS = ["search", "fetch_page", "calendar", "sql_query"]
SYSTEM = "You are an autonomous agent. Tools: search, fetch_page, calendar, sql_query. Answer in JSON."
DEFINITIONS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}} for name in TOOLS
]


def agent_rows(kind: str, rng: random.Random, n: int = 2000) -> list[dict[str, Any]]:
    """One deployment's requests every 5 minutes, round the clock; ``kind`` says how it uses tools.

    ``loop``: episodes of four steps, three answers tool calls, three requests returning a result;
    ``dummy``: a tools list declared, text answers, no results; ``pasted``: a tool result pasted into
    every request, text answers.
    """
    rows = []
    for i in range(n):
        tool = TOOLS[i % len(TOOLS)]
        observation = (
            f'Observation from {tool}: {{"status": "ok", "items": {rng.randint(0, 40)}, "query": '
            f'"{rng.choice(WORDS)} {rng.choice(WORDS)}"}}\nDecide the next action.'
        )
        step = i % 4
        history: list[dict[str, Any]] = []
        if (kind == "loop" and step > 0) or kind == "pasted":
            call = {"id": f"call_{i}", "type": "function", "function": {"name": tool, "arguments": "{}"}}
            history = [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": f"call_{i}", "content": '{"ok": true}'},
            ]
        row = ex(i, f"{kind}-agent", T0 + i * 300.0, observation, completion_tokens=rng.randint(150, 310))
        row["messages"] = [{"role": "system", "content": SYSTEM}, *history, row["messages"][0]]
        row["params"] = {"temperature": 0.0, "tools": DEFINITIONS}
        row["finish_reason"] = "tool_calls" if kind == "loop" and step < 3 else "stop"
        row["ip"] = "34.1.2.3"
        rows.append(row)
    return rows


#: Parameters of one account in a topic scene: answer_len, mean_max_tokens, cot_rate (drawn in that order).
Playbook = Callable[[int, int, np.random.Generator], dict[str, float]]


def topic_scene(
    topics: int, per_topic: int, playbook: Playbook, seed: int = 3
) -> tuple[list[str], Any, pd.DataFrame]:
    """``topics`` clusters of ``per_topic`` accounts (``t00-00`` ...) in a 32-dimensional prompt space; each
    account's parameters come from ``playbook(topic, index, rng)``. Returns the names, their
    ``coordination.PromptSpace`` and the signal frame the group tests read."""
    from distillscope.detect import coordination as coord

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, 32))
    names, vectors, rows = [], [], []
    for t in range(topics):
        for i in range(per_topic):
            a = f"t{t:02d}-{i:02d}"
            names.append(a)
            vectors.append(centres[t] + rng.normal(scale=0.6, size=32))
            row: dict[str, Any] = {"account": a, "n": float(rng.integers(20, 300)), "p_reach": 0.3}
            row.update({"shared_prompts": 1.0, "distinct_prompts": 50.0})
            row.update(playbook(t, i, rng))
            rows.append({**row, "lp_rate": 0.0})
    space = coord.PromptSpace.build(names, {}, dict(zip(names, vectors, strict=True)))
    return names, space, pd.DataFrame(rows)
