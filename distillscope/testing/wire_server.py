"""A scriptable server that speaks OpenAI's chat-completions wire format, for tests and benchmarks.

It is a real FastAPI app served by uvicorn on loopback (in a thread, or as a
subprocess with ``python -m distillscope.testing.wire_server --port N``), so a
client under test goes through real sockets, real HTTP and real headers. Answers
are deterministic fake text derived from the prompt, with ``usage``,
``system_fingerprint`` and ``logprobs``/``top_logprobs`` in the real shape.

Faults are injected on purpose: a schedule or a fraction of 429s (with
``x-ratelimit-*`` and ``retry-after`` headers), 500/503, 400 for prompts holding a
marker, dropped connections (the socket is closed without any response), slow
answers, a fixed latency, and a server-enforced rate limit (requests and tokens
per minute, token buckets) that answers 429 when exceeded. The server counts, per
canonical request body, how many requests it received and how many it answered
and would have billed ("paid"); ``GET /_stats`` and :meth:`WireServer.stats`
expose the counters, ``POST /_faults`` changes the faults at run time.

A request whose client disconnected before the answer was ready is not paid.
An ``Idempotency-Key`` header, when sent, makes a repeated key replay the stored
answer without paying again (as providers that support such keys do); turn it off
with ``honour_idempotency=False`` to see what a client does on its own.

It also speaks, with the same answers and faults:

- Anthropic's Messages API (``POST /v1/messages``: ``x-api-key``,
  ``anthropic-version`` required, top-level ``system``, ``max_tokens`` required,
  ``usage.input_tokens/output_tokens``, ``anthropic-ratelimit-*`` headers,
  Anthropic-shaped errors, 529 overloaded);
- Gemini's OpenAI-compatible endpoint (``/v1beta/openai/chat/completions``:
  errors as a JSON *list*, 429s with a ``RetryInfo`` delay in the body and no
  rate-limit headers);
- OpenAI's Batch API (``/v1/files`` multipart upload with ``purpose=batch``,
  file listing and content; ``/v1/batches`` create, list, get, cancel) and
  Anthropic's Message Batches (``/v1/messages/batches`` create, list, get,
  cancel, ``results``). A batch moves through its states on a clock
  (``batch_validate_s``, ``batch_progress_s``, ``batch_finalize_s``,
  ``batch_cancel_s``), can fail validation (``batch_fail``), expire after N
  answers (``batch_expire_after``), answer 400 in its error file for prompts
  holding ``reject_marker`` and 500 the first time for prompts holding
  ``batch_transient_marker``; ``batch_*_delay_s`` hold an upload, a create or a
  download open after the server has done the work (to kill a client there).
  ``stats()["batch"]`` counts, per request body, how often it was submitted in
  a batch and how often a batch answered (billed) it.

This module must not import anything from distillscope's components: it stands
in for someone else's API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

#: Actions a fault schedule may name.
ACTIONS = ("ok", "429", "500", "503", "400", "drop", "slow", "garbage")

#: Words the fake answers are made of (a leading space makes each a "token").
_VOCAB_TEXT = (
    "the of and to in is that for it as with was on be by at this are from or an which one "
    "model answer data token value result step first then number total each time because so "
    "we can see that it follows from the question here is a short reply about"
)
_VOCAB = tuple(_VOCAB_TEXT.split())

Responder = Callable[[list[dict[str, Any]], int], list[str]]


def body_key(body: dict[str, Any]) -> str:
    """The canonical key of a request body: SHA-256 of its sorted, compact JSON."""
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def prompt_token_estimate(messages: list[dict[str, Any]]) -> int:
    """A cheap, deterministic stand-in for a tokenizer: words plus 4 per message."""
    return sum(len(str(m.get("content") or "").split()) + 4 for m in messages)


def default_responder(messages: list[dict[str, Any]], max_tokens: int) -> list[str]:
    """Deterministic tokens derived from the prompt: 6-29 words, cut at ``max_tokens``."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    length = 6 + digest[0] % 24
    rng = random.Random(digest)
    return [" " + rng.choice(_VOCAB) for _ in range(length)]


@dataclass
class Faults:
    """What the server does wrong, and how fast it is.

    ``schedule`` lists actions for the server's 1st, 2nd, ... request in arrival
    order; ``per_body`` lists actions for the 1st, 2nd, ... attempt of *each*
    request body (deterministic under concurrency). After both run out, the
    ``*_rate`` fractions apply (drawn from a generator seeded with ``seed``).
    ``rpm``/``tpm`` enforce a rate limit with token buckets holding
    ``burst_seconds`` worth of capacity. Tokens of a request are counted like
    OpenAI does: the prompt estimate plus ``max_tokens``.
    """

    latency_s: float = 0.0
    slow_s: float = 2.0
    retry_after_s: float = 1.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_slow: float = 0.0
    schedule: list[str] = field(default_factory=list)
    per_body: list[str] = field(default_factory=list)
    reject_marker: str | None = "#REJECT#"
    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 1.0
    seed: int = 0
    api_key: str | None = None
    honour_idempotency: bool = True
    # batch APIs
    batch_validate_s: float = 0.0
    batch_progress_s: float = 0.0
    batch_finalize_s: float = 0.0
    batch_cancel_s: float = 0.0
    batch_fail: bool = False
    batch_expire_after: int | None = None
    batch_transient_marker: str | None = "#BATCH500#"
    batch_upload_delay_s: float = 0.0
    batch_create_delay_s: float = 0.0
    batch_download_delay_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("schedule", "per_body"):
            bad = [a for a in getattr(self, name) if a not in ACTIONS]
            if bad:
                raise ValueError(f"Faults.{name}: unknown action(s) {bad}; use {ACTIONS}")
        for name in ("rate_429", "rate_500", "rate_503", "rate_drop", "rate_slow"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Faults.{name} must be within [0, 1]")
        if self.latency_s < 0 or self.slow_s < 0 or self.retry_after_s < 0:
            raise ValueError("Faults: latencies and retry_after_s must be >= 0")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Faults.{name} must be positive")


class _Bucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    def __init__(self, per_minute: float, burst_seconds: float) -> None:
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, amount: float) -> bool:
        self._refill()
        if self.level >= amount:
            self.level -= amount
            return True
        return False

    def wait_for(self, amount: float) -> float:
        self._refill()
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def reset_after(self) -> float:
        self._refill()
        return (self.capacity - self.level) / self.rate


