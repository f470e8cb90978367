"""`harvest --batch` through the Python API against the wire server's OpenAI and Anthropic batch APIs.

Answers land in the same cache and the same Exchange rows as synchronous ones,
at the batch price, with the batch id in their provenance; limits split
batches; partial failures, expiry and failed batches lose nothing and resubmit
only what is left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillscope.harvest.cache import AnswerCache
from distillscope.harvest.run import harvest
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import Query, StaticStrategy
from distillscope.records import read_exchanges
from distillscope.testing.wire_server import Faults, WireServer, default_responder

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku"}
LIST_PRICE = {"openai": (0.15, 0.60), "anthropic": (0.80, 4.00)}
MAX_NEW = 8


def settings(out: Path, server: WireServer, queries: list[Query], api: str, **overrides) -> HarvestSettings:
    values = dict(
        out_dir=out,
        strategy=StaticStrategy(queries),
        teacher=server.base_url,
        model=MODELS[api],
        api=api,
        max_new_tokens=MAX_NEW,
        temperature=None,
        batch=True,
        batch_poll_s=0.02,
        progress=False,
        terms="test fixture: our own server",
    )
    values.update(overrides)
    return HarvestSettings(**values)


def questions(count: int, prefix: str = "q", marks: dict[int, str] | None = None) -> list[Query]:
    marks = marks or {}
    return [Query.user(f"{prefix} {i}: tell me something{marks.get(i, '')}", index=i) for i in range(count)]


def expected_text(messages: list[dict]) -> str:
    return "".join(default_responder(messages, MAX_NEW)[:MAX_NEW]).strip()


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_batch_answers_land_in_the_same_rows_at_half_price_split_at_the_limit(
    tmp_path: Path, api: str
) -> None:
    faults = Faults(batch_validate_s=0.05, batch_progress_s=0.1, batch_finalize_s=0.05)
    with WireServer(faults) as server:
        result = harvest(settings(tmp_path, server, questions(25), api, batch_max_requests=10))
        stats = server.stats()["batch"]
    assert result.exchanges == 25 and result.failed == 0 and not result.interrupted
    assert stats["batches"] == 3 and stats["submitted"] == 25 and stats["submitted_twice"] == []
    assert stats["paid"] == 25 and server.stats()["requests"] == 0  # nothing went the synchronous way
    rows = read_exchanges(tmp_path / "exchanges.jsonl")
    assert [r.messages[-1]["content"] for r in rows] == [q.messages[-1]["content"] for q in questions(25)]
    listed_in, listed_out = LIST_PRICE[api]
    for row in rows:
        assert row.response_text == expected_text(row.messages)
        assert row.provenance["mode"] == "batch" and row.provenance["batch_provider"] == api
        assert row.provenance["batch_id"].startswith("batch_" if api == "openai" else "msgbatch_")
        assert row.provenance["price"] == {"input": listed_in / 2, "output": listed_out / 2}
        full = (row.prompt_tokens * listed_in + row.completion_tokens * listed_out) / 1e6
        assert row.cost_usd == pytest.approx(full / 2)
    assert {r.finish_reason for r in rows} <= {"stop", "length"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["mode"] == "batch" and len(manifest["batches"]) == 3
    assert {b["stage"] for b in manifest["batches"]} == {"collected"}
    assert manifest["totals"]["cost_usd"] == pytest.approx(sum(r.cost_usd for r in rows), abs=1e-7)
    with AnswerCache(tmp_path / "cache.sqlite") as cache:
        assert cache.count() == 25
        assert {cache.get(r.id).meta["batch_id"] for r in rows} == {
            b["batch_id"] for b in manifest["batches"]
        }


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_partial_failures_are_recorded_and_only_transient_ones_resubmitted(tmp_path: Path, api: str) -> None:
    marks = {3: " #REJECT#", 5: " #BATCH500#"}
    with WireServer(Faults()) as server:
        result = harvest(settings(tmp_path, server, questions(12, marks=marks), api))
        stats = server.stats()["batch"]
    assert result.exchanges == 11 and result.failed == 1
    # the 500 was resubmitted once (in a second batch) and answered; the 400 was not resubmitted
    assert stats["batches"] == 2 and stats["submitted"] == 13 and len(stats["submitted_twice"]) == 1
    assert stats["paid"] == 11 and stats["paid_twice"] == []
    failures = [json.loads(x) for x in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert (
        len(failures) == 1
        and failures[0]["permanent"]
        and "#REJECT#" in failures[0]["messages"][-1]["content"]
    )
    assert "rejected" in failures[0]["reason"]


def test_expired_batch_keeps_its_partial_results_and_resubmits_only_the_rest(tmp_path: Path) -> None:
    with WireServer(Faults(batch_expire_after=4, batch_progress_s=0.05)) as server:
        result = harvest(settings(tmp_path, server, questions(10), "openai", max_retries=0))
        first = server.stats()["batch"]
        assert result.exchanges == 4 and result.skipped + result.failed == 6
        server.set_faults(Faults())
        again = harvest(settings(tmp_path, server, questions(10), "openai"))
        second = server.stats()["batch"]
    assert first["submitted"] == 10 and first["paid"] == 4
    assert again.exchanges == 10 and again.from_cache == 4
    assert second["submitted"] == 16 and second["paid"] == 10 and second["paid_twice"] == []
    rows = read_exchanges(tmp_path / "exchanges.jsonl")
    assert len({r.provenance["batch_id"] for r in rows}) == 2


def test_a_failed_batch_records_every_request_as_failed_and_is_not_resubmitted(tmp_path: Path) -> None:
    with WireServer(Faults(batch_fail=True)) as server:
        result = harvest(settings(tmp_path, server, questions(5), "openai"))
        stats = server.stats()["batch"]
    assert result.exchanges == 0 and result.failed == 5 and stats["batches"] == 1
    failure = json.loads((tmp_path / "failures.jsonl").read_text().splitlines()[0])
    assert failure["permanent"] and "batch failed" in failure["reason"]


def test_batch_and_sync_share_one_cache(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        sync = settings(tmp_path, server, questions(6), "openai", batch=False)
        harvest(sync)
        result = harvest(settings(tmp_path, server, questions(10), "openai"))
        stats = server.stats()
    assert result.exchanges == 10 and result.from_cache == 6
    assert stats["paid"] == 6 and stats["batch"]["submitted"] == 4
    modes = [r.provenance["mode"] for r in read_exchanges(tmp_path / "exchanges.jsonl")]
    assert modes == ["sync"] * 6 + ["batch"] * 4


def test_batch_budget_counts_at_batch_price_and_submitted_batches_reserve_their_worst_case(
    tmp_path: Path,
) -> None:
    with WireServer(Faults()) as server:
        capped = harvest(settings(tmp_path / "a", server, questions(30), "openai", max_requests=12))
        assert capped.exchanges == 12 and capped.budget_exhausted
        assert server.stats()["batch"]["submitted"] == 12
        # the worst case of one request at the batch price is half the list price's
        dry = harvest(settings(tmp_path / "b", server, questions(10), "openai", dry_run=True))
        sync_dry = harvest(
            settings(tmp_path / "b", server, questions(10), "openai", dry_run=True, batch=False)
        )
    assert dry.estimate["mode"] == "batch" and dry.estimate["cost_worst_usd"] == pytest.approx(
        sync_dry.estimate["cost_worst_usd"] / 2, abs=2e-6
    )
    assert dry.estimate["cost_estimate_sync_usd"] == pytest.approx(
        2 * dry.estimate["cost_estimate_usd"], abs=2e-6
    )


def test_dry_run_counts_duplicates_and_the_run_reports_them(tmp_path: Path) -> None:
    queries = questions(5) + questions(3)
    with WireServer(Faults()) as server:
        dry = harvest(settings(tmp_path, server, queries, "anthropic", dry_run=True))
        result = harvest(settings(tmp_path, server, queries, "anthropic"))
        assert server.stats()["batch"]["submitted"] == 5
    assert dry.estimate["duplicate_queries"] == 3 and dry.estimate["to_send"] == 5
    assert result.duplicates == 3 and result.exchanges == 5
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["totals"]["duplicate_queries"] == 3
    assert manifest["duplicates"]["examples"][0] == "q 0: tell me something"


def test_a_refused_batch_call_stops_with_a_clear_error_and_a_rerun_resumes(
    tmp_path: Path, monkeypatch
) -> None:
    from distillscope.harvest.batch.providers import BatchAPIError

    monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
    with WireServer(Faults(api_key="right")) as server:
        with pytest.raises(BatchAPIError, match="HTTP 401"):
            harvest(settings(tmp_path, server, questions(6), "anthropic"))
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert manifest["status"] == "error" and "401" in manifest["error"]
        assert manifest["batches"][0]["stage"] == "creating"  # recorded, never created
        monkeypatch.setenv("ANTHROPIC_API_KEY", "right")
        result = harvest(settings(tmp_path, server, questions(6), "anthropic"))
        stats = server.stats()["batch"]
    assert result.exchanges == 6 and stats["batches"] == 1 and stats["submitted_twice"] == []


def test_batches_are_split_at_the_byte_limit_too(tmp_path: Path) -> None:
    with WireServer(Faults()) as server:
        result = harvest(settings(tmp_path, server, questions(10), "openai", batch_max_bytes=1200))
        inputs = [f for f in server.state.files.values() if f["purpose"] == "batch"]
    assert result.exchanges == 10
    assert len(inputs) >= 2 and all(f["bytes"] <= 1200 for f in inputs)
    assert sum(len(f["_content"].splitlines()) for f in inputs) == 10
