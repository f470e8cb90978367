"""Harvest runs against the wire server: retries, permanent failures, budgets, dry runs, resume, output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from distillscope.harvest.canonical import canonical_json
from distillscope.harvest.run import HarvestError, harvest
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import Query, StaticStrategy
from distillscope.harvest.teacher import TeacherError
from distillscope.records import read_exchanges
from distillscope.testing.wire_server import Faults, WireServer, body_key


def settings(out: Path, server: WireServer, queries: list[Query], **overrides) -> HarvestSettings:
    values = dict(
        out_dir=out,
        strategy=StaticStrategy(queries),
        teacher=server.base_url,
        model="gpt-4o-mini",
        max_new_tokens=16,
        concurrency=4,
        backoff_base_s=0.01,
        progress=False,
        terms="test fixture: our own server",
    )
    values.update(overrides)
    return HarvestSettings(**values)


def questions(count: int, prefix: str = "q") -> list[Query]:
    return [Query.user(f"{prefix} {i}: tell me something", index=i) for i in range(count)]


def server_key(out: Path, exchange_id: str) -> str:
    """The wire server's key (its canonical body) of the request behind an exchange."""
    from distillscope.harvest.cache import AnswerCache

    with AnswerCache(out / "cache.sqlite") as cache:
        return body_key(cache.get(exchange_id).body)


def test_transient_faults_are_retried_and_nothing_is_paid_twice(tmp_path: Path) -> None:
    faults = Faults(per_body=["500", "drop", "503", "429"], retry_after_s=0.05, latency_s=0.005)
    with WireServer(faults) as server:
        result = harvest(settings(tmp_path, server, questions(12), top_logprobs=2))
        stats = server.stats()
    assert result.exchanges == 12 and result.failed == 0
    assert stats["statuses"] == {"200": 12, "429": 12, "500": 12, "503": 12, "dropped": 12}
    assert stats["paid"] == 12 and stats["paid_twice"] == []
    rows = read_exchanges(tmp_path / "exchanges.jsonl")
    assert len({r.id for r in rows}) == 12
    row = rows[0]
    assert row.logprobs and len(row.logprobs[0]["top_logprobs"]) == 2
    assert row.provenance["system_fingerprint"] == "fp_wire_0001"
    assert row.provenance["base_url"] == server.base_url
    assert row.provenance["query_meta"]["index"] == 0
    assert row.cost_usd == pytest.approx((row.prompt_tokens * 0.15 + row.completion_tokens * 0.60) / 1e6)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    retries = manifest["this_process"]["retries"]
    assert retries["HTTP 500"] == retries["HTTP 503"] == retries["HTTP 429"] == 12
    assert sum(retries.values()) == 48  # the drops surface as connection errors, retried too


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    with WireServer(Faults(per_body=["429"], retry_after_s=0.6)) as server:
        harvest(settings(tmp_path, server, questions(3), concurrency=3))
        arrivals = dict(server.state.arrivals)
    for times in arrivals.values():
        assert len(times) == 2
        assert times[1] - times[0] >= 0.6  # a lower bound the client must respect, not a speed claim


def test_permanent_400_is_recorded_not_retried_even_on_resume(tmp_path: Path) -> None:
    queries = questions(3) + [Query.user("#REJECT# this one")]
    with WireServer(Faults()) as server:
        first = harvest(settings(tmp_path, server, queries, max_retries=5))
        second = harvest(settings(tmp_path, server, queries, max_retries=5))
        stats = server.stats()
    assert first.exchanges == 3 and first.failed == 1
    assert stats["statuses"] == {"200": 3, "400": 1}  # one attempt, in two runs
    failures = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert failures[0]["permanent"] and failures[0]["status"] == 400
    assert "rejected" in failures[0]["reason"]
    assert second.sent == 0 and second.failed == 1


def test_exhausted_transient_retries_are_retried_by_the_next_run(tmp_path: Path) -> None:
    with WireServer(Faults(per_body=["503", "503", "503"])) as server:
        first = harvest(settings(tmp_path, server, questions(2), max_retries=1))
        assert first.failed == 2 and first.exchanges == 0
        second = harvest(settings(tmp_path, server, questions(2), max_retries=1))
        assert second.exchanges == 2 and server.stats()["paid"] == 2


