"""The FastAPI app: OpenAI-compatible routes over a backend, behind a gateway.

Every POST goes: read JSON (400 if malformed) -> ``gateway.admit`` (may reject or
throttle) -> validate (400) -> model check (404) -> policy (strip logprobs) ->
the account's logits processors (and the countermeasures': antidistillation, the
watermark dial) -> backend -> JSON or SSE (log-prob defences on each answer or
chunk). Each admitted request is recorded once through ``gateway.record`` after it ended (streams included),
from a background task so the answer never waits on the log. Bad input never
becomes a 500. This module must not hold model code or sampling logic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from distillscope.records import SAMPLING_PARAMS, Exchange, new_exchange_id
from distillscope.server.backends.base import Backend, RequestContext
from distillscope.server.errors import APIError, error_type_for_status, invalid_request, model_not_found
from distillscope.server.gateway import Admission, Gateway, OpenGateway
from distillscope.server.idempotency import HEADER as IDEMPOTENCY_HEADER
from distillscope.server.idempotency import IdempotencyCache, StoredAnswer
from distillscope.server.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    StreamOptions,
    validation_error,
)

log = logging.getLogger("distillscope.server")

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
#: Largest request body read (``serve --max-body-mb``); a larger one is a 413 and is never held in memory.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: How long an Idempotency-Key's answer is replayed (``serve --idempotency-window``).
DEFAULT_IDEMPOTENCY_WINDOW_S = 24 * 3600.0
#: Bodies larger than this are parsed in a worker thread, so the event loop keeps answering.
OFF_LOOP_BYTES = 256 * 1024
#: Set on an answer whose requested log-probs the policy removed (the answer is still an HTTP 200).
LOGPROBS_REMOVED_HEADER = "x-distillscope-logprobs"
#: Deepest nesting of a request body (OpenAI's bodies need about 6).
MAX_JSON_DEPTH = 32
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def create_app(
    backend: Backend,
    *,
    model_name: str,
    gateway: Gateway | None = None,
    logits_processors_for: Callable[[str], list[Any]] | None = None,
    countermeasures: Any = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    idempotency_window_s: float | None = DEFAULT_IDEMPOTENCY_WINDOW_S,
) -> FastAPI:
    """An app serving ``backend`` as ``model_name``; see the module docstring for the request path.

    ``idempotency_window_s``: how long an ``Idempotency-Key``'s answer is replayed (None: keys ignored).
    """
    server = _Server(backend, model_name, gateway or OpenGateway(), logits_processors_for)
    server.countermeasures = countermeasures
    server.max_body_bytes = max_body_bytes
    if idempotency_window_s is not None:
        server.idempotency = IdempotencyCache(window_s=idempotency_window_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await server.gateway.startup()
        await backend.startup()
        if logits_processors_for is not None and backend.kind != "local":
            log.warning(
                "logits processors (watermark) apply to the local backend only; upstream ignores them"
            )
        try:
            yield
        finally:
            await backend.shutdown()  # drains what is still running
            await server.drain_records()
            await server.gateway.shutdown()

    app = FastAPI(title="distillscope server", lifespan=lifespan, docs_url=None, redoc_url=None)
    _install_error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, **backend.health()}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        await server.check_caller(request)  # as OpenAI: listing models needs a valid key
        return {"object": "list", "data": [server.model_card(name) for name in server.model_names]}

    @app.get("/v1/models/{model:path}")
    async def model(request: Request, model: str) -> dict[str, Any]:
        await server.check_caller(request)
        if model not in server.model_names:
            raise model_not_found(model)
        return server.model_card(model)

    @app.post(CHAT)
    async def chat(request: Request) -> Any:
        return await server.handle(request, CHAT)

    @app.post(COMPLETIONS)
    async def completions(request: Request) -> Any:
        return await server.handle(request, COMPLETIONS)

    router = server.gateway.router()
    if router is not None:
        app.include_router(router)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = validation_error(exc)
        return JSONResponse(error.to_dict(), status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = APIError(exc.status_code, str(exc.detail), error_type_for_status(exc.status_code))
        return JSONResponse(
            error.to_dict(), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected server error")
        error = APIError(500, "The server had an error while processing your request.", "server_error")
        return JSONResponse(error.to_dict(), status_code=500)


class _Server:
    """Request handling shared by the routes."""

    def __init__(
        self,
        backend: Backend,
        model_name: str,
        gateway: Gateway,
        processors_for: Callable[[str], list[Any]] | None,
    ) -> None:
        self.backend = backend
        self.model_name = model_name
        self.gateway = gateway
        self.processors_for = processors_for
        self.created = int(time.time())
        self.max_body_bytes = DEFAULT_MAX_BODY_BYTES
        self.idempotency: IdempotencyCache | None = None
        #: ``distillscope.defend.countermeasures.Countermeasures`` (or None): per-request defences.
        self.countermeasures: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def check_caller(self, request: Request) -> None:
        authenticate = getattr(self.gateway, "authenticate", None)
        if authenticate is not None:
            await authenticate(request)

    @property
    def model_names(self) -> list[str]:
        """The ids this server answers: its model, then any more a backend relays (an upstream's)."""
        more = getattr(self.backend, "served_models", None) or []
        return [self.model_name, *(m for m in more if m != self.model_name)]

    def model_card(self, name: str | None = None) -> dict[str, Any]:
        return {
            "id": name or self.model_name,
            "object": "model",
            "created": self.created,
            "owned_by": "distillscope",
        }

    async def handle(self, request: Request, endpoint: str) -> Any:
        started = time.monotonic()
        wall = time.time()
        # A body that is too large, malformed or cut short is still admitted (authenticated,
        # counted) as an empty one, so that it gets the right 401/4xx and one log row.
        body, problem, raw = await _read_json(request, self.max_body_bytes)
        admission = await self.gateway.admit(request, endpoint, body)
        trace = _Trace(endpoint, body, admission, wall, started)
        # Every answer after admission names its exchange (row) and carries the rate-limit headers.
        headers = {**admission.headers, "x-request-id": trace.exchange_id}
        claim: tuple[str, str] | None = None  # (account, Idempotency-Key) this request must answer
        try:
            if problem is not None:
                raise problem
            parsed = self._validate(endpoint, body)
            idem = IdempotencyCache.key_of(request.headers.get(IDEMPOTENCY_HEADER))
            if idem is not None and self.idempotency is not None:
                stored = await self.idempotency.claim(admission.account, idem, IdempotencyCache.digest(raw))
                if stored is not None:
                    return self._replay(stored, trace, headers)
                claim = (admission.account, idem)
            if admission.strip_logprobs and _strip_logprobs(parsed):
                headers[LOGPROBS_REMOVED_HEADER] = "removed"  # an HTTP 200 must not hide it
            wants_usage = parsed.include_usage
            if parsed.stream:  # always ask for usage, so the log has it; dropped below if unwanted
                parsed.stream_options = StreamOptions(include_usage=True)
            processors = self.processors_for(admission.account) if self.processors_for else []
            defence = self._defence(admission, body)
            if defence is not None:
                processors = defence.processors(list(processors))
            ctx = RequestContext(
                parsed.model,  # the id asked for: this server's model, or another it relays
                request_id=trace.exchange_id,
                processors=list(processors),
                account=admission.account,
            )
            trace.upstream = self.backend.kind == "upstream"
            call = self.backend.chat if endpoint == CHAT else self.backend.complete
            result = await _unless_disconnected(request, call(parsed, ctx))  # type: ignore[arg-type]
            # An upstream's own x-ratelimit-* pass on where the gateway sets none of its own.
            headers = {**ctx.response_headers, **headers}
        except APIError as exc:
            self._release(claim)
            trace.fail(exc.status, exc.message)
            self._spawn(self._record(trace))
            exc.headers = {**headers, **exc.headers}
            raise
        except ClientGone:
            self._release(claim)
            trace.fail(499, "client closed the connection")
            self._spawn(self._record(trace))
            return Response(status_code=499)
        except BaseException as exc:  # a server fault: still logged, then answered as a 500 by the handler
            self._release(claim)
            trace.fail(500 if isinstance(exc, Exception) else 499, f"{type(exc).__name__}: {exc}")
            self._spawn(self._record(trace))
            raise
        if isinstance(result, dict):
            if admission.strip_logprobs:
                _drop_logprobs(result)  # whatever a backend (an upstream) sent anyway
            elif defence is not None:
                defence.answer(result)
            trace.absorb(result)
            self._spawn(self._record(trace))
            content = _render(result)
            if claim is not None and self.idempotency is not None:
                answer = StoredAnswer(trace.exchange_id, body=content, headers=dict(admission.headers))
                self.idempotency.store(*claim, answer)
            return Response(content, media_type="application/json", headers=headers)
        stream = self._sse(result, trace, wants_usage, admission.strip_logprobs, claim, defence)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def _replay(self, stored: StoredAnswer, trace: _Trace, headers: dict[str, str]) -> Response:
        """The stored answer to a repeated Idempotency-Key: logged as a replay, not generated or billed."""
        trace.replay_of = stored.exchange_id
        if stored.body is not None:
            trace.absorb(json.loads(stored.body))
        for line in stored.stream or []:
            data = line.removeprefix("data: ").strip()
            if data and data != "[DONE]":
                trace.absorb_chunk(json.loads(data))
        self._spawn(self._record(trace))
        replayed = {**headers, "idempotent-replayed": "true"}
        if stored.body is not None:
            return Response(stored.body, media_type="application/json", headers=replayed)
        return StreamingResponse(
            _lines(stored.stream or []), media_type="text/event-stream", headers=replayed
        )

    def _defence(self, admission: Admission, body: dict[str, Any]) -> Any:
        """This request's countermeasures (see ``distillscope.defend.countermeasures``), or None."""
        if self.countermeasures is None:
            return None
        return self.countermeasures.for_request(admission.account, admission.defend, body)

    def _release(self, claim: tuple[str, str] | None) -> None:
        if claim is not None and self.idempotency is not None:
            self.idempotency.release(*claim)

    def _validate(self, endpoint: str, body: dict[str, Any]) -> ChatCompletionRequest | CompletionRequest:
        schema = ChatCompletionRequest if endpoint == CHAT else CompletionRequest
        try:
            parsed = schema.model_validate(body)
        except ValidationError as exc:
            raise validation_error(exc) from None
        if parsed.model != self.model_name and parsed.model not in self.model_names:
            raise model_not_found(parsed.model)
        return parsed

    async def _sse(
        self,
        chunks: AsyncIterator[dict[str, Any]],
        trace: _Trace,
        wants_usage: bool,
        strip: bool = False,
        claim: tuple[str, str] | None = None,
        defence: Any = None,
    ) -> AsyncIterator[str]:
        sent: list[str] | None = [] if claim is not None else None
        try:
            async for chunk in chunks:
                if strip:
                    _drop_logprobs(chunk)
                elif defence is not None:
                    defence.answer(chunk)
                trace.absorb_chunk(chunk)
                if not chunk.get("choices") and "usage" in chunk and not wants_usage:
                    continue
                line = f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
                if sent is not None:
                    sent.append(line)
                yield line
            yield "data: [DONE]\n\n"
            if sent is not None and self.idempotency is not None and claim is not None:
                sent.append("data: [DONE]\n\n")
                self.idempotency.store(*claim, StoredAnswer(trace.exchange_id, stream=sent))
                sent = None
        except APIError as exc:
            trace.fail(exc.status, exc.message)
            yield f"data: {json.dumps(exc.to_dict())}\n\n"
        except BaseException:
            trace.fail(499, "client closed the stream")
            raise
        finally:
            if sent is not None:  # not stored: the stream failed or its client left
                self._release(claim)
            # Spawned, not awaited: a cancelled stream may not await any more.
            self._spawn(_close(chunks))
            self._spawn(self._record(trace))

    async def _record(self, trace: _Trace) -> None:
        try:
            await self.gateway.record(trace.exchange(self.model_name))
        except Exception:
            log.exception("the gateway failed to record an exchange")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain_records(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


async def _unless_disconnected(request: Request, work: Coroutine[Any, Any, Any]) -> Any:
    """Await ``work``; if the client disconnects first, cancel it (its rows stop) and raise ClientGone."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        raise ClientGone
    return task.result()


async def _disconnected(request: Request) -> None:
    # The body is already read, so the next ASGI message can only be the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _close(chunks: AsyncIterator[dict[str, Any]]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:
            log.debug("closing a stream failed", exc_info=True)


async def _read_json(request: Request, limit: int) -> tuple[dict[str, Any], Exception | None, bytes]:
    """The request's JSON object, or ``{}`` and the problem (413, 400, or the client gone); the raw body."""
    try:
        raw = await _read_body(request, limit)
    except (APIError, ClientGone) as exc:
        return {}, exc, b""
    request.state.body_bytes = len(raw)
    try:
        if len(raw) > OFF_LOOP_BYTES:  # a large body is parsed off the event loop
            body, problem = await asyncio.to_thread(_parse_json, raw)
        else:
            body, problem = _parse_json(raw)
    except APIError as exc:
        return {}, exc, raw
    return body, problem, raw


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, read no further than ``limit`` bytes (413 beyond it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)


def _too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"The request body is larger than this server accepts ({limit} bytes).",
        "invalid_request_error",
        code="request_too_large",
    )


def _parse_json(raw: bytes) -> tuple[dict[str, Any], APIError | None]:
    """Parse a request body: a JSON object, strict JSON (no NaN), nested at most ``MAX_JSON_DEPTH``.

    A body whose strings hold a lone UTF-16 surrogate (an unpaired ``"\\ud800"``: not Unicode,
    no tokenizer takes it) is returned with its 400, so that its log row keeps the text."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a number of too many digits
        if isinstance(exc, json.JSONDecodeError):
            where = f" (line {exc.lineno}, column {exc.colno})"
        elif isinstance(exc, UnicodeDecodeError):
            where = " (it is not UTF-8)"
        else:
            where = f" ({exc})"
        raise invalid_request(
            f"We could not parse the JSON body of your request{where}. The body must be a JSON object."
        ) from None
    if not isinstance(body, dict):
        raise invalid_request(f"The request body must be a JSON object, not {type(body).__name__}.")
    # Only a body whose raw text holds a \ud escape can hold a lone surrogate.
    where = _walk(body, find_surrogates=b"\\ud" in raw or b"\\uD" in raw)
    if where is None:
        return body, None
    message = f"'{where}' holds a lone UTF-16 surrogate, which is not valid Unicode."
    return body, invalid_request(message, param=where or None)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _too_deep() -> APIError:
    return invalid_request(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")


def _walk(body: dict[str, Any], find_surrogates: bool) -> str | None:
    """Raise a 400 for nesting deeper than ``MAX_JSON_DEPTH``; where a lone surrogate is, if asked."""
    found: str | None = None
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            where = f"{path}.{key}" if path else str(key)
            if isinstance(item, dict | list):
                stack.append((item, depth + 1, where))
            elif found is None and find_surrogates and _has_lone_surrogate(key, item):
                found = path if isinstance(key, str) and _LONE_SURROGATE.search(key) else where
    return found


def _has_lone_surrogate(key: Any, item: Any) -> bool:
    return any(isinstance(text, str) and _LONE_SURROGATE.search(text) for text in (key, item))


def _render(result: dict[str, Any]) -> bytes:
    """A JSON answer's bytes, as Starlette's JSONResponse renders them."""
    return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


def _drop_logprobs(answer: dict[str, Any]) -> None:
    """Remove log-probs from an answer or chunk (the policy strips them, whatever the backend sent)."""
    for choice in answer.get("choices") or []:
        if isinstance(choice, dict) and choice.get("logprobs") is not None:
            choice["logprobs"] = None


def _strip_logprobs(parsed: ChatCompletionRequest | CompletionRequest) -> bool:
    """Ask the backend for no log-probs; True when the client had asked for some (in any form)."""
    if isinstance(parsed, ChatCompletionRequest):
        asked = bool(parsed.logprobs) or parsed.top_logprobs is not None
        parsed.logprobs = False
        parsed.top_logprobs = None
    else:
        asked = parsed.logprobs is not None  # logprobs: 0 asks for the chosen tokens' log-probs
        parsed.logprobs = None
    return asked


class _Trace:
    """What one request did, gathered for its exchange record."""

    def __init__(
        self, endpoint: str, body: dict[str, Any], admission: Admission, wall: float, started: float
    ):
        self.endpoint = endpoint
        self.body = body
        self.admission = admission
        self.wall = wall
        self.started = started
        # The row's key: drawn here, never taken from an answer (some upstreams repeat ids).
        # The local backend names its answer ``chatcmpl-<exchange id>``, so client and log agree.
        self.exchange_id = new_exchange_id()
        self.response_id: str | None = None  # the id in the answer (an upstream's own, when relayed)
        self.upstream = False
        self.replay_of: str | None = None  # an Idempotency-Key repeat: the exchange whose answer it got
        self.status = 200
        self.error: str | None = None
        self.texts: dict[int, str] = {}
        self.finish: dict[int, str | None] = {}
        self.usage: dict[str, Any] | None = None

    def fail(self, status: int, message: str) -> None:
        self.status, self.error = status, message

    def absorb(self, response: dict[str, Any]) -> None:
        self.response_id = response.get("id") or self.response_id
        for choice in response.get("choices", []):
            message = choice.get("message") or {}
            self.texts[choice.get("index", 0)] = message.get("content") or choice.get("text") or ""
            self.finish[choice.get("index", 0)] = choice.get("finish_reason")
        self.usage = response.get("usage")

    def absorb_chunk(self, chunk: dict[str, Any]) -> None:
        self.response_id = self.response_id or chunk.get("id")
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            piece = delta.get("content") if "delta" in choice else choice.get("text")
            self.texts[index] = self.texts.get(index, "") + (piece or "")
            if choice.get("finish_reason"):
                self.finish[index] = choice["finish_reason"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]

    def exchange(self, model_name: str) -> Exchange:
        body, meta = self.body, dict(self.admission.meta)
        usage = self.usage or {}
        extra: dict[str, Any] = {
            k: v for k, v in meta.items() if k not in ("ip", "user_agent", "payment_id", "org")
        }
        if self.admission.reasons:
            extra["policy_reasons"] = list(self.admission.reasons)
        if self.admission.strip_logprobs:
            extra["logprobs_stripped"] = True
        if self.error:
            extra["error"] = self.error
        if len(self.texts) > 1:
            extra["choices_text"] = [self.texts[i] for i in sorted(self.texts)]
        messages, prompt = _request_text(body)
        if self.response_id and self.upstream:
            extra["upstream_id"] = self.response_id  # a field, never the key: upstreams repeat ids
        if self.replay_of is not None:
            # Nothing was generated: no usage to bill (0 tokens), and the row says whose answer it got.
            extra["idempotent_replay_of"] = self.replay_of
            self.usage = usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return Exchange(
            id=self.exchange_id,
            ts=self.wall,
            account=self.admission.account,
            key_id=self.admission.key_id,
            ip=meta.get("ip"),
            user_agent=meta.get("user_agent"),
            payment_id=meta.get("payment_id"),
            org=meta.get("org"),
            model=body.get("model") if isinstance(body.get("model"), str) else model_name,
            endpoint=self.endpoint,
            params={k: body[k] for k in SAMPLING_PARAMS if k in body},
            messages=messages,
            prompt=prompt,
            response_text=self.texts.get(0) if self.texts else None,
            finish_reason=self.finish.get(0),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_ms=(time.monotonic() - self.started) * 1000.0,
            status=self.status,
            usage=self.usage,
            extra=extra,
        )


def _request_text(body: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The request's messages or prompt in a shape the Exchange record accepts."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages):
        return messages, None
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return None, prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return None, "\n".join(prompt)
    if prompt is not None:
        return None, json.dumps(prompt)
    return None, ""
