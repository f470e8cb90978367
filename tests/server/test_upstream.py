"""The upstream backend: a second server relaying to the tiny server (streaming too), errors mapped."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import openai
import pytest

from distillscope.server.backends.upstream import UpstreamBackend, discover_model
from distillscope.server.runner import serve_in_thread
from distillscope.serving import ServeSettings, serve

from .helpers import TINY, TinyServer

FRONT = "front-model"


def relay(upstream: str, model: str, served_as: str | None = None) -> ServeSettings:
    """The standard relay stack: open mode in front of ``upstream``, its key from $UPSTREAM_TEST_KEY."""
    return ServeSettings(
        upstream=upstream,
        model=model,
        served_model_name=served_as,
        upstream_key_env="UPSTREAM_TEST_KEY",
        port=0,
    )


@pytest.fixture(scope="module")
def front(tiny_server: TinyServer) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("UPSTREAM_TEST_KEY", "sk-upstream-secret")
        with serve(relay(tiny_server.base_url, TINY, FRONT)) as base_url:
            yield base_url


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)


def test_relay_gives_the_upstream_answer_under_our_name(front: str, tiny_server: TinyServer) -> None:
    kwargs = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0,
        "logprobs": True,
    }
    direct = tiny_server.client().chat.completions.create(model=TINY, **kwargs)
    relayed = _client(front).chat.completions.create(model=FRONT, **kwargs)
    assert relayed.model == FRONT
    assert relayed.choices[0].message.content == direct.choices[0].message.content
    assert relayed.usage == direct.usage
    assert [e.logprob for e in relayed.choices[0].logprobs.content] == pytest.approx(
        [e.logprob for e in direct.choices[0].logprobs.content]
    )
    assert [m.id for m in _client(front).models.list()] == [FRONT]


def test_relay_streams_chunk_by_chunk(front: str, tiny_server: TinyServer) -> None:
    kwargs = {"prompt": "Once upon", "max_tokens": 6, "temperature": 0}
    direct = tiny_server.client().completions.create(model=TINY, **kwargs)
    chunks = list(
        _client(front).completions.create(
            model=FRONT, stream=True, stream_options={"include_usage": True}, **kwargs
        )
    )
    assert len(chunks) > 3 and all(c.model == FRONT for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == direct.choices[0].text
    assert chunks[-1].usage.completion_tokens == direct.usage.completion_tokens


def test_upstream_errors_are_mapped(front: str, tiny_server: TinyServer) -> None:
    client = _client(front)
    limit = tiny_server.backend.context_length
    with pytest.raises(openai.BadRequestError) as caught:  # the upstream's 400, passed on
        client.chat.completions.create(
            model=FRONT, messages=[{"role": "user", "content": "x"}], max_tokens=limit
        )
    assert caught.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):  # our own model check comes first
        client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": "x"}])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_upstream_is_502_not_500() -> None:
    with serve(relay(f"http://127.0.0.1:{_closed_port()}/v1", "m")) as base_url:
        client = _client(base_url)
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "x"}], stream=stream
                )
            assert caught.value.status_code == 502
            assert caught.value.code == "upstream_unreachable"


def test_discover_model_and_key_is_sent_only_upstream(tiny_server: TinyServer) -> None:
    import asyncio

    assert asyncio.run(discover_model(tiny_server.base_url)) == TINY
    backend = UpstreamBackend("http://127.0.0.1:1/v1", upstream_model="m", api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(backend)
    assert "sk-secret-value" not in str(backend.health())


def test_upstream_auth_failure_is_a_gateway_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    fake = FastAPI()

    @fake.post("/v1/chat/completions")
    async def refuse() -> JSONResponse:
        error = {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}
        return JSONResponse({"error": error}, status_code=401)

    @fake.post("/v1/completions")
    async def limited() -> JSONResponse:
        error = {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}
        return JSONResponse({"error": error}, status_code=429, headers={"retry-after": "7"})

    monkeypatch.setenv("UPSTREAM_TEST_KEY", "wrong")
    with serve_in_thread(fake) as upstream_url, serve(relay(upstream_url, "m")) as base_url:
        response = httpx.post(
            base_url + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_auth_failed"
        response = httpx.post(base_url + "/completions", json={"model": "m", "prompt": "x"})
        assert response.status_code == 429 and response.headers["retry-after"] == "7"