def test_resume_sends_nothing_already_answered_and_keeps_length_answers(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        first = harvest(settings(tmp_path, server, questions(10), max_new_tokens=3))
        second = harvest(settings(tmp_path, server, questions(15), max_new_tokens=3))
        stats = server.stats()
    rows = read_exchanges(tmp_path / "exchanges.parquet")
    assert first.exchanges == 10 and second.exchanges == 15
    assert second.from_cache == 10 and second.sent == 5
    assert stats["paid"] == 15 and stats["paid_twice"] == []
    assert {r.finish_reason for r in rows} == {"length"}  # cut answers are answers: cached, not re-paid


def test_budget_is_a_hard_cap_with_concurrency(tmp_path: Path) -> None:
    price = tmp_path / "prices.json"
    price.write_text(json.dumps({"models": {"pricey": {"input": 1000.0, "output": 3000.0}}}))
    with WireServer(Faults(latency_s=0.01)) as server:
        result = harvest(
            settings(
                tmp_path,
                server,
                questions(60),
                model="pricey",
                max_cost=2.0,
                prices_file=price,
                concurrency=8,
            )
        )
        stats = server.stats()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert result.budget_exhausted and 0 < result.exchanges < 60
    assert manifest["budget"]["spent"]["cost"] <= 2.0
    # the server's own count of what it billed agrees
    paid_cost = sum(r.cost_usd for r in read_exchanges(tmp_path / "exchanges.jsonl"))
    assert stats["paid"] == result.exchanges and paid_cost <= 2.0


def test_budget_spans_restarts(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        harvest(settings(tmp_path, server, questions(20), max_requests=7))
        harvest(settings(tmp_path, server, questions(20), max_requests=7))
        assert server.stats()["paid"] == 7
        more = harvest(settings(tmp_path, server, questions(20), max_requests=9, max_tokens=10_000))
        assert server.stats()["paid"] == 9 and more.exchanges == 9


def test_max_tokens_budget(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        result = harvest(settings(tmp_path, server, questions(50), max_tokens=600, concurrency=8))
        assert server.stats()["tokens_paid"] <= 600
    assert result.budget_exhausted and 0 < result.spent["tokens"] <= 600


def test_dry_run_sends_nothing_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with WireServer(Faults()) as server:
        result = harvest(settings(out, server, questions(30), dry_run=True, max_cost=0.0001))
        assert server.stats()["requests"] == 0
    assert not out.exists()
    estimate = result.estimate
    assert estimate["to_send"] == 30 and estimate["completion_tokens_max"] == 30 * 16
    assert estimate["cost_worst_usd"] > 0 and estimate["within_budget"] < 30


def test_dry_run_counts_what_is_cached(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        harvest(settings(tmp_path, server, questions(4)))
        result = harvest(settings(tmp_path, server, questions(6), dry_run=True))
        assert server.stats()["requests"] == 4
    assert result.estimate["already_cached"] == 4 and result.estimate["to_send"] == 2


def test_duplicate_prompts_are_asked_once(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        result = harvest(settings(tmp_path, server, questions(3) + questions(3)))
        assert server.stats()["requests"] == 3
    assert result.exchanges == 3


def test_unknown_price_with_cost_cap_refuses(tmp_path: Path) -> None:
    with WireServer(Faults()) as server, pytest.raises(HarvestError, match="needs a price"):
        harvest(settings(tmp_path, server, questions(2), model="mystery-model", max_cost=1.0))


def test_remote_teacher_without_key_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    strategy = StaticStrategy(questions(1))
    with pytest.raises(TeacherError, match=r"\$OPENAI_API_KEY"):
        harvest(HarvestSettings(tmp_path, strategy, teacher="https://api.example.com/v1", progress=False))


def test_api_key_comes_from_the_named_environment_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-secret-123")
    with WireServer(Faults(api_key="sk-secret-123")) as server:
        result = harvest(settings(tmp_path, server, questions(2), api_key_env="MY_TEACHER_KEY"))
        assert result.exchanges == 2
        monkeypatch.setenv("MY_TEACHER_KEY", "sk-wrong")
        bad = harvest(settings(tmp_path / "b", server, questions(2), api_key_env="MY_TEACHER_KEY"))
    assert bad.failed == 2  # 401 is permanent
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert "sk-secret-123" not in written and "sk-wrong" not in written


def test_output_loads_with_datasets_and_matches_cache(tmp_path: Path) -> None:
    import datasets

    with WireServer(Faults()) as server:
        harvest(settings(tmp_path, server, questions(5), top_logprobs=1))
    table = datasets.load_dataset("parquet", data_files=str(tmp_path / "exchanges.parquet"))["train"]
    assert table.num_rows == 5
    assert json.loads(table[0]["provenance"])["strategy"] == "static"
    jsonl = read_exchanges(tmp_path / "exchanges.jsonl")
    parquet = read_exchanges(tmp_path / "exchanges.parquet")
    assert [e.to_dict() for e in jsonl] == [e.to_dict() for e in parquet]
    assert canonical_json(jsonl[0].messages)


class _AskTwice:
    """An adaptive strategy whose helper generation asks the same thing twice at once."""

    name = "ask-twice"

    def bind_teacher(self, ask) -> None:
        self.ask = ask

    def next_round(self, round_index: int, answered) -> list[Query]:
        if round_index > 0:
            return []
        texts = self.ask([Query.user("same helper question")] * 3)
        assert len(set(texts)) == 1 and texts[0]
        return [Query.user(f"follow-up on: {texts[0]}")]


def test_concurrent_identical_requests_are_sent_once(tmp_path: Path) -> None:
    with WireServer(Faults(latency_s=0.05)) as server:
        result = harvest(settings(tmp_path, server, [], strategy=_AskTwice()))
        assert server.stats()["requests"] == 2
    assert result.exchanges == 1


def test_a_200_that_is_not_a_completion_is_retried_not_cached(tmp_path: Path) -> None:
    with WireServer(Faults(per_body=["garbage"])) as server:
        result = harvest(settings(tmp_path, server, questions(2)))
        stats = server.stats()
    assert result.exchanges == 2 and stats["requests"] == 4 and stats["paid"] == 2
    assert all(r.response_text for r in read_exchanges(tmp_path / "exchanges.jsonl"))


def test_leftovers_of_a_kill_during_output_are_cleaned(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / ".exchanges.parquet.12345.tmp").write_bytes(b"half a file")
    (tmp_path / "exchanges.jsonl").write_text('{"torn": ')  # an old, torn output is rebuilt from the cache
    with WireServer(Faults()) as server:
        harvest(settings(tmp_path, server, questions(3)))
    assert not list(tmp_path.glob(".*.tmp"))
    assert len(read_exchanges(tmp_path / "exchanges.jsonl")) == 3


def test_limits_are_learned_from_headers_without_a_429_storm(tmp_path: Path) -> None:
    """The server allows 240 requests/min (4/s, bucket of 4); the client is told nothing and learns it."""
    with WireServer(Faults(rpm=240, burst_seconds=1.0)) as server:
        result = harvest(settings(tmp_path, server, questions(16), concurrency=8))
        stats = server.stats()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert result.exchanges == 16
    assert manifest["this_process"]["advertised_rpm"] == 240
    assert stats["statuses"].get("429", 0) <= 1


def test_token_limit_is_learned_and_paced(tmp_path: Path) -> None:
    """A tokens-per-minute limit (6000/min, bucket of 100 tokens: about 3 requests) is respected too."""
    with WireServer(Faults(tpm=6000, burst_seconds=1.0)) as server:
        result = harvest(settings(tmp_path, server, questions(12), concurrency=8))
        stats = server.stats()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert result.exchanges == 12
    assert manifest["this_process"]["advertised_tpm"] == 6000
    assert stats["statuses"].get("429", 0) <= 1


class _Recorder:
    """Two rounds; remembers what round 1 was shown (an adaptive strategy must see query order)."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def next_round(self, round_index: int, answered) -> list[Query]:
        if round_index == 0:
            return questions(12)
        self.seen = [e.messages[-1]["content"] for e in answered]
        return []


def test_adaptive_rounds_see_answers_in_query_order_on_first_run_and_replay(tmp_path: Path) -> None:
    with WireServer(Faults(rate_slow=0.5, slow_s=0.05, seed=2)) as server:  # answers arrive out of order
        first, replay = _Recorder(), _Recorder()
        harvest(settings(tmp_path, server, [], strategy=first, concurrency=6))
        harvest(settings(tmp_path, server, [], strategy=replay))
    expected = [q.messages[-1]["content"] for q in questions(12)]
    assert first.seen == expected == replay.seen


def test_timeouts_are_retried_and_the_abandoned_attempt_is_not_billed(tmp_path: Path) -> None:
    with WireServer(Faults(per_body=["slow"], slow_s=1.5)) as server:
        result = harvest(settings(tmp_path, server, questions(3), timeout_s=0.4))
        time.sleep(1.5)  # let the abandoned slow attempts run out on the server
        stats = server.stats()
    assert result.exchanges == 3
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sum(v for k, v in manifest["this_process"]["retries"].items() if k.startswith("timeout")) == 3
    assert stats["requests"] == 6 and stats["paid"] == 3  # the client hung up, so the server did not bill
