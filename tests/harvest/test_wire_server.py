"""The wire server speaks OpenAI's format (checked with the official client) and injects its faults."""

from __future__ import annotations

import httpx
import openai
import pytest

from distillscope.testing.wire_server import Faults, WireServer, body_key


def test_answers_parse_with_the_official_client(wire: WireServer) -> None:
    client = openai.OpenAI(base_url=wire.base_url, api_key="x", max_retries=0)
    answer = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello there"}], logprobs=True, top_logprobs=3
    )
    again = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello there"}], logprobs=True, top_logprobs=3
    )
    assert answer.choices[0].message.content == again.choices[0].message.content  # deterministic
    assert answer.system_fingerprint
    content = answer.choices[0].logprobs.content
    assert len(content) == answer.usage.completion_tokens
    assert all(len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token for t in content)
    assert wire.stats()["paid"] == 2


def test_max_tokens_cuts_with_finish_reason_length(wire: WireServer) -> None:
    client = openai.OpenAI(base_url=wire.base_url, api_key="x", max_retries=0)
    answer = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], max_tokens=2
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 2


def test_streaming_with_usage(wire: WireServer) -> None:
    client = openai.OpenAI(base_url=wire.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "stream me"}])
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_injected_faults_in_schedule_order() -> None:
    faults = Faults(schedule=["429", "500", "503", "drop", "400", "ok"], retry_after_s=2.5)
    with WireServer(faults) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="m", messages=messages)
        assert limited.value.response.headers["retry-after"] == "2.5"
        assert limited.value.response.headers["retry-after-ms"] == "2500"
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=messages)
        with pytest.raises(openai.InternalServerError) as unavailable:
            client.chat.completions.create(model="m", messages=messages)
        assert unavailable.value.status_code == 503
        with pytest.raises(openai.APIConnectionError):  # the socket closed without a response
            client.chat.completions.create(model="m", messages=messages)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="m", messages=messages)
        client.chat.completions.create(model="m", messages=messages)
        stats = server.stats()
    assert stats["statuses"] == {"200": 1, "400": 1, "429": 1, "500": 1, "503": 1, "dropped": 1}
    assert stats["paid"] == 1 and stats["requests"] == 6


def test_server_enforces_its_rate_limit_with_headers() -> None:
    with WireServer(Faults(rpm=60, burst_seconds=2)) as server:  # a bucket of 2 requests, 1 a second
        statuses = []
        for i in range(4):
            response = httpx.post(
                server.base_url + "/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": f"q{i}"}], "max_tokens": 4},
            )
            statuses.append(response.status_code)
            assert response.headers["x-ratelimit-limit-requests"] == "60"
        assert statuses[:2] == [200, 200] and 429 in statuses[2:]
        assert float(response.headers["retry-after"]) >= 1


def test_idempotency_key_replays_without_paying(wire: WireServer) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "once"}]}
    first = httpx.post(wire.base_url + "/chat/completions", json=body, headers={"idempotency-key": "k1"})
    second = httpx.post(wire.base_url + "/chat/completions", json=body, headers={"idempotency-key": "k1"})
    assert first.json() == second.json() and second.headers["idempotent-replayed"] == "true"
    per_body = wire.stats()["per_body"][body_key(body)]
    assert per_body == {"received": 2, "paid": 1}


def test_reject_marker_and_api_key() -> None:
    with WireServer(Faults(api_key="sk-right")) as server:
        wrong = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        right = openai.OpenAI(base_url=server.base_url, api_key="sk-right", max_retries=0)
        with pytest.raises(openai.BadRequestError):
            right.chat.completions.create(model="m", messages=[{"role": "user", "content": "#REJECT# me"}])


def test_subprocess_mode_counts_over_http(wire_process_factory) -> None:
    process = wire_process_factory(Faults(latency_s=0.01))
    client = openai.OpenAI(base_url=process.base_url, api_key="x", max_retries=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    stats = process.stats()
    assert stats["paid"] == 1 and stats["statuses"] == {"200": 1}


def test_garbage_is_a_cut_200(wire: WireServer) -> None:
    wire.set_faults(Faults(schedule=["garbage"]))
    response = httpx.post(wire.base_url + "/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 200 and response.text.startswith('{"id"')
    with pytest.raises(ValueError):
        response.json()
    assert wire.stats()["statuses"] == {"garbage": 1} and wire.stats()["paid"] == 0


def test_streamed_logprobs_and_legacy_completions(wire: WireServer) -> None:
    client = openai.OpenAI(base_url=wire.base_url, api_key="x", max_retries=0)
    messages = [{"role": "user", "content": "tokens please"}]
    plain = client.chat.completions.create(model="m", messages=messages, logprobs=True, top_logprobs=2)
    stream = client.chat.completions.create(
        model="m", messages=messages, logprobs=True, top_logprobs=2, stream=True
    )
    chunks = list(stream)
    streamed = [c.choices[0].logprobs.content[0] for c in chunks if c.choices and c.choices[0].logprobs]
    assert [t.token for t in streamed] == [t.token for t in plain.choices[0].logprobs.content]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    legacy = client.completions.create(model="m", prompt="tokens please", logprobs=2, max_tokens=5)
    assert legacy.choices[0].logprobs.tokens and len(legacy.choices[0].logprobs.top_logprobs[0]) == 2
    pieces = list(client.completions.create(model="m", prompt="tokens please", max_tokens=5, stream=True))
    assert "".join(p.choices[0].text for p in pieces if p.choices) == legacy.choices[0].text
