"""Bad input gets OpenAI-shaped 4xx errors, never a 500, and the server keeps serving."""

from __future__ import annotations

import json
import shutil

import httpx
import openai
import pytest

from .helpers import TINY, TinyServer

MSG = [{"role": "user", "content": "hi"}]


def _chat(**overrides) -> dict:
    return {"model": TINY, "messages": MSG, "max_tokens": 2, **overrides}


BAD_CHAT = {
    "wrong type temperature": (_chat(temperature="hot"), 400, "temperature"),
    "wrong type messages": (_chat(messages="hello"), 400, "messages"),
    "wrong type n": (_chat(n="two"), 400, "n"),
    "missing messages": ({"model": TINY}, 400, "messages"),
    "empty messages": (_chat(messages=[]), 400, "messages"),
    "bad role": (_chat(messages=[{"role": "wizard", "content": "x"}]), 400, "messages.0.role"),
    "missing model": ({"messages": MSG}, 400, "model"),
    "top_logprobs 21": (_chat(logprobs=True, top_logprobs=21), 400, "top_logprobs"),
    "top_logprobs without logprobs": (_chat(top_logprobs=3), 400, None),
    "logit_bias above 100": (_chat(logit_bias={"5": 101}), 400, "logit_bias"),
    "logit_bias below -100": (_chat(logit_bias={"5": -100.5}), 400, "logit_bias"),
    "logit_bias key not an id": (_chat(logit_bias={"abc": 1}), 400, "logit_bias"),
    "logit_bias id outside vocab": (_chat(logit_bias={"99999999": 1}), 400, "logit_bias"),
    "n=0": (_chat(n=0), 400, "n"),
    "temperature above 2": (_chat(temperature=2.5), 400, "temperature"),
    "top_p above 1": (_chat(top_p=1.5), 400, "top_p"),
    "max_tokens 0 on chat": (_chat(max_tokens=0), 400, "max_tokens"),
    "max_tokens negative": (_chat(max_tokens=-1), 400, "max_tokens"),
    "too many stops": (_chat(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    "unknown field": (_chat(frobnicate=True), 400, "frobnicate"),
    "stream_options without stream": (_chat(stream_options={"include_usage": True}), 400, None),
    "unsupported penalty": (_chat(presence_penalty=1.0), 400, "presence_penalty"),
    "image content": (
        _chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        400,
        "messages.0.content",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CHAT), ids=list(BAD_CHAT))
def test_bad_chat_bodies_are_400(tiny_server: TinyServer, case: str) -> None:
    body, status, param = BAD_CHAT[case]
    response = httpx.post(tiny_server.base_url + "/chat/completions", json=body, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    if param is not None:
        assert error["param"] == param


BAD_COMPLETIONS = {
    "prompt wrong type": ({"model": TINY, "prompt": {"a": 1}}, "prompt"),
    "prompt ids outside vocab": ({"model": TINY, "prompt": [1, 99999999]}, "prompt"),
    "empty prompt": ({"model": TINY, "prompt": ""}, "prompt"),
    "logprobs 21": ({"model": TINY, "prompt": "x", "logprobs": 21}, "logprobs"),
    "suffix": ({"model": TINY, "prompt": "x", "suffix": "y"}, None),
    "too many rows": ({"model": TINY, "prompt": ["x"] * 20, "n": 10}, "prompt"),
}


@pytest.mark.parametrize("case", list(BAD_COMPLETIONS), ids=list(BAD_COMPLETIONS))
def test_bad_completion_bodies_are_400(tiny_server: TinyServer, case: str) -> None:
    body, param = BAD_COMPLETIONS[case]
    response = httpx.post(tiny_server.base_url + "/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    if param is not None:
        assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_malformed_json_is_400(tiny_server: TinyServer, raw: bytes) -> None:
    response = httpx.post(
        tiny_server.base_url + "/chat/completions",
        content=raw,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_404_through_the_client(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=MSG)
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-nope", prompt="x")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")


def test_too_long_prompt_is_a_clear_400(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    limit = tiny_server.backend.context_length
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": "word " * limit}])
    assert caught.value.code == "context_length_exceeded"
    assert f"maximum context length is {limit} tokens" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=TINY, messages=MSG, max_tokens=limit)
    assert caught.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=TINY, prompt="word " * limit, max_tokens=0, echo=True, logprobs=1)


def test_unknown_route_and_method_are_openai_shaped(tiny_server: TinyServer) -> None:
    missing = httpx.get(tiny_server.base_url + "/embeddings")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = httpx.get(tiny_server.base_url + "/chat/completions")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_gateway_rejection_passes_through(tiny_server: TinyServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        tiny_server.client(**{"x-account": "blocked"}).chat.completions.create(model=TINY, messages=MSG)
    assert caught.value.code == "blocked"


def test_server_still_serves_after_bad_input(tiny_server: TinyServer) -> None:
    response = tiny_server.client().chat.completions.create(model=TINY, messages=MSG, max_tokens=2)
    assert response.usage.completion_tokens >= 1


def test_a_model_without_chat_template_says_so(tiny_model_dir, tmp_path) -> None:
    from distillscope.serving import ServeSettings, serve

    base = tmp_path / "base-model"
    shutil.copytree(tiny_model_dir, base)
    config = base / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data.pop("chat_template", None)
    config.write_text(json.dumps(data))
    (base / "chat_template.jinja").unlink(missing_ok=True)
    with serve(ServeSettings(model=str(base), threads=1, port=0)) as url:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="base-model", messages=MSG)
        assert caught.value.code == "no_chat_template"
        assert client.completions.create(
            model="base-model", prompt="hi", max_tokens=2
        ).usage.completion_tokens
