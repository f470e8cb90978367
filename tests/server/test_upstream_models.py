"""A gateway relays every model its upstream lists (issue 19, item 1), through ``serving.serve``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi import FastAPI, Request

from distillscope.server.runner import serve_in_thread
from distillscope.serving import ServeSettings, serve

MODELS = ["mock-gpt", "gpt-4o-mini"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[str]]]:
    """An OpenAI-compatible upstream serving two models; it remembers which model each request named."""
    asked: list[str] = []
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "x"} for m in MODELS]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        asked.append(body["model"])
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"I am {body['model']}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        }

    with serve_in_thread(app) as base_url:
        yield base_url, asked


def test_every_upstream_model_is_relayed(upstream: tuple[str, list[str]]) -> None:
    url, asked = upstream
    with serve(ServeSettings(upstream=url, port=0)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
        assert [m.id for m in client.models.list()] == MODELS
        assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
        for model in MODELS:
            answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            assert answer.model == model and answer.choices[0].message.content == f"I am {model}"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert asked == MODELS  # each went upstream under its own id


def test_one_named_model_is_the_only_one_served(upstream: tuple[str, list[str]]) -> None:
    url, asked = upstream
    asked.clear()
    settings = ServeSettings(upstream=url, model="gpt-4o-mini", served_model_name="ours", port=0)
    with serve(settings) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
        assert [m.id for m in client.models.list()] == ["ours"]
        answer = client.chat.completions.create(model="ours", messages=[{"role": "user", "content": "hi"}])
        assert answer.model == "ours"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "hi"}])
    assert asked == ["gpt-4o-mini"]
