"""The official openai SDK through the gateway under its limits, as its users run it (issue 19).

A crowd of concurrent requests at a low RPM must finish 100% with the SDK's own
retry handling (it follows ``retry-after-ms``), and every request the SDK sent,
retries included, must be one row of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import openai

from distillscope.guard.gateway import GuardGateway
from distillscope.guard.logstore import open_log_store
from distillscope.testing.wire_server import WireServer

from .stack import guard_gateway, relay

MODEL = "wire-model"


@contextlib.contextmanager
def _gateway(db_url: str, rpm: int) -> Iterator[tuple[str, str, GuardGateway]]:
    gateway, keys = guard_gateway(db_url, {"limits": {"rpm": rpm}})
    key, _ = keys.create_key("sdk-user")
    with WireServer(model=MODEL) as wire, relay(gateway, wire.base_url, MODEL) as base_url:
        yield base_url, key, gateway


def test_async_sdk_crowd_finishes_under_the_limit_and_every_request_is_logged(sqlite_url: str) -> None:
    prompts = [f"Question {i}: what is {i} + {i}?" for i in range(24)]
    sent: list[str] = []

    async def count(request: httpx.Request) -> None:
        sent.append(request.url.path)

    with _gateway(sqlite_url, rpm=20) as (base_url, key, _):  # a burst of 20, then a slot every 3 s

        async def crowd() -> list[str]:
            http = httpx.AsyncClient(event_hooks={"request": [count]}, timeout=60)
            client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=8, http_client=http)
            limit = asyncio.Semaphore(16)

            async def one(prompt: str) -> str:
                async with limit:
                    answer = await client.chat.completions.create(
                        model=MODEL,
                        messages=[{"role": "user", "content": prompt}],
                        max_tokens=8,
                        logprobs=True,
                    )
                    return answer.choices[0].message.content or ""

            try:
                return list(await asyncio.gather(*[one(p) for p in prompts]))
            finally:
                await http.aclose()

        answers = asyncio.run(crowd())
    assert len(answers) == len(prompts) and all(answers)  # 100% finished
    rows = list(open_log_store(sqlite_url).iter_exchanges())
    assert len(rows) == len(sent)  # every request sent, retries included, is one row
    statuses = sorted(r.status for r in rows)
    assert statuses.count(200) == len(prompts)
    assert all(s in (200, 429) for s in statuses)
    assert statuses.count(429) >= 1  # the limit was met, and the SDK's retries got through it


def test_sync_sdk_without_limits_streams_and_logprobs_intact(sqlite_url: str) -> None:
    with _gateway(sqlite_url, rpm=0) as (base_url, key, _):
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=2)
        for i in range(6):
            stream = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"Tell me about {i}."}],
                max_tokens=8,
                stream=True,
                logprobs=True,
                top_logprobs=3,
            )
            chunks = list(stream)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            tokens = [
                t
                for c in chunks
                if c.choices and c.choices[0].logprobs
                for t in c.choices[0].logprobs.content
            ]
            assert text and tokens and all(len(t.top_logprobs) == 3 for t in tokens)
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        assert raw.headers["x-request-id"] and raw.parse().choices[0].message.content
    rows = list(open_log_store(sqlite_url).iter_exchanges())
    assert len(rows) == 7 and all(r.status == 200 for r in rows)
    assert any(r.extra.get("logprobs_stripped") for r in rows) is False
