"""One attempt at one chat request, classified: answer, transient failure or permanent failure.

Speaks OpenAI's ``/chat/completions`` (bearer key) or Anthropic's ``/messages``
(``x-api-key``, ``anthropic-version``; its ``anthropic-ratelimit-*`` headers are
restated as ``x-ratelimit-*`` for the limiter, :mod:`distillscope.harvest.formats`).

Transient (worth retrying): 408, 409, 429, any 5xx, timeouts, refused or dropped
connections, and a 200 whose body is not a chat completion. Permanent (recorded
with the reason, never retried): every other 4xx, such as 400 invalid request,
401 bad key, 403 forbidden, 404 unknown model, 422 unprocessable. The retry loop,
budget and rate limit live elsewhere (:mod:`distillscope.harvest.dispatch`).

Uses aiohttp directly (not the openai client, and not httpx, whose connection
pool costs several times more CPU per request at high concurrency) so the raw
body and headers are in hand the moment they arrive and can be committed to the
cache before any parsing into objects. The API key is sent as a bearer header and never logged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from distillscope.harvest.formats import ANTHROPIC_VERSION, anthropic_rate_headers, is_answer
from distillscope.harvest.limiter import parse_duration, parse_retry_after

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})

#: Response headers kept with each cached answer (provenance; never the request's Authorization).
KEPT_HEADERS = (
    "x-request-id",
    "openai-processing-ms",
    "openai-model",
    "openai-organization",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "request-id",
    "anthropic-organization-id",
)

Kind = Literal["answer", "transient", "permanent"]


@dataclass
class Outcome:
    kind: Kind
    status: int | None
    reason: str
    text: str = ""
    data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    retry_after: float | None = None


class TeacherClient:
    """POSTs canonical bodies to the teacher's chat endpoint (or ``path``: on-policy training scores
    through ``/completions``) over one pooled async connection set."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 120.0,
        max_connections: int = 64,
        idempotency_keys: bool = True,
        api: str = "openai",
        path: str | None = None,
    ) -> None:
        self.api = api
        headers = api_headers(api, api_key)
        headers["content-type"] = "application/json"
        path = path or ("/messages" if api == "anthropic" else "/chat/completions")
        self.url = base_url.rstrip("/") + path
        self.idempotency_keys = idempotency_keys
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 30.0))
        self._max_connections = max_connections
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop (aiohttp requires it).
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def send(self, body_json: str, key: str) -> Outcome:
        """One attempt; never raises for HTTP or network trouble, returns an :class:`Outcome`."""
        headers = {"idempotency-key": f"ds-{key[:48]}"} if self.idempotency_keys else None
        started = time.perf_counter()
        try:
            async with self._session().post(self.url, data=body_json.encode(), headers=headers) as response:
                raw = await response.read()
                status = response.status
                response_headers = {k.lower(): v for k, v in response.headers.items()}
        except TimeoutError as exc:
            return Outcome("transient", None, f"timeout ({type(exc).__name__})", latency_ms=_ms(started))
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(
                "transient", None, f"connection error ({type(exc).__name__})", latency_ms=_ms(started)
            )
        latency = _ms(started)
        text = raw.decode("utf-8", errors="replace")
        if self.api == "anthropic":
            response_headers = anthropic_rate_headers(response_headers, time.time())
        if status == 200:
            return _answer(text, response_headers, latency)
        reason = f"HTTP {status}: {_error_message(text)}"
        retry_after = parse_retry_after(response_headers)
        if retry_after is None and status == 429:
            retry_after = retry_delay_in_body(text)
        kind: Kind = "transient" if status in TRANSIENT_STATUSES or status >= 500 else "permanent"
        return Outcome(
            kind, status, reason, headers=response_headers, latency_ms=latency, retry_after=retry_after
        )


def api_headers(api: str, api_key: str | None) -> dict[str, str]:
    """Authentication and version headers of ``api`` (shared with the batch clients)."""
    headers = {"user-agent": "distillscope-harvest"}
    if api == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if api_key:
            headers["x-api-key"] = api_key
    elif api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _answer(text: str, headers: dict[str, str], latency: float) -> Outcome:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return Outcome(
            "transient", 200, "HTTP 200 with a body that is not JSON", headers=headers, latency_ms=latency
        )
    if not is_answer(data):
        return Outcome("transient", 200, "HTTP 200 without an answer", headers=headers, latency_ms=latency)
    return Outcome("answer", 200, "ok", text=text, data=data, headers=headers, latency_ms=latency)


def retry_delay_in_body(text: str) -> float | None:
    """Seconds from a Google ``RetryInfo`` detail (``"retryDelay": "13s"``): how Gemini says when to retry."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    error = (data[0] if isinstance(data, list) and data else data) or {}
    error = error.get("error") if isinstance(error, dict) else None
    for detail in (error or {}).get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return parse_duration(str(detail.get("retryDelay")))
    return None


def _error_message(text: str) -> str:
    """The message of an error body: OpenAI's, Anthropic's ``{"error": {...}}``, Gemini's ``[{"error"}]``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text[:200].strip() or "(empty body)"
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if error is None:
        return text[:200].strip() or "(empty body)"
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