def _duration(seconds: float) -> str:
    """OpenAI's reset-header style: ``1s``, ``250ms``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if minutes else f"{rest:.3g}s"


@dataclass
class _State:
    faults: Faults
    received: Counter = field(default_factory=Counter)
    paid: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    tokens_paid: int = 0
    sequence: int = 0
    first_at: float | None = None
    last_paid_at: float | None = None
    rng: random.Random = field(default_factory=random.Random)
    requests_bucket: _Bucket | None = None
    tokens_bucket: _Bucket | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_submitted: Counter = field(default_factory=Counter)
    batch_paid: Counter = field(default_factory=Counter)
    batch_attempts: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.requests_bucket = _Bucket(faults.rpm, faults.burst_seconds) if faults.rpm else None
        self.tokens_bucket = _Bucket(faults.tpm, faults.burst_seconds) if faults.tpm else None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": sum(self.received.values()),
                "paid": sum(self.paid.values()),
                "paid_twice": sorted(k for k, n in self.paid.items() if n > 1),
                "tokens_paid": self.tokens_paid,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0]))},
                "first_request_at": self.first_at,
                "last_paid_at": self.last_paid_at,
                "per_body": {k: {"received": self.received[k], "paid": self.paid[k]} for k in self.received},
                "batch": {
                    "files": sum(1 for f in self.files.values() if f["purpose"] == "batch"),
                    "batches": len(self.batches),
                    "submitted": sum(self.batch_submitted.values()),
                    "submitted_twice": sorted(k for k, n in self.batch_submitted.items() if n > 1),
                    "paid": sum(self.batch_paid.values()),
                    "paid_twice": sorted(k for k, n in self.batch_paid.items() if n > 1),
                    "events": dict(self.events),
                    "per_body": {
                        k: {"submitted": n, "paid": self.batch_paid[k]}
                        for k, n in self.batch_submitted.items()
                    },
                },
            }

    def reset(self) -> None:
        with self.lock:
            for counter in (
                self.received,
                self.paid,
                self.statuses,
                self.attempts,
                self.batch_submitted,
                self.batch_paid,
                self.batch_attempts,
                self.events,
            ):
                counter.clear()
            self.files.clear()
            self.batches.clear()
            self.idempotent.clear()
            self.arrivals.clear()
            self.tokens_paid = 0
            self.sequence = 0
            self.first_at = self.last_paid_at = None
        self.configure(self.faults)


class _Drop(Exception):
    """Raised inside the app to close the connection without answering."""


def _choose_action(state: _State, key: str) -> str:
    faults = state.faults
    with state.lock:
        sequence = state.sequence
        state.sequence += 1
        attempt = state.attempts[key]
        state.attempts[key] += 1
        if sequence < len(faults.schedule):
            return faults.schedule[sequence]
        if attempt < len(faults.per_body):
            return faults.per_body[attempt]
        draw = state.rng.random()
    edges = (
        ("429", faults.rate_429),
        ("500", faults.rate_500),
        ("503", faults.rate_503),
        ("drop", faults.rate_drop),
        ("slow", faults.rate_slow),
    )
    for action, rate in edges:
        if draw < rate:
            return action
        draw -= rate
    return "ok"


def _rate_headers(state: _State) -> dict[str, str]:
    headers: dict[str, str] = {}
    for kind, bucket in (("requests", state.requests_bucket), ("tokens", state.tokens_bucket)):
        if bucket is None:
            continue
        headers[f"x-ratelimit-limit-{kind}"] = str(int(bucket.limit))
        headers[f"x-ratelimit-remaining-{kind}"] = str(int(bucket.level))
        headers[f"x-ratelimit-reset-{kind}"] = _duration(bucket.reset_after())
    return headers


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


def _error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None, flavour: str = "openai"
) -> Any:
    """An error in the ecosystem's format: OpenAI's, Anthropic's, or Gemini's (a JSON list)."""
    headers = dict(headers or {})
    payload: Any
    if flavour == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        payload = {"type": "error", "error": {"type": kind, "message": message}}
        headers = _anthropic_headers(headers)
    elif flavour == "gemini":
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
        }
        if status == 429:  # Gemini says when to retry in the body, not in headers
            retry = headers.get("retry-after", "1")
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"}
            ]
        payload, headers = [{"error": error}], {}
    else:
        code = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status)
        payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(payload, status_code=status, headers=headers)


def _anthropic_headers(headers: dict[str, str]) -> dict[str, str]:
    """``x-ratelimit-*`` restated the way Anthropic sends them (reset as an RFC 3339 time)."""
    from datetime import UTC, datetime

    out = {k: v for k, v in headers.items() if not k.startswith("x-ratelimit-") and k != "retry-after-ms"}
    for kind in ("requests", "tokens"):
        if f"x-ratelimit-limit-{kind}" in headers:
            reset = _seconds(headers.get(f"x-ratelimit-reset-{kind}", "0s"))
            when = datetime.fromtimestamp(time.time() + reset, UTC).isoformat().replace("+00:00", "Z")
            out[f"anthropic-ratelimit-{kind}-limit"] = headers[f"x-ratelimit-limit-{kind}"]
            out[f"anthropic-ratelimit-{kind}-remaining"] = headers[f"x-ratelimit-remaining-{kind}"]
            out[f"anthropic-ratelimit-{kind}-reset"] = when
    return out


def _seconds(duration: str) -> float:
    if duration.endswith("ms"):
        return float(duration[:-2]) / 1000
    if "m" in duration:
        minutes, rest = duration.split("m", 1)
        return float(minutes) * 60 + float(rest.rstrip("s") or 0)
    return float(duration.rstrip("s") or 0)


def _garbage() -> Any:
    from fastapi.responses import Response

    return Response('{"id": "chatcmpl-cut', status_code=200, media_type="application/json")


def _logprob_entry(token: str, rng: random.Random, top: int) -> dict[str, Any]:
    logprob = -round(rng.random() * 2.0, 4)
    entry: dict[str, Any] = {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    alternatives = [token] + [" " + w for w in rng.sample(_VOCAB, k=min(top + 1, len(_VOCAB)))]
    unique = list(dict.fromkeys(alternatives))[:top]
    entry["top_logprobs"] = [
        {"token": t, "logprob": logprob if t == token else logprob - 0.5 - i, "bytes": list(t.encode())}
        for i, t in enumerate(unique)
    ]
    return entry


def _completion(
    body: dict[str, Any], responder: Responder, fingerprint: str, chat: bool = True
) -> dict[str, Any]:
    messages = body.get("messages") or [{"role": "user", "content": str(body.get("prompt", ""))}]
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
    choices = []
    completion_tokens = 0
    for index in range(int(body.get("n") or 1)):
        natural = responder(messages, max_tokens)
        tokens = natural[:max_tokens]
        finish = "length" if len(natural) > max_tokens else "stop"
        completion_tokens += len(tokens)
        text = "".join(tokens).strip() if not natural or natural[0].startswith(" ") else "".join(tokens)
        choice: dict[str, Any] = {"index": index, "finish_reason": finish, "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": text, "refusal": None}
        else:
            choice["text"] = text
        pieces = (
            [t.lstrip() if i == 0 else t for i, t in enumerate(tokens)] if text != "".join(tokens) else tokens
        )
        if body.get("logprobs"):
            rng = random.Random(body_key(body) + str(index))
            top = int(body.get("top_logprobs") or 0) if chat else int(body.get("logprobs") or 0)
            content = [_logprob_entry(t, rng, top) for t in tokens]
            choice["logprobs"] = {"content": content, "refusal": None} if chat else _legacy_logprobs(content)
        choice["_pieces"] = pieces  # the text as streamed, token by token (removed before sending)
        choices.append(choice)
    prompt_tokens = prompt_token_estimate(messages)
    return {
        "id": "chatcmpl-" + body_key(body)[:24],
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": str(body.get("model") or "wire-model"),
        "system_fingerprint": fingerprint,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _legacy_logprobs(content: list[dict[str, Any]]) -> dict[str, Any]:
    """The /v1/completions log-prob shape: parallel lists and {token: logprob} maps."""
    offsets, position = [], 0
    for entry in content:
        offsets.append(position)
        position += len(entry["token"])
    return {
        "tokens": [e["token"] for e in content],
        "token_logprobs": [e["logprob"] for e in content],
        "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in content],
        "text_offset": offsets,
    }


def _public(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as sent: without the streaming pieces kept on the side."""
    choices = [{k: v for k, v in c.items() if k != "_pieces"} for c in answer["choices"]]
    return {**answer, "choices": choices}


