"""/v1/completions on the tiny model: legacy logprobs, echo (also with max_tokens 0), streaming."""

from __future__ import annotations

import pytest

from .helpers import TINY, TinyServer, all_logprobs, greedy_ids

PROMPT = "The capital of France is"


def test_completion_greedy_and_usage(tiny_server: TinyServer, tiny_tokenizer) -> None:
    ids = tiny_tokenizer(PROMPT)["input_ids"]
    banned = tuple(tiny_server.backend.engine.eos_token_ids)
    expected = greedy_ids(tiny_server.backend.model, ids, 5, banned)
    response = tiny_server.client().completions.create(
        model=TINY,
        prompt=PROMPT,
        max_tokens=5,
        temperature=0,
        logit_bias={str(t): -100 for t in banned},
    )
    assert response.object == "text_completion"
    assert response.choices[0].text == tiny_tokenizer.decode(expected)
    assert response.usage.prompt_tokens == len(ids) and response.usage.completion_tokens == 5


def test_legacy_logprobs_shape(tiny_server: TinyServer) -> None:
    response = tiny_server.client().completions.create(
        model=TINY, prompt=PROMPT, max_tokens=4, temperature=0, logprobs=3
    )
    logprobs = response.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == 4
    assert "".join(logprobs.tokens).startswith(response.choices[0].text[:1])
    offset = len(PROMPT)
    for token, offset_seen, top, chosen in zip(
        logprobs.tokens, logprobs.text_offset, logprobs.top_logprobs, logprobs.token_logprobs, strict=True
    ):
        assert offset_seen == offset
        offset += len(token)
        assert len(top) == 3 and max(top.values()) == pytest.approx(chosen, abs=1e-6)


def test_echo_with_max_tokens_zero_scores_the_prompt(tiny_server: TinyServer, tiny_tokenizer) -> None:
    ids = tiny_tokenizer(PROMPT)["input_ids"]
    response = tiny_server.client().completions.create(
        model=TINY, prompt=PROMPT, max_tokens=0, echo=True, logprobs=2
    )
    choice = response.choices[0]
    assert choice.text == PROMPT and choice.finish_reason == "length"
    assert response.usage.completion_tokens == 0 and response.usage.prompt_tokens == len(ids)
    logprobs = choice.logprobs
    assert logprobs.tokens == [tiny_tokenizer.decode([t]) for t in ids]
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert logprobs.text_offset[0] == 0
    reference = all_logprobs(tiny_server.backend.model, ids)
    for j in range(1, len(ids)):
        assert logprobs.token_logprobs[j] == pytest.approx(float(reference[j - 1, ids[j]]), abs=1e-3)
        assert len(logprobs.top_logprobs[j]) == 2


def test_echo_with_generation(tiny_server: TinyServer, tiny_tokenizer) -> None:
    ids = tiny_tokenizer(PROMPT)["input_ids"]
    response = tiny_server.client().completions.create(
        model=TINY, prompt=PROMPT, max_tokens=3, echo=True, logprobs=0, temperature=0
    )
    choice = response.choices[0]
    assert choice.text.startswith(PROMPT)
    assert len(choice.logprobs.tokens) == len(ids) + response.usage.completion_tokens
    assert choice.logprobs.text_offset == sorted(choice.logprobs.text_offset)


def test_token_id_prompts_and_prompt_lists(tiny_server: TinyServer, tiny_tokenizer) -> None:
    client = tiny_server.client()
    ids = tiny_tokenizer(PROMPT)["input_ids"]
    by_text = client.completions.create(model=TINY, prompt=PROMPT, max_tokens=4, temperature=0)
    by_ids = client.completions.create(model=TINY, prompt=ids, max_tokens=4, temperature=0)
    assert by_ids.choices[0].text == by_text.choices[0].text
    both = client.completions.create(
        model=TINY, prompt=[PROMPT, "Once upon"], max_tokens=2, n=2, temperature=0
    )
    assert [c.index for c in both.choices] == [0, 1, 2, 3]
    assert both.choices[0].text == both.choices[1].text  # greedy rows of one prompt agree
    other = len(tiny_tokenizer("Once upon")["input_ids"])
    assert both.usage.prompt_tokens == len(ids) + other


def test_streaming_completion_with_logprobs_and_usage(tiny_server: TinyServer) -> None:
    client = tiny_server.client()
    whole = client.completions.create(model=TINY, prompt=PROMPT, max_tokens=5, temperature=0, logprobs=1)
    chunks = list(
        client.completions.create(
            model=TINY,
            prompt=PROMPT,
            max_tokens=5,
            temperature=0,
            logprobs=1,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    tokens = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.tokens]
    assert tokens == whole.choices[0].logprobs.tokens
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_streaming_echo_sends_the_prompt_first(tiny_server: TinyServer) -> None:
    chunks = list(
        tiny_server.client().completions.create(
            model=TINY, prompt=PROMPT, max_tokens=0, echo=True, logprobs=1, stream=True
        )
    )
    assert chunks[0].choices[0].text == PROMPT
    assert chunks[0].choices[0].logprobs.token_logprobs[0] is None
    assert chunks[-1].choices[0].finish_reason == "length"
