"""Tool loops explain an agent's reach; a dummy tools list or pasted tool results do not.

A lone agent deployment (the flagged ones of the randomised simulator's held-out and
development logs) answers at ~230 tokens for ~70 prompt tokens, round the clock, in
sessions of hundreds of requests: long contexts for short answers do not explain its
reach, and its automation flagged it. What it does that a harvester cannot copy without
spoiling its own data is call tools: most of its answers are tool calls, and its next
requests send the results back.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from distillscope import textsig
from distillscope.detect import run_detection
from distillscope.detect.engines import duckdb_engine

from .helpers import T0, WORDS, agent_rows, ex, write_log


def _humans(k: int, per: int, rng: random.Random) -> list[dict[str, Any]]:
    """People: daytime requests over a week, questions of ~60 tokens answered at length."""
    rows = []
    for u in range(k):
        for i in range(per):
            day, hour = divmod(i, 6)
            ts = T0 + (day % 7) * 86400 + (9 + 2 * hour) * 3600 + rng.uniform(0, 3000)
            text = " ".join(rng.choice(WORDS) for _ in range(40)) + f" question {u}-{i}?"
            rows.append(
                ex(i, f"human{u}", ts, text, completion_tokens=rng.randint(150, 600), ip=f"81.{u}.2.3")
            )
    return rows


def _detect(tmp_path: Path, kind: str) -> dict[str, Any]:
    rng = random.Random(7)
    log = write_log(tmp_path / f"{kind}.jsonl", agent_rows(kind, rng) + _humans(60, 30, rng))
    result = run_detection(log, tmp_path / kind)
    return next(a for a in result.accounts if a["account"] == f"{kind}-agent")


def test_an_agent_running_tool_loops_is_not_flagged(tmp_path: Path) -> None:
    agent = _detect(tmp_path, "loop")
    assert not agent["flagged"], agent["reasons"]
    assert any(r.startswith("explained by tool loops") for r in agent["reasons"]), agent["reasons"]
    assert any("75% of its answers are tool calls" in r for r in agent["reasons"]), agent["reasons"]


@pytest.mark.parametrize("kind", ["dummy", "pasted"])
def test_a_harvester_faking_tool_use_stays_flagged(tmp_path: Path, kind: str) -> None:
    # the same traffic with text answers: a declared tools list, or a tool result pasted into every prompt
    harvester = _detect(tmp_path, kind)
    assert harvester["flagged"], harvester["reasons"]
    assert not any("tool loops" in r and r.startswith("explained") for r in harvester["reasons"])


def test_tool_steps_are_counted_per_account(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = agent_rows("loop", rng, 40) + agent_rows("dummy", rng, 40) + agent_rows("pasted", rng, 40)
    tables = duckdb_engine.extract(write_log(tmp_path / "log.jsonl", rows))
    acc = tables["accounts"].set_index("account")
    assert acc.loc["loop-agent", ["n_tool_steps", "n_tool_calls"]].tolist() == [40, 30]
    assert acc.loc["dummy-agent", ["n_tool_steps", "n_tool_calls"]].tolist() == [0, 0]
    assert acc.loc["pasted-agent", ["n_tool_steps", "n_tool_calls"]].tolist() == [40, 0]
    expected = {
        a: sum(textsig.tool_step(r["messages"], r.get("finish_reason")) for r in rows if r["account"] == a)
        for a in acc.index
    }
    assert acc["n_tool_steps"].to_dict() == expected
