"""The native Anthropic Messages teacher and Gemini's OpenAI-compatible endpoint, against the wire server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillscope.harvest.run import harvest
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import Query, StaticStrategy
from distillscope.harvest.teacher import TeacherError
from distillscope.records import read_exchanges
from distillscope.testing.wire_server import Faults, WireServer, default_responder

MAX_NEW = 10


def questions(count: int) -> list[Query]:
    return [Query.user(f"q {i}: tell me something", index=i, system="answer briefly") for i in range(count)]


def anthropic_settings(out: Path, server: WireServer, queries: list[Query], **overrides) -> HarvestSettings:
    values = dict(
        out_dir=out,
        strategy=StaticStrategy(queries),
        teacher=server.base_url,
        model="claude-3-5-haiku-latest",
        api="anthropic",
        max_new_tokens=MAX_NEW,
        concurrency=4,
        backoff_base_s=0.01,
        progress=False,
        terms="test fixture: our own server",
    )
    values.update(overrides)
    return HarvestSettings(**values)


def test_anthropic_messages_teacher_speaks_the_native_format(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    faults = Faults(api_key="sk-ant-test", per_body=["503", "429"], retry_after_s=0.05, rpm=6000)
    with WireServer(faults) as server:
        result = harvest(anthropic_settings(tmp_path, server, questions(8)))
        stats = server.stats()
    assert result.exchanges == 8 and result.failed == 0
    # 503 became Anthropic's 529 overloaded_error, retried like the 429; nothing paid twice
    assert stats["statuses"]["200"] == 8 and stats["statuses"]["503"] == 8 and stats["paid_twice"] == []
    rows = read_exchanges(tmp_path / "exchanges.jsonl")
    for row in rows:
        assert row.endpoint == "/v1/messages"
        assert row.messages[0] == {
            "role": "system",
            "content": "answer briefly",
        }  # top-level system, restored
        natural = default_responder(row.messages, MAX_NEW)
        assert row.response_text == "".join(natural[:MAX_NEW]).strip()
        assert row.finish_reason == ("length" if len(natural) > MAX_NEW else "stop")
        assert (
            row.completion_tokens == row.usage["output_tokens"]
            and row.prompt_tokens == row.usage["input_tokens"]
        )
        # claude-3-5-haiku's listed price (matched by prefix): $0.80 / $4.00 per 1M tokens
        assert row.cost_usd == pytest.approx((row.prompt_tokens * 0.8 + row.completion_tokens * 4.0) / 1e6)
        assert "system" not in row.params and row.params["max_tokens"] == MAX_NEW
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (
        manifest["this_process"]["advertised_rpm"] == 6000
    )  # learned from anthropic-ratelimit-requests-limit


def test_anthropic_teacher_key_comes_from_anthropic_api_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    settings = HarvestSettings(
        out_dir=tmp_path,
        strategy=StaticStrategy(questions(1)),
        teacher="https://api.anthropic.com/v1",
        model="claude-3-5-haiku-latest",
        progress=False,
    )
    assert settings.resolved_api == "anthropic" and settings.key_env == "ANTHROPIC_API_KEY"
    with pytest.raises(TeacherError, match=r"\$ANTHROPIC_API_KEY"):
        harvest(settings)


def test_anthropic_teacher_refuses_what_its_api_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="logprobs"):
        HarvestSettings(
            out_dir=tmp_path,
            strategy=StaticStrategy(questions(1)),
            teacher="https://api.anthropic.com/v1",
            model="claude-3-5-haiku-latest",
            top_logprobs=3,
        )


def test_a_bad_anthropic_request_is_a_permanent_failure_with_anthropics_message(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        queries = [Query.user("fine"), Query.user("please #REJECT# this")]
        result = harvest(anthropic_settings(tmp_path, server, queries))
    assert result.exchanges == 1 and result.failed == 1
    failure = json.loads((tmp_path / "failures.jsonl").read_text())
    assert (
        failure["permanent"]
        and failure["status"] == 400
        and "rejected by the wire server" in failure["reason"]
    )


def test_gemini_through_its_openai_compatible_endpoint(tmp_path: Path, monkeypatch) -> None:
    """Gemini: bearer key, list-shaped errors, 429s without rate-limit headers (retried after a pause)."""
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test")
    faults = Faults(api_key="gm-test", per_body=["429"], retry_after_s=0.05)
    with WireServer(faults) as server:
        base = server.base_url.removesuffix("/v1") + "/v1beta/openai"
        queries = [Query.user(f"g {i}") for i in range(4)] + [Query.user("#REJECT# me")]
        settings = HarvestSettings(
            out_dir=tmp_path,
            strategy=StaticStrategy(queries),
            teacher=base,
            model="gemini-2.0-flash",
            api_key_env="GEMINI_API_KEY",
            max_new_tokens=MAX_NEW,
            top_logprobs=2,
            backoff_base_s=0.01,
            progress=False,
            terms="test",
        )
        result = harvest(settings)
        stats = server.stats()
    assert result.exchanges == 4 and result.failed == 1
    assert stats["statuses"]["429"] == 4 and stats["paid"] == 4 and stats["paid_twice"] == []
    failure = json.loads((tmp_path / "failures.jsonl").read_text())
    assert failure["reason"] == "HTTP 400: The request was rejected by the wire server."  # read from the list
    rows = read_exchanges(tmp_path / "exchanges.jsonl")
    assert all(r.cost_usd is not None and r.logprobs for r in rows)  # gemini-2.0-flash is priced
