"""One attempt at one chat-completions request, classified: answer, transient failure or permanent failure.

Transient (worth retrying): 408, 409, 429, any 5xx, timeouts, refused or dropped
connections, and a 200 whose body is not a chat completion. Permanent (recorded
with the reason, never retried): every other 4xx, such as 400 invalid request,
401 bad key, 403 forbidden, 404 unknown model, 422 unprocessable. The retry loop,
budget and rate limit live elsewhere (:mod:`distillscope.harvest.dispatch`).

Uses httpx directly (not the openai client) so the raw body and headers are in
hand the moment they arrive and can be committed to the cache before any
parsing into objects. The API key is sent as a bearer header and never logged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from distillscope.harvest.limiter import parse_retry_after

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})

#: Response headers kept with each cached answer (provenance; never the request's Authorization).
KEPT_HEADERS = (
    "x-request-id",
    "openai-processing-ms",
    "openai-model",
    "openai-organization",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
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
    """POSTs canonical bodies to ``{base_url}/chat/completions`` over one pooled async connection set."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 120.0,
        max_connections: int = 64,
        idempotency_keys: bool = True,
    ) -> None:
        headers = {"content-type": "application/json", "user-agent": "distillscope-harvest"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.idempotency_keys = idempotency_keys
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, body_json: str, key: str) -> Outcome:
        """One attempt; never raises for HTTP or network trouble, returns an :class:`Outcome`."""
        headers = {"idempotency-key": f"ds-{key[:48]}"} if self.idempotency_keys else None
        started = time.perf_counter()
        try:
            response = await self._http.post(self.url, content=body_json.encode(), headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome("transient", None, f"timeout ({type(exc).__name__})", latency_ms=_ms(started))
        except httpx.TransportError as exc:
            return Outcome(
                "transient", None, f"connection error ({type(exc).__name__})", latency_ms=_ms(started)
            )
        latency = _ms(started)
        response_headers = {k.lower(): v for k, v in response.headers.items()}
        status = response.status_code
        if status == 200:
            return _answer(response.text, response_headers, latency)
        reason = f"HTTP {status}: {_error_message(response.text)}"
        retry_after = parse_retry_after(response_headers)
        kind: Kind = "transient" if status in TRANSIENT_STATUSES or status >= 500 else "permanent"
        return Outcome(
            kind, status, reason, headers=response_headers, latency_ms=latency, retry_after=retry_after
        )


def _answer(text: str, headers: dict[str, str], latency: float) -> Outcome:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return Outcome(
            "transient", 200, "HTTP 200 with a body that is not JSON", headers=headers, latency_ms=latency
        )
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return Outcome("transient", 200, "HTTP 200 without choices", headers=headers, latency_ms=latency)
    return Outcome("answer", 200, "ok", text=text, data=data, headers=headers, latency_ms=latency)


def _error_message(text: str) -> str:
    try:
        error = json.loads(text).get("error")
    except (json.JSONDecodeError, AttributeError):
        return text[:200].strip() or "(empty body)"
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
