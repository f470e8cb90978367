"""``Idempotency-Key`` through the guard: a repeat replays the answer, is not generated or billed again.

The upstream is the wire-format test server, which counts what it would bill ("paid")
per request body; the log is read back from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from distillscope.guard.logstore import open_log_store
from distillscope.records import Exchange
from distillscope.testing.wire_server import Faults, WireServer

from .stack import NO_RISK_ACTIONS, guard_gateway, relay

MODEL = "wire-model"
CHAT = {"model": MODEL, "max_tokens": 6, "messages": [{"role": "user", "content": "tell me a fact"}]}


@pytest.fixture
def wire() -> Iterator[WireServer]:
    with WireServer(Faults(latency_s=0.05), model=MODEL) as server:
        yield server


@contextlib.contextmanager
def _serving(db_url: str, wire: WireServer) -> Iterator[tuple[str, str, str]]:
    gateway, keys = guard_gateway(db_url, NO_RISK_ACTIONS)
    alice, _ = keys.create_key("alice")
    bob, _ = keys.create_key("bob")
    with relay(gateway, wire.base_url, MODEL) as base_url:
        yield base_url, alice, bob


def _post(base_url: str, key: str, idem: str | None, body: dict[str, Any] = CHAT) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return httpx.post(base_url + "/chat/completions", json=body, headers=headers, timeout=30)


def _logged(db_url: str) -> list[Exchange]:
    store = open_log_store(db_url)
    try:
        return list(store.iter_exchanges())
    finally:
        store.close()


def test_a_repeated_key_replays_without_generating_or_billing(sqlite_url: str, wire: WireServer) -> None:
    with _serving(sqlite_url, wire) as (base_url, alice, bob):
        first = _post(base_url, alice, "harvest-item-1")
        again = _post(base_url, alice, "harvest-item-1")
        assert first.status_code == again.status_code == 200
        assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert wire.stats()["paid"] == 1  # the upstream answered (and billed) once
        other = _post(base_url, bob, "harvest-item-1")  # keys are per account
        assert other.status_code == 200 and "idempotent-replayed" not in other.headers
        reused = _post(base_url, alice, "harvest-item-1", {**CHAT, "max_tokens": 7})
        assert reused.status_code == 400 and reused.json()["error"]["code"] == "idempotency_key_reused"
        assert wire.stats()["paid"] == 2
    rows = _logged(sqlite_url)
    assert len(rows) == 4  # every request is a row; the replay says so and bills nothing
    original, replay, bobs, refused = rows
    assert replay.extra["idempotent_replay_of"] == original.id and replay.id != original.id
    assert replay.prompt_tokens == 0 and replay.completion_tokens == 0
    assert original.completion_tokens and replay.response_text == original.response_text
    assert "idempotent_replay_of" not in bobs.extra and refused.status == 400


def test_concurrent_repeats_generate_once_and_streams_replay(sqlite_url: str, wire: WireServer) -> None:
    with _serving(sqlite_url, wire) as (base_url, alice, _):
        client = openai.AsyncOpenAI(base_url=base_url, api_key=alice, max_retries=0)

        async def ask() -> Any:
            return await client.chat.completions.create(
                **CHAT, extra_headers={"Idempotency-Key": "same-time"}
            )

        async def both() -> list[Any]:
            return list(await asyncio.gather(*[ask() for _ in range(4)]))

        answers = asyncio.run(both())
        assert len({a.choices[0].message.content for a in answers}) == 1
        assert wire.stats()["paid"] == 1
        sync = openai.OpenAI(base_url=base_url, api_key=alice, max_retries=0)
        streamed = [
            "".join(
                c.choices[0].delta.content or ""
                for c in sync.chat.completions.create(
                    **{**CHAT, "max_tokens": 5}, stream=True, extra_headers={"Idempotency-Key": "stream-1"}
                )
                if c.choices
            )
            for _ in range(2)
        ]
        assert streamed[0] == streamed[1] and streamed[0]
        assert wire.stats()["paid"] == 2


def test_a_failed_first_attempt_releases_the_key(sqlite_url: str, wire: WireServer) -> None:
    wire.set_faults(Faults(schedule=["500"]))
    with _serving(sqlite_url, wire) as (base_url, alice, _):
        assert _post(base_url, alice, "retry-me").status_code == 502
        retried = _post(base_url, alice, "retry-me")
        assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
        assert _post(base_url, alice, "retry-me").headers["idempotent-replayed"] == "true"
        assert wire.stats()["paid"] == 1
        assert _post(base_url, alice, "x" * 300).status_code == 400  # a key longer than 255
