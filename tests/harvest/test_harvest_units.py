"""Small parts: canonical keys, price table, budget reservations, rate-limit header parsing, prompt files."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillscope.harvest.budget import Budget, Caps, Usage, prompt_tokens_bound
from distillscope.harvest.cache import AnswerCache
from distillscope.harvest.canonical import normalise_base_url, request_key, teacher_identity
from distillscope.harvest.limiter import RateLimiter, parse_duration, parse_retry_after
from distillscope.harvest.prices import Price, PriceTable
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import StaticStrategy
from distillscope.harvest.strategies.files import PromptFileError, read_prompts
from distillscope.harvest.teacher import describe_teacher


def test_request_key_ignores_key_order_and_url_spelling() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7}
    b = {"temperature": 0.7, "messages": [{"content": "hi", "role": "user"}], "model": "m"}
    url = normalise_base_url("HTTPS://API.example.com/v1/")
    assert url == "https://api.example.com/v1"
    assert request_key(url, a) == request_key(normalise_base_url("https://api.example.com/v1"), b)
    assert request_key(url, a) != request_key(url, {**a, "temperature": 0.8})
    assert request_key(url, a) != request_key("local:smollm2", a)
    with pytest.raises(ValueError):
        normalise_base_url("ftp://nope")


def test_a_password_in_the_teacher_url_reaches_requests_only(tmp_path: Path) -> None:
    # the identity (cache rows, provenance, manifests, messages) drops the userinfo; requests keep it
    url = "https://op:hunter2@api.example.com/v1/"
    teacher = describe_teacher(HarvestSettings(tmp_path, StaticStrategy([]), teacher=url, model="m"))
    assert teacher.base_url == "https://op:hunter2@api.example.com/v1"
    assert teacher.teacher_id == teacher.shown_url == "https://api.example.com/v1"
    assert teacher_identity("https://api.example.com/v1") == "https://api.example.com/v1"
    keyed = request_key(teacher.teacher_id, {"model": "m"})
    assert keyed == request_key(
        teacher_identity(normalise_base_url("https://api.example.com/v1")), {"model": "m"}
    )


def test_price_table_prefix_and_override(tmp_path) -> None:
    table = PriceTable.load()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini")
    assert table.lookup("no-such-model") is None
    override = tmp_path / "prices.toml"
    override.write_text("[models.my-model]\ninput = 1.0\noutput = 2.0\n")
    assert PriceTable.load(override).lookup("my-model") == Price(1.0, 2.0)
    assert Price(1.0, 2.0).cost(1_000_000, 500_000) == pytest.approx(2.0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"x": {"input": 1}}}')
    with pytest.raises(ValueError, match="'x' needs numeric"):
        PriceTable.load(bad)


def test_budget_never_exceeded_by_concurrent_reservations() -> None:
    """Many coroutines reserving worst cases and settling less: spending never passes the cap."""

    async def scenario() -> Budget:
        budget = Budget(Caps(max_cost=1.0, max_tokens=5000))
        rng = random.Random(0)

        async def worker() -> None:
            while True:
                worst = Usage(1, 300, 0.07)
                reservation = await budget.reserve(worst)
                if reservation is None:
                    return
                await asyncio.sleep(rng.random() * 0.002)
                if rng.random() < 0.1:
                    await budget.release(reservation)  # a failure: nothing paid
                else:
                    await budget.settle(reservation, Usage(1, rng.randint(50, 300), rng.uniform(0.01, 0.07)))
                assert budget.spent.cost <= 1.0 + 1e-9 and budget.spent.tokens <= 5000

        await asyncio.gather(*(worker() for _ in range(16)))
        return budget

    budget = asyncio.run(scenario())
    assert budget.spent.cost <= 1.0 and budget.spent.tokens <= 5000
    assert budget.spent.cost > 0.9 or budget.spent.tokens > 4700  # it used the room it had
    assert budget.reserved == Usage(0, 0, 0.0)


def test_prompt_bound_covers_utf8_bytes() -> None:
    messages = [{"role": "user", "content": "héllo 世界"}]
    assert prompt_tokens_bound(messages) >= len("héllo 世界".encode())


def test_rate_limit_header_parsing() -> None:
    assert parse_duration("6m0s") == 360
    assert parse_duration("1s") == 1
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1h2m3.5s") == pytest.approx(3723.5)
    assert parse_duration("soon") is None
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({}) is None


def test_limiter_learns_advertised_limits_and_pauses_on_429() -> None:
    limiter = RateLimiter()
    limiter.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "90000"}, 200)
    assert limiter.rpm == 600 and limiter.tpm == 90000
    limiter.observe({"retry-after": "2"}, 429)
    assert limiter.pauses == 1 and limiter._wait(1) > 1.5
    capped = RateLimiter(rpm=100)
    capped.observe({"x-ratelimit-limit-requests": "600"}, 200)
    assert capped.rpm == 100  # the smaller of configured and advertised


def test_cache_keeps_first_answer_and_supersedes_failures(tmp_path) -> None:
    with AnswerCache(tmp_path / "c.sqlite") as cache:
        cache.put_failure("k", "t", "{}", 503, "HTTP 503", permanent=False, attempts=3)
        assert cache.failure("k") is not None
        cache.put_answer("k", "t", '{"a":1}', '{"choices":[{"index":0}]}', run_id="r")
        cache.put_answer("k", "t", '{"a":1}', '{"choices":[{"index":1}]}', run_id="r")
        assert cache.get("k").response == {"choices": [{"index": 0}]}
        assert cache.failure("k") is None
        assert cache.has(["k", "other"]) == {"k"}
    with AnswerCache(tmp_path / "c.sqlite") as cache:  # persisted, reopened
        assert [a.key for a in cache.answers_of_run("r")] == ["k"]


# -- prompt files -------------------------------------------------------------------------


def test_jsonl_malformed_lines_reported_with_numbers(tmp_path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "fine"}\n'
        "{not json\n"
        "\n"
        '{"prompt": ""}\n'
        '{"text": "wrong key"}\n'
        '{"messages": [{"role": "wizard", "content": "x"}]}\n'
        '["a list"]\n'
        '{"messages": [{"role": "user", "content": "chat"}], "id": 7}\n'
    )
    with pytest.raises(PromptFileError) as error:
        read_prompts(path)
    lines = [e.line for e in error.value.errors]
    assert lines == [2, 4, 5, 6, 7]
    assert "p.jsonl:2: invalid JSON" in str(error.value)
    assert "p.jsonl:6:" in str(error.value) and "wizard" in str(error.value)
    queries, errors = read_prompts(path, on_error="skip")
    assert [q.meta["line"] for q in queries] == [1, 8] and len(errors) == 5
    assert queries[1].meta["id"] == 7 and queries[1].messages[0]["content"] == "chat"


def test_csv_text_and_parquet_prompts(tmp_path) -> None:
    csv_path = tmp_path / "p.csv"
    csv_path.write_text('prompt,topic\n"first, with comma",a\n,b\nthird,c,extra\nfourth,d\n')
    with pytest.raises(PromptFileError) as error:
        read_prompts(csv_path)
    assert [e.line for e in error.value.errors] == [3, 4]
    queries, _ = read_prompts(csv_path, on_error="skip")
    assert [q.messages[-1]["content"] for q in queries] == ["first, with comma", "fourth"]
    assert queries[0].meta["topic"] == "a"
    no_column = tmp_path / "q.csv"
    no_column.write_text("text\nhello\n")
    with pytest.raises(PromptFileError, match="no 'prompt' column"):
        read_prompts(no_column)
    text = tmp_path / "p.txt"
    text.write_text("one\n\ntwo\n")
    queries, _ = read_prompts(text, system="be brief")
    assert [q.meta["line"] for q in queries] == [1, 3]
    assert queries[0].messages[0] == {"role": "system", "content": "be brief"}
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"prompt": ["a", None, "c"]}), parquet)
    with pytest.raises(PromptFileError) as error:
        read_prompts(parquet)
    assert [e.line for e in error.value.errors] == [2]
    messages = tmp_path / "m.parquet"
    pq.write_table(pa.table({"messages": [json.dumps([{"role": "user", "content": "hi"}])]}), messages)
    assert read_prompts(messages)[0][0].messages == ({"role": "user", "content": "hi"},)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.text(max_size=40), st.builds(json.dumps, st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["prompt", "messages", "role", "content", "system", "x"]), children, max_size=3),
    max_leaves=8))), max_size=8))  # fmt: skip
def test_any_jsonl_content_is_read_or_refused_clearly(tmp_path_factory, lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "p.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines), encoding="utf-8")
    try:
        queries, errors = read_prompts(path, on_error="skip")
    except PromptFileError as error:
        assert "no usable prompts" in str(error) or error.errors
        return
    for query in queries:
        assert query.messages and all(isinstance(m["content"], str) for m in query.messages)
    assert all(e.line >= 1 for e in errors)


def test_reservations_are_committed_and_settled_with_the_answer(tmp_path: Path) -> None:
    from distillscope.harvest.cache import AnswerCache

    with AnswerCache(tmp_path / "c.sqlite") as cache:
        first = cache.reserve("run", "k1", 1, 100, 0.5)
        second = cache.reserve("run", "k2", 1, 50, 0.25)
        cache.reserve("other", "k3", 1, 7, 0.1)
        assert cache.reserved("run") == (2, 150, 0.75)
        assert cache.put_answer("k1", "t", "{}", '{"choices":[{}]}', run_id="run", reservation=first)
        cache.release(second)
        assert cache.reserved("run") == (0, 0, 0.0)
    with AnswerCache(tmp_path / "c.sqlite") as reopened:  # committed: a new process sees the same
        assert reopened.reserved("other") == (1, 7, 0.1) and reopened.count() == 1


def test_answer_views_of_both_wire_formats() -> None:
    from distillscope.harvest.formats import anthropic_body, request_messages, usage_tokens, view

    body = {
        "model": "claude-x",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0.2,
        "stop": "END",
    }
    native = anthropic_body(body)
    assert native["system"] == "be brief" and native["messages"] == [{"role": "user", "content": "hi"}]
    assert native["stop_sequences"] == ["END"] and "stop" not in native
    assert request_messages(native) == body["messages"]
    message = {
        "type": "message",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 5},
        "model": "claude-x",
        "id": "msg_1",
    }
    seen = view(message)
    assert (seen.text, seen.finish_reason, seen.prompt_tokens, seen.completion_tokens) == (
        "ab",
        "length",
        3,
        5,
    )
    assert usage_tokens(message) == (3, 5) and usage_tokens({"choices": [{}]}) is None
    with pytest.raises(ValueError, match="logprobs"):
        anthropic_body({**body, "logprobs": True, "top_logprobs": 2})


def test_exchange_row_equals_to_dict() -> None:
    from distillscope.harvest.output import exchange_row
    from distillscope.records import Exchange

    exchange = Exchange(
        id="x",
        ts=1.0,
        account="a",
        messages=[{"role": "user", "content": "hi"}],
        params={"max_tokens": 3},
        response_text="yo",
        usage={"prompt_tokens": 1},
        logprobs=[{"token": "yo", "logprob": -0.1, "top_logprobs": []}],
        provenance={"nested": {"deep": [1, 2]}},
        extra={"custom": 1, "account": "shadowed"},
    )
    assert exchange_row(exchange) == exchange.to_dict()
    bare = Exchange(id="y", ts=2.0, account="b", prompt="p")
    assert exchange_row(bare) == bare.to_dict()


def test_gemini_retry_delay_is_read_from_the_error_body() -> None:
    from distillscope.harvest.client import retry_delay_in_body

    body = [
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}],
            }
        }
    ]
    assert retry_delay_in_body(json.dumps(body)) == 13.0
    assert retry_delay_in_body(json.dumps({"error": {"message": "slow down"}})) is None
    assert retry_delay_in_body("not json") is None


def test_strategy_settings_choose_exactly_one_strategy_and_harvest_settings_make_it(tmp_path: Path) -> None:
    from distillscope.harvest import HarvestSettings, StrategySettings, make_strategy
    from distillscope.harvest.strategies.random_words import RandomWordStrategy

    with pytest.raises(ValueError, match="got none"):
        StrategySettings()
    with pytest.raises(ValueError, match="got --random-words, --task"):
        StrategySettings(random_words=3, task="gsm_symbolic")
    chosen = StrategySettings(random_words=3, strategy_seed=7)
    settings = HarvestSettings(tmp_path / "out", chosen)
    assert isinstance(settings.strategy, RandomWordStrategy)
    made = make_strategy(chosen)
    assert [q.key for q in made.next_round(0, [])] == [q.key for q in settings.strategy.next_round(0, [])]
