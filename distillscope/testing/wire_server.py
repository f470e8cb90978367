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
    lock: threading.Lock = field(default_factory=threading.Lock)

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
            }

    def reset(self) -> None:
        with self.lock:
            for counter in (self.received, self.paid, self.statuses, self.attempts):
                counter.clear()
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


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Any:
    code = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status)
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(payload, status_code=status, headers=headers or {})


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

    async def _admit(request: Request, body: dict[str, Any]) -> tuple[str, Any | None]:
        """Decide the fate of a request: ("ok", None), ("slow", None) or (action, error response)."""
        key = body_key(body)
        with state.lock:
            state.received[key] += 1
            state.arrivals.setdefault(key, []).append(time.monotonic())
            state.first_at = state.first_at or time.time()
        faults = state.faults
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if faults.api_key and request.headers.get("authorization") != f"Bearer {faults.api_key}":
            return "401", _error(401, "Incorrect API key provided.", "invalid_request_error")
        action = _choose_action(state, key)
        if action == "drop":
            # Abort here, before Starlette's error middleware can answer 500 on the way out.
            with state.lock:
                state.statuses["dropped"] += 1
            _abort(request.scope.get("wire.cycle"))
            raise _Drop()
        marker = faults.reject_marker
        if action == "400" or (marker and marker in json.dumps(body.get("messages") or body.get("prompt"))):
            return "400", _error(400, "The request was rejected by the wire server.", "invalid_request_error")
        if action == "garbage":  # a 200 whose body is cut short: not a completion, not billed
            return "garbage", _garbage()
        if action in ("500", "503"):
            return action, _error(int(action), f"Injected {action}.", "server_error")
        if action == "429":
            headers = {"retry-after": f"{faults.retry_after_s:g}", **_rate_headers(state)}
            headers["retry-after-ms"] = str(int(faults.retry_after_s * 1000))
            return "429", _error(429, "Rate limit reached (injected).", "requests", headers)
        limited = _enforce_limits(body)
        if limited is not None:
            return "429", limited
        return action, None

    def _enforce_limits(body: dict[str, Any]) -> Any | None:
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
        return _error(429, f"Rate limit reached; retry in {wait:.3f}s.", "requests", headers)

    def _pay(request: Request, body: dict[str, Any], answer: dict[str, Any]) -> bool:
        cycle = request.scope.get("wire.cycle")
        if cycle is not None and getattr(cycle, "disconnected", False):
            return False  # nobody is there to take the answer: not billed
        key = body_key(body)
        with state.lock:
            state.paid[key] += 1
            state.tokens_paid += answer["usage"]["total_tokens"]
            state.last_paid_at = time.time()
        return True

    async def _handle(request: Request, chat: bool) -> Any:
        try:
            body = await request.json()
        except ClientDisconnect:
            return JSONResponse({}, status_code=499)  # the client left mid-request; nothing to answer
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object.", "invalid_request_error")
        if chat and not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property.", "invalid_request_error")
        idem = request.headers.get("idempotency-key") if state.faults.honour_idempotency else None
        action, refusal = await _admit(request, body)
        headers = _rate_headers(state)
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
        full = _completion(body, answer_with, fingerprint, chat=chat)
        answer = _public(full)
        if not _pay(request, body, answer):
            return JSONResponse({}, status_code=499)
        if idem:
            state.idempotent[idem] = answer
        with state.lock:
            state.statuses[200] += 1
        if body.get("stream"):
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

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await _handle(request, chat=False)

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
