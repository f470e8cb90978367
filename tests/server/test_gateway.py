"""The gateway seam: every admitted request recorded once (errors and streams too), policy honoured."""

from __future__ import annotations

import time

import openai
import pytest

from distillscope.records import Exchange
from distillscope.server.gateway import Admission

from .helpers import TINY, TinyServer


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the gateway record"
        time.sleep(0.02)


def _records_for(tiny_server: TinyServer, account: str) -> list[Exchange]:
    return [r for r in tiny_server.gateway.records if r.account == account]


def test_success_is_recorded_with_the_full_exchange(tiny_server: TinyServer) -> None:
    client = tiny_server.client(**{"x-account": "rec-ok"})
    response = client.chat.completions.create(
        model=TINY, messages=[{"role": "user", "content": "hello"}], max_tokens=3, temperature=0, seed=9
    )
    _wait_for(lambda: _records_for(tiny_server, "rec-ok"))
    (record,) = _records_for(tiny_server, "rec-ok")
    assert record.endpoint == "/v1/chat/completions" and record.status == 200
    assert record.key_id == "key-test" and record.ip == "127.0.0.1" and record.user_agent
    assert record.messages == [{"role": "user", "content": "hello"}]
    assert record.response_text == response.choices[0].message.content
    assert record.finish_reason == response.choices[0].finish_reason
    assert record.prompt_tokens == response.usage.prompt_tokens
    assert record.completion_tokens == response.usage.completion_tokens
    assert record.params == {"max_tokens": 3, "temperature": 0, "seed": 9}
    assert record.model == TINY and record.latency_ms > 0
    # The row's key is our own exchange id; the local answer's id carries it.
    assert response.id == "chatcmpl-" + record.id and "upstream_id" not in record.extra


def test_stream_is_recorded_after_it_ends_with_usage(tiny_server: TinyServer) -> None:
    client = tiny_server.client(**{"x-account": "rec-stream"})
    chunks = list(
        client.completions.create(
            model=TINY, prompt="Once upon a time", max_tokens=4, temperature=0, stream=True
        )
    )
    assert all(c.usage is None for c in chunks)  # usage was not asked for ...
    _wait_for(lambda: _records_for(tiny_server, "rec-stream"))
    (record,) = _records_for(tiny_server, "rec-stream")
    assert record.prompt == "Once upon a time" and record.endpoint == "/v1/completions"
    assert record.response_text == "".join(c.choices[0].text for c in chunks if c.choices)
    assert record.completion_tokens == 4  # ... yet the log has it


def test_errors_are_recorded_too(tiny_server: TinyServer) -> None:
    client = tiny_server.client(**{"x-account": "rec-err"})
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": "x"}], n=0)
    _wait_for(lambda: _records_for(tiny_server, "rec-err"))
    (record,) = _records_for(tiny_server, "rec-err")
    assert record.status == 400 and record.extra["error"]


def test_strip_logprobs_policy(tiny_server: TinyServer) -> None:
    client = tiny_server.client(**{"x-account": "rec-strip", "x-strip-logprobs": "1"})
    response = client.chat.completions.create(
        model=TINY, messages=[{"role": "user", "content": "x"}], max_tokens=2, logprobs=True, top_logprobs=5
    )
    assert response.choices[0].logprobs is None
    legacy = client.completions.create(model=TINY, prompt="x", max_tokens=2, logprobs=5, echo=True)
    assert legacy.choices[0].logprobs is None and legacy.choices[0].text.startswith("x")
    _wait_for(lambda: len(_records_for(tiny_server, "rec-strip")) == 2)
    assert all(r.extra.get("logprobs_stripped") for r in _records_for(tiny_server, "rec-strip"))


def test_open_gateway_appends_jsonl(tmp_path, tiny_model_dir) -> None:
    from distillscope.records import read_exchanges
    from distillscope.serving import ServeSettings, serve

    log = tmp_path / "exchanges.jsonl"
    settings = ServeSettings(
        model=str(tiny_model_dir), served_model_name="t", log_jsonl=str(log), threads=1, port=0
    )
    with serve(settings) as url:  # open mode's gateway: OpenGateway(log_path=log)
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        client.chat.completions.create(model="t", messages=[{"role": "user", "content": "a"}], max_tokens=2)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="other", messages=[{"role": "user", "content": "a"}])
    records = read_exchanges(log)  # the server drained its records before exiting
    assert [r.status for r in records] == [200, 404]
    assert all(r.account == "local" for r in records)


def test_admission_validates_account() -> None:
    with pytest.raises(ValueError):
        Admission(account="")


def test_a_client_that_hangs_up_cancels_its_rows_and_is_recorded(tiny_server: TinyServer) -> None:
    import httpx

    from distillscope.server.backends.engine import wait_idle

    body = {
        "model": TINY,
        "messages": [{"role": "user", "content": "talk for a long time"}],
        "max_tokens": 1500,
        "logit_bias": {str(t): -100 for t in tiny_server.backend.engine.eos_token_ids},
    }
    tokens_before = tiny_server.backend.engine.stats["tokens"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            tiny_server.base_url + "/chat/completions",
            json=body,
            headers={"x-account": "rec-gone"},
            timeout=httpx.Timeout(60, read=0.5),
        )
    _wait_for(lambda: _records_for(tiny_server, "rec-gone"), timeout=60)
    (record,) = _records_for(tiny_server, "rec-gone")
    assert record.status == 499 and record.completion_tokens is None
    assert wait_idle(tiny_server.backend.engine, timeout=60)
    assert tiny_server.backend.engine.stats["tokens"] - tokens_before < 1500  # stopped early, not run out
