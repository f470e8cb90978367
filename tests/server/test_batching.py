"""Dynamic batching: concurrent requests share decode steps yet answer as if alone."""

from __future__ import annotations

import asyncio

import openai
import pytest

from .helpers import FORCED_TOKEN, TINY, TinyServer

PROMPTS = [
    "Hello!",
    "What is two plus two?",
    "Write one line about autumn leaves falling slowly.",
    "Name a color.",
    "Explain, in a few words, what a compiler does for a programmer.",
    "Yes or no?",
]


def _eos_ban(tiny_server: TinyServer) -> dict[str, int]:
    return {str(t): -100 for t in tiny_server.backend.engine.eos_token_ids}


async def _gather(tiny_server: TinyServer, requests: list[dict], headers: list[dict] | None = None) -> list:
    headers = headers or [{} for _ in requests]
    clients = [tiny_server.async_client(**h) for h in headers]
    try:
        return await asyncio.gather(
            *(client.chat.completions.create(**kw) for client, kw in zip(clients, requests, strict=True))
        )
    finally:
        for client in clients:
            await client.close()


def _request(prompt: str, **extra) -> dict:
    return {"model": TINY, "messages": [{"role": "user", "content": prompt}], "max_tokens": 10, **extra}


def test_concurrent_greedy_equals_sequential(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    bias = _eos_ban(tiny_server)
    # Different lengths: rows are left-padded and join the running batch at step boundaries.
    requests = [
        _request(p, temperature=0, logit_bias=bias, max_tokens=20 + 2 * i) for i, p in enumerate(PROMPTS)
    ]
    sequential = [client.chat.completions.create(**kw).choices[0].message.content for kw in requests]
    tiny_server.backend.engine.stats["max_rows"] = 0
    concurrent = asyncio.run(_gather(tiny_server, requests))
    assert [r.choices[0].message.content for r in concurrent] == sequential
    assert [r.usage.completion_tokens for r in concurrent] == [20 + 2 * i for i in range(len(PROMPTS))]
    assert tiny_server.backend.engine.stats["max_rows"] >= 2, "concurrent requests should share decode steps"


def test_seeded_sampling_is_the_same_alone_and_in_a_batch(tiny_server: TinyServer) -> None:
    bias = _eos_ban(tiny_server)
    seeded = _request(PROMPTS[2], temperature=1.0, top_p=0.9, seed=1234, logit_bias=bias)
    alone = tiny_server.client().chat.completions.create(**seeded).choices[0].message.content
    others = [_request(p, temperature=1.0, logit_bias=bias) for p in PROMPTS]
    results = asyncio.run(_gather(tiny_server, [*others[:3], seeded, *others[3:]]))
    assert results[3].choices[0].message.content == alone


def test_per_request_processors_touch_only_their_row(tiny_server: TinyServer, tiny_tokenizer) -> None:
    bias = _eos_ban(tiny_server)
    requests = [_request(p, temperature=0, logit_bias=bias, logprobs=True) for p in PROMPTS[:4]]
    plain = [tiny_server.client().chat.completions.create(**kw).choices[0].message.content for kw in requests]
    headers = [{"x-account": "watermarked"} if i == 1 else {} for i in range(len(requests))]
    results = asyncio.run(_gather(tiny_server, requests, headers))
    forced = tiny_tokenizer.decode([FORCED_TOKEN])
    assert [e.token for e in results[1].choices[0].logprobs.content] == [forced] * 10
    for i in (0, 2, 3):
        assert results[i].choices[0].message.content == plain[i]


def test_n_rows_with_a_processor_and_a_stream_at_once(tiny_server: TinyServer) -> None:
    async def run() -> tuple[list[str], str]:
        client = tiny_server.async_client(**{"x-account": "watermarked"})
        other = tiny_server.async_client()
        try:
            many = client.chat.completions.create(**_request("hi", n=3, temperature=1.0, seed=5))
            stream = await other.chat.completions.create(**_request("hi", temperature=0, stream=True))

            async def drain() -> str:
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

            response, text = await asyncio.gather(many, drain())
            return [c.message.content for c in response.choices], text
        finally:
            await client.close()
            await other.close()

    texts, streamed = asyncio.run(run())
    assert len(set(texts)) == 1  # the processor forces every row to the same token
    alone = tiny_server.client().chat.completions.create(**_request("hi", temperature=0))
    assert streamed == alone.choices[0].message.content


def test_a_failing_processor_fails_only_its_own_request(tiny_server: TinyServer) -> None:
    bias = _eos_ban(tiny_server)
    requests = [_request(p, temperature=0, logit_bias=bias) for p in PROMPTS[:3]]
    plain = [tiny_server.client().chat.completions.create(**kw).choices[0].message.content for kw in requests]

    async def run() -> list:
        clients = [tiny_server.async_client(**({"x-account": "broken"} if i == 1 else {})) for i in range(3)]
        try:
            return await asyncio.gather(
                *(c.chat.completions.create(**kw) for c, kw in zip(clients, requests, strict=True)),
                return_exceptions=True,
            )
        finally:
            for client in clients:
                await client.close()

    results = asyncio.run(run())
    assert isinstance(results[1], openai.InternalServerError)
    assert "processor exploded" in results[1].message
    assert [results[i].choices[0].message.content for i in (0, 2)] == [plain[0], plain[2]]
    stream = tiny_server.client(**{"x-account": "broken"}).chat.completions.create(**requests[0], stream=True)
    with pytest.raises(openai.APIError, match="processor exploded"):  # an SSE error event after the 200
        list(stream)


def test_generation_never_blocks_the_event_loop(tiny_server: TinyServer) -> None:
    import httpx

    stream = tiny_server.client().chat.completions.create(
        **_request("go on", temperature=0, max_tokens=400, logit_bias=_eos_ban(tiny_server)), stream=True
    )
    chunks = iter(stream)
    next(chunks)  # the role chunk
    next(chunks)  # the first token (sent from the prefill, before the row joins the batch)
    next(chunks)  # a token from a decode step: the row is in the running batch now
    assert tiny_server.backend.engine.running >= 1  # generation is under way ...
    for _ in range(3):  # ... and other routes still answer
        assert httpx.get(tiny_server.root + "/health", timeout=30).json()["running_rows"] >= 1
    rest = list(chunks)
    assert len(rest) > 10 and rest[-1].choices[0].finish_reason == "length"


def test_concurrent_echo_scoring_equals_sequential(tiny_server: TinyServer) -> None:
    texts = ["The capital of France is Paris.", "One two three four five six seven.", "Hi"]
    client = tiny_server.client()
    alone = [
        client.completions.create(model=TINY, prompt=t, max_tokens=0, echo=True, logprobs=2)
        .choices[0]
        .logprobs
        for t in texts
    ]

    async def run() -> list:
        clients = [tiny_server.async_client() for _ in texts]
        try:
            calls = [
                c.completions.create(model=TINY, prompt=t, max_tokens=0, echo=True, logprobs=2)
                for c, t in zip(clients, texts, strict=True)
            ]
            chat = clients[0].chat.completions.create(**_request("hello", temperature=0))
            return await asyncio.gather(*calls, chat)
        finally:
            for client in clients:
                await client.close()

    results = asyncio.run(run())
    for expected, got in zip(alone, results[:3], strict=True):
        assert got.choices[0].logprobs.tokens == expected.tokens
        assert got.choices[0].logprobs.token_logprobs[1:] == pytest.approx(
            expected.token_logprobs[1:], abs=1e-4
        )
