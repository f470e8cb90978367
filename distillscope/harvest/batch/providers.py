"""The two batch wire formats: OpenAI's Batch API and Anthropic's Message Batches, over httpx.

OpenAI: the requests are a JSONL file (``{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body"}`` a line) uploaded with ``POST /files``
(multipart, ``purpose=batch``); ``POST /batches`` (``input_file_id``,
``endpoint``, ``completion_window: "24h"``, ``metadata``) starts it;
``GET /batches/{id}`` walks ``validating -> in_progress -> finalizing ->
completed`` (or ``failed``, ``expired``, ``cancelling -> cancelled``);
``GET /files/{id}/content`` of ``output_file_id`` and ``error_file_id`` holds the
results. Limits: 50,000 requests and 200 MB a file.

Anthropic: ``POST /messages/batches`` with ``requests: [{custom_id, params}]``;
``GET /messages/batches/{id}`` walks ``in_progress -> (canceling) -> ended``;
``results_url`` is JSONL of ``{custom_id, result: {type: succeeded | errored |
canceled | expired, ...}}``. Limits: 100,000 requests and 256 MB a batch.

Each provider can also *find* what a killed process may have created without
learning its id: an uploaded file by its name, a batch by the ``metadata`` it
was created with (OpenAI) or by its creation time and request count among
batches no local record has adopted (Anthropic has no batch metadata).

The custom id of every request is its cache key (64 hex characters, within both
providers' rules), so each result line maps straight back to the cache.

This module must not touch the cache or the budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from distillscope.errors import DistillscopeError
from distillscope.harvest.client import TRANSIENT_STATUSES, _error_message, api_headers
from distillscope.harvest.formats import is_answer
from distillscope.harvest.limiter import parse_retry_after

MB = 1024 * 1024
#: Metadata key naming the local batch, so a resumed run can find a batch whose id it never saw.
METADATA_KEY = "distillscope_batch"


class BatchAPIError(DistillscopeError, RuntimeError):
    """The provider refused a batch operation for good (message meant for the user)."""


@dataclass
class RemoteStatus:
    """The provider's view of one batch."""

    status: str
    terminal: bool
    counts: dict[str, int]
    raw: dict[str, Any] = field(repr=False)


@dataclass
class ResultLine:
    """One request's outcome in a batch's results."""

    key: str
    answer_text: str | None  # the answer's JSON exactly as the provider wrote it, when answered
    status: int | None
    reason: str
    permanent: bool
    request_id: str | None = None


