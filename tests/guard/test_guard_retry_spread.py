"""Rate-limit headers a crowd of clients can follow (issue 19, items 2 and 3).

``retry-after-ms`` used to be the wait for one free slot, the same for every refused
request, so all waiters retried on the same tick and were refused again. Now each
refusal is advised a point spread over the slots the account's waiters need.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx

from distillscope.testing.wire_server import WireServer

from .stack import guard_gateway, relay

MODEL = "wire-model"
CHAT = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


@contextlib.contextmanager
def _serving(db_url: str, rpm: int) -> Iterator[tuple[str, str]]:
    gateway, keys = guard_gateway(db_url, {"limits": {"rpm": rpm}, "risk": {"throttle": None, "block": None}})
    key, _ = keys.create_key("crowd")
    with WireServer(model=MODEL) as wire, relay(gateway, wire.base_url, MODEL) as base_url:
        yield base_url, key


def test_retry_advice_is_spread_over_the_waiters(sqlite_url: str) -> None:
    with _serving(sqlite_url, rpm=2) as (base_url, key):  # a slot every 30 s

        async def crowd() -> list[httpx.Response]:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
                return list(
                    await asyncio.gather(*[client.post("/chat/completions", json=CHAT) for _ in range(12)])
                )

        answers = asyncio.run(crowd())
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 10 and sum(a.status_code == 200 for a in answers) == 2
    advice = sorted(int(a.headers["retry-after-ms"]) for a in refused)
    assert all(a.headers["x-ratelimit-limit-requests"] == "2" for a in refused)
    assert len(set(advice)) == 10  # not everyone on the same tick
    assert advice[-1] - advice[0] > 30_000  # spread over more than one slot
    assert all(int(a.headers["retry-after"]) * 1000 >= int(a.headers["retry-after-ms"]) for a in refused)


def test_upstream_rate_limit_headers_pass_on_unless_the_gateway_sets_its_own(sqlite_url: str) -> None:
    from distillscope.server.gateway import OpenGateway
    from distillscope.testing.wire_server import Faults

    with (
        WireServer(Faults(rpm=5000, tpm=900_000), model=MODEL) as wire,
        relay(OpenGateway(), wire.base_url, MODEL) as base_url,
    ):
        plain = httpx.post(base_url + "/chat/completions", json=CHAT, timeout=30)
        streamed = httpx.post(base_url + "/chat/completions", json={**CHAT, "stream": True}, timeout=30)
    assert plain.status_code == streamed.status_code == 200
    assert plain.headers["x-ratelimit-limit-requests"] == "5000"  # the upstream's, no local limits
    assert plain.headers["x-ratelimit-limit-tokens"] == "900000"
    assert streamed.headers["x-ratelimit-limit-requests"] == "5000"
    with _serving(sqlite_url, rpm=7) as (base_url, key):  # the gateway's own limit wins
        ours = httpx.post(
            base_url + "/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    assert ours.status_code == 200 and ours.headers["x-ratelimit-limit-requests"] == "7"
