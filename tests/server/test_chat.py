"""/v1/chat/completions on the tiny model, through the official openai client."""

from __future__ import annotations

import httpx
import pytest

from .helpers import TINY, TinyServer, chat_ids, greedy_ids, next_logprobs

PROMPT = "Tell me about the sea."


def _eos(tiny_server: TinyServer) -> dict[str, int]:
    """Ban the end tokens so a random model runs to exactly max_tokens."""
    return {str(t): -100 for t in tiny_server.backend.engine.eos_token_ids}


def _greedy_to_the_end(tiny_server: TinyServer, max_tokens: int) -> dict:
    """A greedy chat request on PROMPT that runs to exactly ``max_tokens`` (end tokens banned)."""
    return {
        "model": TINY,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "logit_bias": _eos(tiny_server),
    }


def test_models_health_and_model_card(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    assert [m.id for m in client.models.list()] == [TINY]
    assert client.models.retrieve(TINY).id == TINY
    health = httpx.get(tiny_server.root + "/health").json()
    assert health["status"] == "ok" and health["model"] == TINY and health["backend"] == "local"
    assert httpx.get(tiny_server.root + "/gateway-ping").status_code == 200  # gateway router mounted


def test_greedy_chat_matches_plain_forward_and_counts_usage(tiny_server: TinyServer, tiny_tokenizer) -> None:
    ids = chat_ids(tiny_tokenizer, PROMPT)
    banned = tuple(tiny_server.backend.engine.eos_token_ids)
    expected = greedy_ids(tiny_server.backend.model, ids, 8, banned)
    response = tiny_server.client().chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=8,
        temperature=0,
        logit_bias=_eos(tiny_server),
    )
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == tiny_tokenizer.decode(expected, skip_special_tokens=True)
    assert choice.finish_reason == "length"
    assert response.usage.prompt_tokens == len(ids)
    assert response.usage.completion_tokens == 8
    assert response.usage.total_tokens == len(ids) + 8
    assert response.model == TINY and response.object == "chat.completion"


def test_max_completion_tokens_wins(tiny_server: TinyServer) -> None:
    response = tiny_server.client().chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_completion_tokens=3,
        temperature=0,
        logit_bias=_eos(tiny_server),
    )
    assert response.usage.completion_tokens == 3
    assert response.choices[0].finish_reason == "length"


def test_logprobs_are_sorted_and_match_log_softmax(tiny_server: TinyServer, tiny_tokenizer) -> None:
    ids = chat_ids(tiny_tokenizer, PROMPT)
    response = tiny_server.client().chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=5,
        temperature=0,
        logprobs=True,
        top_logprobs=5,
        logit_bias=_eos(tiny_server),
    )
    content = response.choices[0].logprobs.content
    assert len(content) == 5
    model = tiny_server.backend.model
    prefix = list(ids)
    for entry in content:
        tops = [t.logprob for t in entry.top_logprobs]
        assert len(tops) == 5 and tops == sorted(tops, reverse=True)
        reference = next_logprobs(model, prefix)
        token = int(reference.argmax())
        assert entry.token == tiny_tokenizer.decode([token])
        assert entry.logprob == pytest.approx(float(reference[token]), abs=1e-3)
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-6)
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token
        prefix.append(token)


def test_top_logprobs_zero_gives_chosen_token_only(tiny_server: TinyServer) -> None:
    response = tiny_server.client().chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=2,
        logprobs=True,
        top_logprobs=0,
    )
    for entry in response.choices[0].logprobs.content:
        assert entry.top_logprobs == [] and entry.logprob <= 0.0


def test_no_logprobs_unless_asked(tiny_server: TinyServer) -> None:
    response = tiny_server.client().chat.completions.create(
        model=TINY, messages=[{"role": "user", "content": PROMPT}], max_tokens=2
    )
    assert response.choices[0].logprobs is None


def test_logit_bias_plus_100_forces_and_minus_100_bans(tiny_server: TinyServer, tiny_tokenizer) -> None:
    client = tiny_server.client()
    forced = tiny_tokenizer.encode(" Paris", add_special_tokens=False)[0]
    response = client.chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=4,
        temperature=1.0,
        seed=3,
        logit_bias={str(forced): 100},
        logprobs=True,
    )
    assert [e.token for e in response.choices[0].logprobs.content] == [tiny_tokenizer.decode([forced])] * 4
    plain = client.chat.completions.create(
        model=TINY, messages=[{"role": "user", "content": PROMPT}], max_tokens=4, temperature=0, logprobs=True
    )
    first = plain.choices[0].logprobs.content[0].token
    first_id = tiny_tokenizer.encode(first, add_special_tokens=False)
    assert len(first_id) == 1
    banned = client.chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=20,
        logit_bias={str(first_id[0]): -100},
    )
    for entry in banned.choices[0].logprobs.content:
        assert entry.token != first
        assert first not in [t.token for t in entry.top_logprobs]


def test_seed_reproduces_and_differs(tiny_server: TinyServer) -> None:
    client = tiny_server.client()

    def sample(seed: int) -> str:
        return (
            client.chat.completions.create(
                model=TINY,
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=12,
                temperature=1.0,
                seed=seed,
                logit_bias=_eos(tiny_server),
            )
            .choices[0]
            .message.content
        )

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_top_p_zero_is_greedy(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    kwargs = {"model": TINY, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 6}
    greedy = client.chat.completions.create(**kwargs, temperature=0).choices[0].message.content
    nucleus = client.chat.completions.create(**kwargs, temperature=1.5, top_p=0.0, seed=1).choices[0].message
    assert nucleus.content == greedy


def test_n_choices_are_rows_with_exact_usage(tiny_server: TinyServer) -> None:
    response = tiny_server.client().chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=5,
        n=3,
        temperature=1.0,
        seed=11,
        logit_bias=_eos(tiny_server),
    )
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert len({c.message.content for c in response.choices}) > 1
    assert response.usage.completion_tokens == 15


def test_stop_string_cuts_the_text(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    kwargs = _greedy_to_the_end(tiny_server, 16)
    full = client.chat.completions.create(**kwargs).choices[0].message.content
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    expected = full[: full.index(stop)]
    cut = client.chat.completions.create(**kwargs, stop=[stop, "never-appears-xyz"]).choices[0]
    assert cut.message.content == expected and cut.finish_reason == "stop"
    streamed = client.chat.completions.create(**kwargs, stop=stop, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == expected


def test_streaming_chunks_done_and_usage(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    kwargs = _greedy_to_the_end(tiny_server, 6)
    whole = client.chat.completions.create(**kwargs)
    chunks = list(
        client.chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}, logprobs=True, top_logprobs=2
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    logprobs = [
        e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content
    ]
    assert len(logprobs) == 6 and all(len(e.top_logprobs) == 2 for e in logprobs)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    without = list(client.chat.completions.create(**kwargs, stream=True))
    assert all(c.usage is None for c in without)


def test_raw_sse_ends_with_done(tiny_server: TinyServer) -> None:
    body = {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}
    with httpx.stream("POST", tiny_server.base_url + "/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"


def test_multipart_text_content_and_system_message(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    plain = client.chat.completions.create(
        model=TINY,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        max_tokens=4,
        temperature=0,
    )
    parts = client.chat.completions.create(
        model=TINY,
        messages=[
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}],
            },
        ],
        max_tokens=4,
        temperature=0,
    )
    assert parts.choices[0].message.content == plain.choices[0].message.content
    assert parts.usage == plain.usage
