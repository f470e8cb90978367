"""The wire server speaks both batch wire formats (checked with the official openai and anthropic SDKs).

State transitions on a clock, partial failures in the error file, failed and
expired batches, cancellation; Anthropic's Messages API and Gemini's
OpenAI-compatible errors.
"""

from __future__ import annotations

import io
import json
import time

import anthropic
import httpx
import openai
import pytest

from distillscope.testing.wire_server import Faults, WireServer, body_key


def _input_file(count: int, reject: int | None = None) -> bytes:
    lines = []
    for i in range(count):
        content = f"question {i}" + (" #REJECT#" if i == reject else "")
        body = {"model": "m", "messages": [{"role": "user", "content": content}], "max_tokens": 6}
        lines.append({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _wait(get, done, timeout: float = 20.0):
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        current = get()
        status = getattr(current, "status", None) or current.processing_status
        if not seen or seen[-1] != status:
            seen.append(status)
        if done(status):
            return current, seen
        assert time.monotonic() < deadline, f"stuck in {seen}"
        time.sleep(0.02)


def test_openai_batch_walks_every_state_and_splits_results_into_output_and_error_files() -> None:
    faults = Faults(batch_validate_s=0.3, batch_progress_s=0.4, batch_finalize_s=0.3)
    with WireServer(faults) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        upload = client.files.create(file=("in.jsonl", io.BytesIO(_input_file(6, reject=2))), purpose="batch")
        assert upload.purpose == "batch" and upload.filename == "in.jsonl"
        batch = client.batches.create(
            input_file_id=upload.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"run": "t"},
        )
        batch, seen = _wait(lambda: client.batches.retrieve(batch.id), lambda s: s == "completed")
        assert seen == ["validating", "in_progress", "finalizing", "completed"]
        assert batch.request_counts.total == 6 and batch.request_counts.completed == 5
        assert batch.request_counts.failed == 1 and batch.metadata == {"run": "t"}
        output = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
        errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
        assert sorted(x["custom_id"] for x in output) == ["r0", "r1", "r3", "r4", "r5"]
        assert all(x["response"]["status_code"] == 200 for x in output)
        assert output[0]["response"]["body"]["choices"][0]["message"]["content"]
        assert [(x["custom_id"], x["response"]["status_code"]) for x in errors] == [("r2", 400)]
        assert [b.id for b in client.batches.list()] == [batch.id]
        stats = server.stats()["batch"]
    assert stats["submitted"] == 6 and stats["paid"] == 5 and stats["submitted_twice"] == []


def test_openai_batch_failed_validation_expired_and_cancelled() -> None:
    with WireServer(Faults(batch_fail=True)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        upload = client.files.create(file=("in.jsonl", io.BytesIO(_input_file(3))), purpose="batch")
        failed = client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        failed = client.batches.retrieve(failed.id)
        assert failed.status == "failed" and failed.errors.data[0].code
        assert failed.output_file_id is None
        # a malformed line fails the batch with its line number, like OpenAI's validation
        server.set_faults(Faults())
        bad = client.files.create(file=("bad.jsonl", io.BytesIO(b'{"custom_id": "a"\n')), purpose="batch")
        rejected = client.batches.create(
            input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        rejected = client.batches.retrieve(rejected.id)
        assert rejected.status == "failed" and rejected.errors.data[0].line == 1

        server.set_faults(Faults(batch_expire_after=2))
        upload = client.files.create(file=("in.jsonl", io.BytesIO(_input_file(5))), purpose="batch")
        expired = client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        expired = client.batches.retrieve(expired.id)
        assert expired.status == "expired"
        answered = client.files.content(expired.output_file_id).text.splitlines()
        not_run = [json.loads(x) for x in client.files.content(expired.error_file_id).text.splitlines()]
        assert len(answered) == 2 and {x["error"]["code"] for x in not_run} == {"batch_expired"}

        server.set_faults(Faults(batch_progress_s=2.0, batch_cancel_s=0.3))
        upload = client.files.create(file=("in.jsonl", io.BytesIO(_input_file(8))), purpose="batch")
        running = client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        time.sleep(0.6)
        assert client.batches.cancel(running.id).status == "cancelling"
        cancelled, seen = _wait(lambda: client.batches.retrieve(running.id), lambda s: s == "cancelled")
        kept = (
            client.files.content(cancelled.output_file_id).text.splitlines()
            if cancelled.output_file_id
            else []
        )
        assert seen[0] == "cancelling" and 0 < len(kept) < 8
        assert server.stats()["batch"]["paid"] == 2 + len(kept)


def test_openai_batch_create_refuses_bad_input_in_openai_format(wire: WireServer) -> None:
    client = openai.OpenAI(base_url=wire.base_url, api_key="x", max_retries=0)
    upload = client.files.create(file=("in.jsonl", io.BytesIO(_input_file(1))), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="completion_window"):
        client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="1h"
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.BadRequestError, match="purposes"):
        client.files.create(file=("in.jsonl", io.BytesIO(b"{}")), purpose="nonsense")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError, match="batch_nope"):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.cancel("batch_nope")


def test_anthropic_message_batches_with_the_official_sdk() -> None:
    faults = Faults(batch_progress_s=0.4, batch_cancel_s=0.2)
    with WireServer(faults) as server:
        client = anthropic.Anthropic(base_url=server.base_url.removesuffix("/v1"), api_key="k", max_retries=0)
        requests = [
            {
                "custom_id": f"c{i}",
                "params": {
                    "model": "claude-x",
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": f"hi {i}"}],
                },
            }
            for i in range(4)
        ]
        requests.append(
            {
                "custom_id": "bad",
                "params": {"model": "claude-x", "messages": [{"role": "user", "content": "x"}]},
            }
        )
        batch = client.messages.batches.create(requests=requests)
        assert batch.processing_status == "in_progress" and batch.request_counts.processing == 5
        batch, _ = _wait(lambda: client.messages.batches.retrieve(batch.id), lambda s: s == "ended")
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert {k: v.type for k, v in results.items()} == {
            **{f"c{i}": "succeeded" for i in range(4)},
            "bad": "errored",
        }
        assert results["c0"].message.content[0].text and results["c0"].message.usage.output_tokens > 0
        assert results["bad"].error.error.type == "invalid_request_error"
        assert [b.id for b in client.messages.batches.list()] == [batch.id]

        running = client.messages.batches.create(requests=requests[:4])
        assert client.messages.batches.cancel(running.id).processing_status == "canceling"
        ended, _ = _wait(lambda: client.messages.batches.retrieve(running.id), lambda s: s == "ended")
        kinds = {r.result.type for r in client.messages.batches.results(ended.id)}
        assert "canceled" in kinds and ended.request_counts.canceled > 0
        with pytest.raises(anthropic.BadRequestError, match="unique"):
            client.messages.batches.create(requests=requests[:1] * 2)
        with pytest.raises(anthropic.NotFoundError, match="not_found_error"):
            client.messages.batches.retrieve("msgbatch_nope")
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.results(batch.id.replace("msgbatch_", "msgbatch_x"))


def test_anthropic_messages_wire_format() -> None:
    with WireServer(Faults(api_key="secret", rpm=600)) as server:
        base = server.base_url.removesuffix("/v1")
        client = anthropic.Anthropic(base_url=base, api_key="secret", max_retries=0)
        raw = client.messages.with_raw_response.create(
            model="claude-x", max_tokens=3, system="be brief", messages=[{"role": "user", "content": "hello"}]
        )
        message = raw.parse()
        assert message.type == "message" and message.stop_reason == "max_tokens"
        assert message.usage.output_tokens == 3 and message.usage.input_tokens > 0
        assert raw.headers["anthropic-ratelimit-requests-limit"] == "600"
        assert raw.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0).messages.create(
                model="m", max_tokens=3, messages=[{"role": "user", "content": "x"}]
            )
        plain = httpx.post(f"{base}/v1/messages", headers={"x-api-key": "secret"}, json={"model": "m"})
        assert plain.status_code == 400 and plain.json()["error"]["message"].startswith("anthropic-version")
        no_max = httpx.post(
            f"{base}/v1/messages",
            headers={"x-api-key": "secret", "anthropic-version": "2023-06-01"},
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        assert no_max.status_code == 400 and no_max.json()["type"] == "error"
        assert "max_tokens" in no_max.json()["error"]["message"]


def test_gemini_compatible_endpoint_errors_are_a_list_and_429_carries_retry_info() -> None:
    with WireServer(Faults(schedule=["429"], retry_after_s=2)) as server:
        url = server.base_url.removesuffix("/v1") + "/v1beta/openai/chat/completions"
        body = {"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "hi"}]}
        limited = httpx.post(url, json=body)
        assert limited.status_code == 429 and "retry-after" not in limited.headers
        detail = limited.json()[0]["error"]
        assert detail["status"] == "RESOURCE_EXHAUSTED" and detail["details"][0]["retryDelay"] == "2s"
        ok = httpx.post(url, json=body)
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]
        rejected = httpx.post(url, json={**body, "messages": [{"role": "user", "content": "#REJECT#"}]})
        assert rejected.status_code == 400 and rejected.json()[0]["error"]["status"] == "INVALID_ARGUMENT"
        assert server.stats()["paid"] == 1 and server.stats()["per_body"][body_key(body)]["received"] == 2