def _stream_chunks(answer: dict[str, Any], include_usage: bool, chat: bool = True) -> Iterator[str]:
    base = {k: answer[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk" if chat else "text_completion"
    for choice in answer["choices"]:
        index = choice["index"]
        if chat:
            first = {"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            yield json.dumps({**base, "choices": [first]})
        entries = ((choice.get("logprobs") or {}).get("content") or []) if chat else []
        for position, piece in enumerate(choice["_pieces"]):
            if chat:
                delta: dict[str, Any] = {"index": index, "delta": {"content": piece}, "finish_reason": None}
                if position < len(entries):
                    delta["logprobs"] = {"content": [entries[position]], "refusal": None}
            else:
                delta = {"index": index, "text": piece, "logprobs": None, "finish_reason": None}
            yield json.dumps({**base, "choices": [delta]})
        last: dict[str, Any] = {"index": index, "finish_reason": choice["finish_reason"]}
        last.update({"delta": {}} if chat else {"text": "", "logprobs": None})
        yield json.dumps({**base, "choices": [last]})
    if include_usage:
        yield json.dumps({**base, "choices": [], "usage": answer["usage"]})


def create_wire_app(
    faults: Faults | None = None,
    responder: Responder | None = None,
    model: str = "wire-model",
    fingerprint: str = "fp_wire_0001",
) -> Any:
    """The FastAPI app; ``app.state.wire`` holds its counters and faults."""
    state = _State(faults or Faults())
    state.configure(state.faults)
    answer_with = responder or default_responder
    app = FastAPI(title="distillscope wire server")
    app.state.wire = state

    async def _admit(
        request: Request, body: dict[str, Any], flavour: str = "openai"
    ) -> tuple[str, Any | None]:
        """Decide the fate of a request: ("ok", None), ("slow", None) or (action, error response)."""
        key = body_key(body)
        with state.lock:
            state.received[key] += 1
            state.arrivals.setdefault(key, []).append(time.monotonic())
            state.first_at = state.first_at or time.time()
        faults = state.faults
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if faults.api_key and not _authorised(request, faults.api_key, flavour):
            return "401", _error(401, "Incorrect API key provided.", "invalid_request_error", flavour=flavour)
        action = _choose_action(state, key)
        if action == "drop":
            # Abort here, before Starlette's error middleware can answer 500 on the way out.
            with state.lock:
                state.statuses["dropped"] += 1
            _abort(request.scope.get("wire.cycle"))
            raise _Drop()
        marker = faults.reject_marker
        if action == "400" or (marker and marker in json.dumps(body.get("messages") or body.get("prompt"))):
            message = "The request was rejected by the wire server."
            return "400", _error(400, message, "invalid_request_error", flavour=flavour)
        if action == "garbage":  # a 200 whose body is cut short: not a completion, not billed
            return "garbage", _garbage()
        if action in ("500", "503"):
            status = 529 if flavour == "anthropic" and action == "503" else int(action)
            return action, _error(status, f"Injected {action}.", "server_error", flavour=flavour)
        if action == "429":
            headers = {"retry-after": f"{faults.retry_after_s:g}", **_rate_headers(state)}
            headers["retry-after-ms"] = str(int(faults.retry_after_s * 1000))
            return "429", _error(429, "Rate limit reached (injected).", "requests", headers, flavour=flavour)
        limited = _enforce_limits(body, flavour)
        if limited is not None:
            return "429", limited
        return action, None

    def _enforce_limits(body: dict[str, Any], flavour: str = "openai") -> Any | None:
        messages = body.get("messages") or [{"content": str(body.get("prompt", ""))}]
        cost = prompt_token_estimate(messages) + int(body.get("max_tokens") or 256)
        with state.lock:
            waits = []
            requests_bucket, tokens_bucket = state.requests_bucket, state.tokens_bucket
            if requests_bucket is not None and requests_bucket.wait_for(1) > 0:
                waits.append(requests_bucket.wait_for(1))
            if tokens_bucket is not None and tokens_bucket.wait_for(cost) > 0:
                waits.append(tokens_bucket.wait_for(cost))
            if not waits:
                if requests_bucket is not None:
                    requests_bucket.take(1)
                if tokens_bucket is not None:
                    tokens_bucket.take(cost)
                return None
            headers = _rate_headers(state)
        wait = max(waits)
        headers["retry-after"] = str(max(1, round(wait + 0.5)))
        headers["retry-after-ms"] = str(max(1, int(wait * 1000)))
        return _error(429, f"Rate limit reached; retry in {wait:.3f}s.", "requests", headers, flavour=flavour)

    def _pay(request: Request, body: dict[str, Any], answer: dict[str, Any]) -> bool:
        cycle = request.scope.get("wire.cycle")
        if cycle is not None and getattr(cycle, "disconnected", False):
            return False  # nobody is there to take the answer: not billed
        key = body_key(body)
        with state.lock:
            state.paid[key] += 1
            usage = answer["usage"]
            state.tokens_paid += usage.get("total_tokens") or usage["input_tokens"] + usage["output_tokens"]
            state.last_paid_at = time.time()
        return True

    async def _handle(request: Request, chat: bool, flavour: str = "openai") -> Any:
        try:
            body = await request.json()
        except ClientDisconnect:
            return JSONResponse({}, status_code=499)  # the client left mid-request; nothing to answer
        except ValueError:
            message = "We could not parse the JSON body of your request."
            return _error(400, message, "invalid_request_error", flavour=flavour)
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.", "invalid_request_error", flavour=flavour)
        problem = _anthropic_problem(request, body) if flavour == "anthropic" else None
        if chat and flavour != "anthropic" and not isinstance(body.get("messages"), list):
            problem = "'messages' is a required property."
        if problem:
            return _error(400, problem, "invalid_request_error", flavour=flavour)
        idem = request.headers.get("idempotency-key") if state.faults.honour_idempotency else None
        action, refusal = await _admit(request, body, flavour)
        headers = _rate_headers(state)
        if flavour == "anthropic":
            headers = _anthropic_headers(headers)
        elif flavour == "gemini":
            headers = {}  # Gemini's compatible endpoint sends no rate-limit headers
        if refusal is not None:
            with state.lock:
                state.statuses[int(action) if action.isdigit() else action] += 1
            return refusal
        if action == "slow":
            await asyncio.sleep(state.faults.slow_s)
        if idem and idem in state.idempotent:
            with state.lock:
                state.statuses[200] += 1
            return JSONResponse(state.idempotent[idem], headers={**headers, "idempotent-replayed": "true"})
        if flavour == "anthropic":
            full = answer = _message(body, answer_with)
        else:
            full = _completion(body, answer_with, fingerprint, chat=chat)
            answer = _public(full)
        if not _pay(request, body, answer):
            return JSONResponse({}, status_code=499)
        if idem:
            state.idempotent[idem] = answer
        with state.lock:
            state.statuses[200] += 1
        if body.get("stream") and flavour != "anthropic":
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

            async def events() -> Any:
                for chunk in _stream_chunks(full, include_usage, chat=chat):
                    yield f"data: {chunk}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
        return JSONResponse(answer, headers=headers)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await _handle(request, chat=True)

    @app.post("/v1beta/openai/chat/completions")
    async def gemini_chat_completions(request: Request) -> Any:
        return await _handle(request, chat=True, flavour="gemini")

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await _handle(request, chat=False)

    @app.post("/v1/messages")
    async def messages(request: Request) -> Any:
        return await _handle(request, chat=True, flavour="anthropic")

    _batch_routes(app, state, answer_with, fingerprint)

    @app.get("/v1/models")
    async def models() -> Any:
        return {
            "object": "list",
            "data": [{"id": model, "object": "model", "created": 0, "owned_by": "wire"}],
        }

    @app.get("/_stats")
    async def stats() -> Any:
        return state.stats()

    @app.post("/_reset")
    async def reset() -> Any:
        state.reset()
        return {"ok": True}

    @app.post("/_faults")
    async def set_faults(request: Request) -> Any:
        try:
            faults = Faults(**(await request.json()))
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc), "invalid_request_error")
        state.configure(faults)
        return asdict(faults)

    return _DropAware(app)


# -- Anthropic Messages ---------------------------------------------------------------

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _authorised(request: Request, api_key: str, flavour: str) -> bool:
    if flavour == "anthropic" and request.headers.get("x-api-key") == api_key:
        return True  # Anthropic's documented header (its newer SDKs send a bearer token: also accepted)
    return request.headers.get("authorization") == f"Bearer {api_key}"


def _anthropic_params_problem(body: dict[str, Any]) -> str | None:
    """What Anthropic would refuse in a Messages body (None when it is fine)."""
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            role = message.get("role") if isinstance(message, dict) else None
            return f"messages.{i}.role: Input should be 'user' or 'assistant' (got {role!r}; use system)"
    for name in ("logprobs", "top_logprobs", "seed", "n"):
        if name in body:
            return f"{name}: Extra inputs are not permitted"
    return None


def _anthropic_problem(request: Request, body: dict[str, Any]) -> str | None:
    if not request.headers.get("anthropic-version"):
        return "anthropic-version: header is required"
    return _anthropic_params_problem(body)


def _anthropic_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = [dict(m) for m in body.get("messages") or []]
    if body.get("system"):
        messages.insert(0, {"role": "system", "content": body["system"]})
    return messages


def _message(body: dict[str, Any], responder: Responder) -> dict[str, Any]:
    """An Anthropic Messages answer, with the same deterministic text as a chat completion."""
    messages = _anthropic_messages(body)
    max_tokens = int(body["max_tokens"])
    natural = responder(messages, max_tokens)
    tokens = natural[:max_tokens]
    text = "".join(tokens).strip() if not natural or natural[0].startswith(" ") else "".join(tokens)
    return {
        "id": "msg_" + body_key(body)[:24],
        "type": "message",
        "role": "assistant",
        "model": str(body.get("model") or "wire-model"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if len(natural) > max_tokens else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_token_estimate(messages), "output_tokens": len(tokens)},
    }


# -- batch APIs ---------------------------------------------------------------------


def _multipart(raw: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body (stdlib parser: no extra dependency)."""
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise ValueError("expected multipart/form-data")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def _rfc3339(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _new_id(prefix: str) -> str:
    import uuid

    return prefix + uuid.uuid4().hex[:24]


def _batch_outcome(state: _State, kind: str, params: dict[str, Any], responder: Responder, fingerprint: str):
    """One batch request's fate: ("ok", answer) or (error kind, HTTP status, message)."""
    faults = state.faults
    key = body_key(params)
    with state.lock:
        attempt = state.batch_attempts[key]
        state.batch_attempts[key] += 1
    if kind == "anthropic":
        problem = _anthropic_params_problem(params)
        if problem:
            return ("invalid", 400, problem)
        text_of = json.dumps(params.get("messages")) + str(params.get("system") or "")
    else:
        if not isinstance(params.get("messages"), list):
            return ("invalid", 400, "'messages' is a required property.")
        text_of = json.dumps(params.get("messages"))
    if faults.reject_marker and faults.reject_marker in text_of:
        return ("invalid", 400, "The request was rejected by the wire server.")
    if faults.batch_transient_marker and faults.batch_transient_marker in text_of and attempt == 0:
        return ("server", 500, "Injected 500 in a batch.")
    if kind == "anthropic":
        return ("ok", _message(params, responder))
    return ("ok", _public(_completion(params, responder, fingerprint)))


class _Batch:
    """One batch (either provider's) and its clock."""

    def __init__(
        self, kind: str, requests: list[dict[str, Any]], public: dict[str, Any], invalid: list
    ) -> None:
        self.kind, self.requests, self.public, self.invalid = kind, requests, public, invalid
        self.t0 = time.monotonic()
        self.cancel_at: float | None = None
        self.cancel_processed = 0  # requests answered before the cancel request: kept, as providers do
        self.done = False
        self.results: bytes = b""

    def processed(self, faults: Faults, at: float) -> int:
        start = self.t0 + faults.batch_validate_s
        if at < start:
            return 0
        if faults.batch_progress_s <= 0:
            return len(self.requests)
        return min(len(self.requests), int(len(self.requests) * (at - start) / faults.batch_progress_s))


def _advance(state: _State, batch: _Batch, responder: Responder, fingerprint: str, base: str) -> None:
    """Move a batch along its states by the clock; at its end, write its results (and bill them)."""
    if batch.done:
        return
    faults, now, public = state.faults, time.monotonic(), batch.public
    elapsed = now - batch.t0
    v, p, f = faults.batch_validate_s, faults.batch_progress_s, faults.batch_finalize_s
    openai = batch.kind == "openai"
    if openai and (batch.invalid or faults.batch_fail):
        if elapsed >= v:
            errors = batch.invalid or [
                {
                    "code": "invalid_request",
                    "message": "Injected validation failure.",
                    "param": None,
                    "line": 1,
                }
            ]
            public.update(
                status="failed", failed_at=int(time.time()), errors={"object": "list", "data": errors}
            )
            batch.done = True
        return
    if openai and elapsed >= v and public.get("in_progress_at") is None and batch.cancel_at is None:
        public["in_progress_at"] = int(time.time())
    if batch.cancel_at is not None:
        if now - batch.cancel_at >= faults.batch_cancel_s:
            _finish(
                state,
                batch,
                batch.cancel_processed,
                "cancelled",
                responder,
                fingerprint,
                base,
            )
        else:
            _set_status(batch, "cancelling")
        return
    if openai and elapsed < v:
        return
    processed = batch.processed(faults, now)
    total = len(batch.requests)
    if faults.batch_expire_after is not None and elapsed >= v + p:
        _finish(state, batch, min(faults.batch_expire_after, total), "expired", responder, fingerprint, base)
        return
    if elapsed < v + p:
        _set_status(batch, "in_progress", processed)
        return
    if openai and elapsed < v + p + f:
        public.update(status="finalizing", finalizing_at=public.get("finalizing_at") or int(time.time()))
        return
    _finish(state, batch, total, "completed", responder, fingerprint, base)


def _set_status(batch: _Batch, status: str, processed: int = 0) -> None:
    if batch.kind == "openai":
        batch.public["status"] = status
        if status == "cancelling":
            batch.public["cancelling_at"] = batch.public.get("cancelling_at") or int(time.time())
        batch.public["request_counts"] = {"total": len(batch.requests), "completed": processed, "failed": 0}
    else:
        batch.public["processing_status"] = "canceling" if status == "cancelling" else "in_progress"


def _finish(
    state: _State,
    batch: _Batch,
    answered: int,
    status: str,
    responder: Responder,
    fingerprint: str,
    base: str,
) -> None:
    outputs, errors = [], []
    counts: Counter = Counter()
    for index, request in enumerate(batch.requests):
        custom_id, params = request["custom_id"], request["params"]
        if index >= answered:
            not_run = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(
                status, "batch_expired"
            )
            counts["expired" if status == "expired" else "canceled"] += 1
            if batch.kind == "openai":
                message = "This request could not be executed before the batch ended."
                errors.append(
                    {
                        "id": _new_id("batch_req_"),
                        "custom_id": custom_id,
                        "response": None,
                        "error": {"code": not_run, "message": message},
                    }
                )
            else:
                kind = "expired" if status == "expired" else "canceled"
                outputs.append({"custom_id": custom_id, "result": {"type": kind}})
            continue
        outcome = _batch_outcome(state, batch.kind, params, responder, fingerprint)
        if outcome[0] == "ok":
            with state.lock:
                state.batch_paid[body_key(params)] += 1
            counts["succeeded"] += 1
            if batch.kind == "openai":
                response = {"status_code": 200, "request_id": _new_id("req_"), "body": outcome[1]}
                outputs.append(
                    {"id": _new_id("batch_req_"), "custom_id": custom_id, "response": response, "error": None}
                )
            else:
                outputs.append(
                    {"custom_id": custom_id, "result": {"type": "succeeded", "message": outcome[1]}}
                )
            continue
        counts["errored"] += 1
        _, code, message = outcome
        if batch.kind == "openai":
            kind = "invalid_request_error" if code == 400 else "server_error"
            body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
            response = {"status_code": code, "request_id": _new_id("req_"), "body": body}
            errors.append(
                {"id": _new_id("batch_req_"), "custom_id": custom_id, "response": response, "error": None}
            )
        else:
            kind = "invalid_request_error" if code == 400 else "api_error"
            error = {"type": "error", "error": {"type": kind, "message": message}}
            outputs.append({"custom_id": custom_id, "result": {"type": "errored", "error": error}})
    public, wall = batch.public, int(time.time())
    if batch.kind == "openai":
        for name, lines in (("output_file_id", outputs), ("error_file_id", errors)):
            if lines:
                content = "".join(json.dumps(line) + "\n" for line in lines).encode()
                public[name] = _store_file(
                    state, f"{public['id']}_{name[:-8]}.jsonl", "batch_output", content
                )
        public["status"] = status
        public[f"{status}_at"] = wall
        public["request_counts"] = {
            "total": len(batch.requests),
            "completed": counts["succeeded"],
            "failed": counts["errored"],
        }
    else:
        batch.results = "".join(json.dumps(line) + "\n" for line in outputs).encode()
        public.update(
            processing_status="ended",
            ended_at=_rfc3339(time.time()),
            results_url=f"{base}/v1/messages/batches/{public['id']}/results",
            request_counts={k: counts[k] for k in ("succeeded", "errored", "canceled", "expired")}
            | {"processing": 0},
        )
    batch.done = True


def _store_file(state: _State, filename: str, purpose: str, content: bytes) -> str:
    file_id = _new_id("file-")
    state.files[file_id] = {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
        "_content": content,
        "_seq": len(state.files),
    }
    return file_id


def _file_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def _parse_openai_input(content: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Requests of an input file, and validation errors in OpenAI's shape (with line numbers)."""
    requests: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.decode("utf-8", errors="replace").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            errors.append(
                {
                    "code": "invalid_json_line",
                    "message": "This line is not parseable as valid JSON.",
                    "param": None,
                    "line": number,
                }
            )
            continue
        problem = None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            problem = ("missing_required_parameter", "custom_id is required")
        elif line["custom_id"] in seen:
            problem = (
                "duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request.",
            )
        elif line.get("method") != "POST":
            problem = ("invalid_method", "method must be POST")
        elif line.get("url") != endpoint:
            problem = ("mismatched_endpoint", f"url must be {endpoint}, the batch's endpoint")
        elif not isinstance(line.get("body"), dict):
            problem = ("missing_required_parameter", "body is required")
        if problem:
            errors.append({"code": problem[0], "message": problem[1], "param": None, "line": number})
            continue
        seen.add(line["custom_id"])
        requests.append({"custom_id": line["custom_id"], "params": line["body"]})
    return requests, errors


def _batch_routes(app: Any, state: _State, responder: Responder, fingerprint: str) -> None:
    """OpenAI's files and batches, and Anthropic's Message Batches, on ``app``."""
    from fastapi.responses import Response

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def refused(request: Request, flavour: str) -> Any | None:
        key = state.faults.api_key
        if key and not _authorised(request, key, flavour):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", flavour=flavour)
        if flavour == "anthropic" and not request.headers.get("anthropic-version"):
            return _error(
                400, "anthropic-version: header is required", "invalid_request_error", flavour=flavour
            )
        return None

    def advanced(batch: _Batch, request: Request) -> dict[str, Any]:
        with state.lock:
            _advance(state, batch, responder, fingerprint, base_of(request))
        return batch.public

    def page(
        items: list[dict[str, Any]], limit: int, after: str | None, id_key: str = "id"
    ) -> tuple[list, bool]:
        ids = [i[id_key] for i in items]
        start = ids.index(after) + 1 if after in ids else 0
        chunk = items[start : start + limit]
        return chunk, start + limit < len(items)

    def not_found(batch_id: str, flavour: str) -> Any:
        if flavour == "anthropic":
            return _error(404, f"No batch {batch_id}", "not_found_error", flavour="anthropic")
        return _error(404, f"No batch found with id '{batch_id}'.", "invalid_request_error")

    def lookup(request: Request, batch_id: str, flavour: str) -> tuple[_Batch | None, Any | None]:
        """The provider's batch, or the refusal or 404 to answer instead (in that provider's format)."""
        if (refusal := refused(request, flavour)) is not None:
            return None, refusal
        batch = state.batches.get(batch_id)
        if batch is None or batch.kind != flavour:
            return None, not_found(batch_id, flavour)
        return batch, None

    def listed(request: Request, flavour: str, limit: int, after: str | None) -> tuple[list, bool]:
        state.events["list_batches"] += 1
        batches = reversed(list(state.batches.values()))
        return page([advanced(b, request) for b in batches if b.kind == flavour], limit, after)

    async def registered(batch: _Batch) -> dict[str, Any]:
        """Store a new batch and count what it submits (nothing when its input was invalid)."""
        with state.lock:
            state.events["create"] += 1
            state.batches[batch.public["id"]] = batch
            if not batch.invalid:
                for r in batch.requests:
                    state.batch_submitted[body_key(r["params"])] += 1
        if state.faults.batch_create_delay_s:
            await asyncio.sleep(state.faults.batch_create_delay_s)
        return dict(batch.public)

    def begin_cancel(batch: _Batch) -> None:
        state.events["cancel"] += 1
        batch.cancel_at = time.monotonic()
        batch.cancel_processed = batch.processed(state.faults, batch.cancel_at)

    @app.post("/v1/files")
    async def upload_file(request: Request) -> Any:
        if (refusal := refused(request, "openai")) is not None:
            return refusal
        state.events["upload"] += 1
        try:
            fields = _multipart(await request.body(), request.headers.get("content-type", ""))
        except (ValueError, TypeError) as exc:
            return _error(400, f"Could not parse multipart form: {exc}", "invalid_request_error")
        if "file" not in fields or "purpose" not in fields:
            return _error(400, "'file' and 'purpose' are required.", "invalid_request_error")
        purpose = fields["purpose"][1].decode()
        if purpose not in ("batch", "fine-tune", "assistants", "vision", "user_data", "evals"):
            return _error(400, f"'{purpose}' is not one of the supported purposes.", "invalid_request_error")
        filename, content = fields["file"]
        with state.lock:
            file_id = _store_file(state, filename or "upload.jsonl", purpose, content)
        if state.faults.batch_upload_delay_s:
            await asyncio.sleep(state.faults.batch_upload_delay_s)
        return _file_view(state.files[file_id])

    @app.get("/v1/files")
    async def list_files(
        request: Request, purpose: str | None = None, limit: int = 10000, after: str | None = None
    ) -> Any:
        if (refusal := refused(request, "openai")) is not None:
            return refusal
        state.events["list_files"] += 1
        entries = sorted(state.files.values(), key=lambda e: -e["_seq"])
        entries = [_file_view(e) for e in entries if purpose is None or e["purpose"] == purpose]
        data, more = page(entries, limit, after)
        return {"object": "list", "data": data, "has_more": more}

    @app.get("/v1/files/{file_id}")
    async def get_file(request: Request, file_id: str) -> Any:
        if file_id not in state.files:
            return _error(404, f"No such File object: {file_id}", "invalid_request_error")
        return _file_view(state.files[file_id])

    @app.get("/v1/files/{file_id}/content")
    async def file_content(request: Request, file_id: str) -> Any:
        if (refusal := refused(request, "openai")) is not None:
            return refusal
        if file_id not in state.files:
            return _error(404, f"No such File object: {file_id}", "invalid_request_error")
        state.events["download"] += 1
        if state.faults.batch_download_delay_s:
            await asyncio.sleep(state.faults.batch_download_delay_s)
        return Response(state.files[file_id]["_content"], media_type="application/octet-stream")

    @app.post("/v1/batches")
    async def create_batch(request: Request) -> Any:
        if (refusal := refused(request, "openai")) is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        endpoint = body.get("endpoint")
        if endpoint not in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"):
            return _error(400, f"Invalid endpoint {endpoint!r}.", "invalid_request_error")
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'.", "invalid_request_error")
        entry = state.files.get(str(body.get("input_file_id")))
        if entry is None:
            return _error(404, f"No such File object: {body.get('input_file_id')}", "invalid_request_error")
        if entry["purpose"] != "batch":
            return _error(400, "The input file must have purpose 'batch'.", "invalid_request_error")
        metadata = body.get("metadata")
        if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16):
            return _error(400, "metadata: at most 16 string pairs.", "invalid_request_error")
        requests, invalid = _parse_openai_input(entry["_content"], endpoint)
        now = int(time.time())
        public = {
            "id": _new_id("batch_"),
            "object": "batch",
            "endpoint": endpoint,
            "errors": None,
            "input_file_id": entry["id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": metadata,
        }
        return await registered(_Batch("openai", requests, public, invalid))

    @app.get("/v1/batches")
    async def list_batches(request: Request, limit: int = 20, after: str | None = None) -> Any:
        if (refusal := refused(request, "openai")) is not None:
            return refusal
        data, more = listed(request, "openai", limit, after)
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }

    @app.get("/v1/batches/{batch_id}")
    async def get_batch(request: Request, batch_id: str) -> Any:
        batch, answer = lookup(request, batch_id, "openai")
        if batch is None:
            return answer
        state.events["poll"] += 1
        return advanced(batch, request)

    @app.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(request: Request, batch_id: str) -> Any:
        batch, answer = lookup(request, batch_id, "openai")
        if batch is None:
            return answer
        public = advanced(batch, request)
        if public["status"] in ("validating", "in_progress", "finalizing"):
            begin_cancel(batch)
            _set_status(batch, "cancelling", batch.cancel_processed)
        return advanced(batch, request)

    @app.post("/v1/messages/batches")
    async def create_message_batch(request: Request) -> Any:
        if (refusal := refused(request, "anthropic")) is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON body.", "invalid_request_error", flavour="anthropic")
        entries = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not entries:
            return _error(400, "requests: Field required", "invalid_request_error", flavour="anthropic")
        ids = [e.get("custom_id") if isinstance(e, dict) else None for e in entries]
        bad = [i for i in ids if not isinstance(i, str) or not _CUSTOM_ID.match(i)]
        if bad:
            return _error(
                400,
                f"custom_id {bad[0]!r}: must match ^[a-zA-Z0-9_-]{{1,64}}$",
                "invalid_request_error",
                flavour="anthropic",
            )
        if len(set(ids)) != len(ids):
            return _error(
                400,
                "custom_id values must be unique within a batch",
                "invalid_request_error",
                flavour="anthropic",
            )
        if any(not isinstance(e.get("params"), dict) for e in entries):
            return _error(400, "params: Field required", "invalid_request_error", flavour="anthropic")
        requests = [{"custom_id": e["custom_id"], "params": e["params"]} for e in entries]
        now = time.time()
        public = {
            "id": _new_id("msgbatch_"),
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {
                "processing": len(requests),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "ended_at": None,
            "created_at": _rfc3339(now),
            "expires_at": _rfc3339(now + 86400),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
        }
        return await registered(_Batch("anthropic", requests, public, []))

    @app.get("/v1/messages/batches")
    async def list_message_batches(request: Request, limit: int = 20, after_id: str | None = None) -> Any:
        if (refusal := refused(request, "anthropic")) is not None:
            return refusal
        data, more = listed(request, "anthropic", limit, after_id)
        return {
            "data": data,
            "has_more": more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    @app.get("/v1/messages/batches/{batch_id}")
    async def get_message_batch(request: Request, batch_id: str) -> Any:
        batch, answer = lookup(request, batch_id, "anthropic")
        if batch is None:
            return answer
        state.events["poll"] += 1
        return advanced(batch, request)

    @app.post("/v1/messages/batches/{batch_id}/cancel")
    async def cancel_message_batch(request: Request, batch_id: str) -> Any:
        batch, answer = lookup(request, batch_id, "anthropic")
        if batch is None:
            return answer
        public = advanced(batch, request)
        if public["processing_status"] == "in_progress":
            begin_cancel(batch)
            public["cancel_initiated_at"] = _rfc3339(time.time())
            _set_status(batch, "cancelling")
        return advanced(batch, request)

    @app.get("/v1/messages/batches/{batch_id}/results")
    async def message_batch_results(request: Request, batch_id: str) -> Any:
        batch, answer = lookup(request, batch_id, "anthropic")
        if batch is None:
            return answer
        if advanced(batch, request)["processing_status"] != "ended":
            return _error(400, "Batch has not ended yet.", "invalid_request_error", flavour="anthropic")
        state.events["download"] += 1
        if state.faults.batch_download_delay_s:
            await asyncio.sleep(state.faults.batch_download_delay_s)
        return Response(batch.results, media_type="application/binary")


class _DropAware:
    """Outermost ASGI layer: exposes uvicorn's connection to the app and turns ``_Drop`` into a closed socket.

    Dropping must happen below Starlette's error middleware, which would
    otherwise answer 500; uvicorn's ``send`` is a bound method of its per-request
    cycle object, whose transport we abort (RST, no bytes sent).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cycle = getattr(send, "__self__", None)
        scope["wire.cycle"] = cycle
        try:
            await self.app(scope, receive, _SwallowAfterDrop(send, cycle))
        except Exception as exc:
            if not _contains_drop(exc):
                raise


def _contains_drop(exc: BaseException) -> bool:
    seen = exc
    while seen is not None:
        if isinstance(seen, _Drop):
            return True
        if isinstance(seen, BaseExceptionGroup):
            return any(_contains_drop(e) for e in seen.exceptions)
        seen = seen.__cause__ or seen.__context__
    return False


class _SwallowAfterDrop:
    """A ``send`` that becomes a no-op once the connection was aborted."""

    def __init__(self, send: Any, cycle: Any) -> None:
        self.send = send
        self.cycle = cycle

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.cycle is not None and getattr(self.cycle, "wire_dropped", False):
            return
        await self.send(message)


def _abort(cycle: Any) -> None:
    if cycle is None:
        raise RuntimeError("cannot drop a connection: the ASGI server does not expose it")
    cycle.wire_dropped = True
    cycle.disconnected = True
    cycle.transport.abort()


class WireServer:
    """The wire server in a background thread on a free loopback port.

    ``with WireServer(Faults(latency_s=0.05)) as server: server.base_url``; counters
    via :meth:`stats`, fault changes via :meth:`set_faults`.
    """

    def __init__(
        self,
        faults: Faults | None = None,
        responder: Responder | None = None,
        model: str = "wire-model",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = create_wire_app(faults, responder=responder, model=model)
        self.host, self.port = host, port
        self.base_url = ""
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> WireServer:
        self.base_url = self._stack.enter_context(_serve(self.app, self.host, self.port))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def state(self) -> _State:
        return self.app.state.wire

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def set_faults(self, faults: Faults) -> None:
        self.state.configure(faults)

    def reset(self) -> None:
        self.state.reset()


@contextlib.contextmanager
def _serve(app: Any, host: str, port: int) -> Iterator[str]:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="error", lifespan="off", http="h11", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the wire server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--model", default="wire-model")
    parser.add_argument("--faults", default="{}", help="JSON object of Faults fields")
    parser.add_argument("--latency", type=float, default=None, help="seconds before every answer")
    parser.add_argument("--rpm", type=float, default=None)
    parser.add_argument("--tpm", type=float, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run as a process: prints ``READY <base_url>`` on stdout once listening."""
    import sys

    args = _parse_args(argv)
    settings = json.loads(args.faults)
    for name, value in (("latency_s", args.latency), ("rpm", args.rpm), ("tpm", args.tpm)):
        if value is not None:
            settings[name] = value
    server = WireServer(Faults(**settings), model=args.model, host=args.host, port=args.port)
    with server:
        print(f"READY {server.base_url}", flush=True)
        stop = threading.Event()
        with contextlib.suppress(KeyboardInterrupt):
            import signal

            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(0.5):
                pass
        sys.stdout.flush()


if __name__ == "__main__":
    main()