class _HTTP:
    """A blocking httpx client with retries of transient trouble (network, 408/409/429/5xx)."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float, retries: int = 8) -> None:
        self.base = base_url.rstrip("/")
        self.retries = retries
        self.http = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=30.0))

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else self.base + path
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise BatchAPIError(
                        f"{method} {path}: {type(exc).__name__} after {attempt + 1} tries"
                    ) from exc
                time.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            status = response.status_code
            if status < 400:
                return response
            transient = status in TRANSIENT_STATUSES or status >= 500
            if not transient or attempt == self.retries:
                raise BatchAPIError(f"{method} {path}: HTTP {status}: {_error_message(response.text)}")
            wait = parse_retry_after({k.lower(): v for k, v in response.headers.items()})
            time.sleep(min(60.0, wait if wait is not None else 0.5 * 2**attempt))
        raise AssertionError("unreachable")


class OpenAIBatches:
    """OpenAI's Batch API (and servers that copy it)."""

    name = "openai"
    max_requests = 50_000
    max_bytes = 200 * MB
    needs_upload = True
    endpoint = "/v1/chat/completions"

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 600.0) -> None:
        self.http = _HTTP(base_url, api_headers("openai", api_key), timeout_s)

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def line(key: str, body_json: str) -> bytes:
        """One line of the input file (the body is canonical JSON already: no re-encoding)."""
        return (
            f'{{"custom_id":"{key}","method":"POST","url":"/v1/chat/completions","body":{body_json}}}\n'
        ).encode()

    @staticmethod
    def line_size(key: str, body_json: str) -> int:
        return len(body_json.encode()) + len(key) + 70

    def upload(self, local_id: str, lines: Sequence[bytes]) -> str:
        files = {"file": (f"{local_id}.jsonl", b"".join(lines), "application/jsonl")}
        response = self.http.call("POST", "/files", data={"purpose": "batch"}, files=files)
        return str(response.json()["id"])

    def find_upload(self, local_id: str) -> str | None:
        """The id of a file a killed process uploaded for ``local_id`` (found by its name), if any."""
        name = f"{local_id}.jsonl"
        after: str | None = None
        while True:
            params: dict[str, Any] = {"purpose": "batch", "limit": 10000, "order": "desc"}
            if after:
                params["after"] = after
            page = self.http.call("GET", "/files", params=params).json()
            data = page.get("data") or []
            for entry in data:
                if entry.get("filename") == name and entry.get("status") != "error":
                    return str(entry["id"])
            if not page.get("has_more") or not data:
                return None
            after = data[-1]["id"]

    def create(self, local_id: str, input_file_id: str | None, lines: Sequence[bytes]) -> str:
        payload = {
            "input_file_id": input_file_id,
            "endpoint": self.endpoint,
            "completion_window": "24h",
            "metadata": {METADATA_KEY: local_id},
        }
        return str(self.http.call("POST", "/batches", json=payload).json()["id"])

    def find(self, local_id: str, since: float, count: int, adopted: set[str]) -> str | None:
        """The batch a killed process created for ``local_id``: its metadata names it."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = self.http.call("GET", "/batches", params=params).json()
            data = page.get("data") or []
            for entry in data:
                if (entry.get("metadata") or {}).get(METADATA_KEY) == local_id:
                    return str(entry["id"])
            # Batches are listed newest first: stop once past the moment this one could have been made.
            if not page.get("has_more") or not data or float(data[-1].get("created_at") or 0) < since - 600:
                return None
            after = data[-1]["id"]

    def status(self, remote_id: str) -> RemoteStatus:
        raw = self.http.call("GET", f"/batches/{remote_id}").json()
        status = str(raw.get("status"))
        counts = {k: int(v) for k, v in (raw.get("request_counts") or {}).items()}
        return RemoteStatus(status, status in ("completed", "failed", "expired", "cancelled"), counts, raw)

    def cancel(self, remote_id: str) -> None:
        self.http.call("POST", f"/batches/{remote_id}/cancel")

    def results(self, status: RemoteStatus) -> Iterator[ResultLine]:
        """Every line of the output and error files; a failed batch yields none (see :meth:`failure`)."""
        for name in ("output_file_id", "error_file_id"):
            file_id = status.raw.get(name)
            if not file_id:
                continue
            response = self.http.call("GET", f"/files/{file_id}/content")
            for text in response.text.splitlines():
                if text.strip():
                    yield _openai_line(json.loads(text))

    @staticmethod
    def failure(status: RemoteStatus) -> tuple[str, bool] | None:
        """Why a whole batch failed, and whether that is permanent (None when it did not fail)."""
        if status.status != "failed":
            return None
        errors = (status.raw.get("errors") or {}).get("data") or []
        reason = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "batch failed"
        transient_codes = {"token_limit_exceeded", "rate_limit_exceeded", "server_error"}
        permanent = not any(e.get("code") in transient_codes for e in errors)
        return f"batch failed ({reason})", permanent


def _openai_line(line: dict[str, Any]) -> ResultLine:
    key = str(line.get("custom_id"))
    response = line.get("response") or {}
    error = line.get("error")
    request_id = response.get("request_id") if isinstance(response, dict) else None
    if isinstance(error, dict):  # not processed: batch_expired, batch_cancelled ...
        return ResultLine(key, None, None, f"{error.get('code')}: {error.get('message')}", False, request_id)
    code = int(response.get("status_code") or 0)
    body = response.get("body")
    if code == 200 and is_answer(body):
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return ResultLine(key, text, 200, "ok", False, request_id)
    reason = f"HTTP {code}: {_error_message(json.dumps(body))}"
    permanent = 400 <= code < 500 and code not in TRANSIENT_STATUSES
    return ResultLine(key, None, code or None, reason, permanent, request_id)


class AnthropicBatches:
    """Anthropic's Message Batches API."""

    name = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * MB
    needs_upload = False

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float = 600.0) -> None:
        self.http = _HTTP(base_url, api_headers("anthropic", api_key), timeout_s)

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def line(key: str, body_json: str) -> bytes:
        return (f'{{"custom_id":"{key}","params":{body_json}}}').encode()

    @staticmethod
    def line_size(key: str, body_json: str) -> int:
        return len(body_json.encode()) + len(key) + 30

    def upload(self, local_id: str, lines: Sequence[bytes]) -> str:
        raise NotImplementedError("Anthropic batches carry their requests inline")

    def find_upload(self, local_id: str) -> str | None:
        return None

    def create(self, local_id: str, input_file_id: str | None, lines: Sequence[bytes]) -> str:
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        response = self.http.call(
            "POST", "/messages/batches", content=body, headers={"content-type": "application/json"}
        )
        return str(response.json()["id"])

    def find(self, local_id: str, since: float, count: int, adopted: set[str]) -> str | None:
        """A batch created since ``since`` holding ``count`` requests that no local batch has adopted.

        Message Batches carry no metadata; creation time and size are what a
        killed process's batch can be recognised by.
        """
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after_id"] = after
            page = self.http.call("GET", "/messages/batches", params=params).json()
            data = page.get("data") or []
            for entry in data:
                created = _rfc3339(entry.get("created_at"))
                total = sum(int(v) for v in (entry.get("request_counts") or {}).values())
                if entry["id"] not in adopted and created >= since - 60 and total == count:
                    return str(entry["id"])
            if not page.get("has_more") or not data:
                return None
            if _rfc3339(data[-1].get("created_at")) < since - 600:
                return None
            after = page.get("last_id") or data[-1]["id"]

    def status(self, remote_id: str) -> RemoteStatus:
        raw = self.http.call("GET", f"/messages/batches/{remote_id}").json()
        status = str(raw.get("processing_status"))
        counts = {k: int(v) for k, v in (raw.get("request_counts") or {}).items()}
        return RemoteStatus(status, status == "ended", counts, raw)

    def cancel(self, remote_id: str) -> None:
        self.http.call("POST", f"/messages/batches/{remote_id}/cancel")

    def results(self, status: RemoteStatus) -> Iterator[ResultLine]:
        url = status.raw.get("results_url")
        if not url:
            return
        response = self.http.call("GET", str(url))
        for text in response.text.splitlines():
            if text.strip():
                yield _anthropic_line(json.loads(text))

    @staticmethod
    def failure(status: RemoteStatus) -> tuple[str, bool] | None:
        return None  # a Message Batch fails request by request, never as a whole


def _anthropic_line(line: dict[str, Any]) -> ResultLine:
    key = str(line.get("custom_id"))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded" and is_answer(result.get("message")):
        text = json.dumps(result["message"], ensure_ascii=False, separators=(",", ":"))
        return ResultLine(key, text, 200, "ok", False)
    if kind == "errored":
        error = (result.get("error") or {}).get("error") or result.get("error") or {}
        error_type = str(error.get("type"))
        permanent = error_type in (
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "not_found_error",
        )
        return ResultLine(key, None, None, f"{error_type}: {error.get('message')}", permanent)
    return ResultLine(key, None, None, f"{kind}: not processed", False)


def _rfc3339(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def batch_api(
    api: str, base_url: str, api_key: str | None, timeout_s: float
) -> OpenAIBatches | AnthropicBatches:
    """The batch client of a teacher speaking ``api``."""
    cls = AnthropicBatches if api == "anthropic" else OpenAIBatches
    return cls(base_url, api_key, timeout_s=max(timeout_s, 60.0))
