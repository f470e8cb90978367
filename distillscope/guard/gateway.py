"""The guard as the server's gateway: API keys, online risk, policy, the exchange log, metrics.

:class:`GuardGateway` implements :class:`distillscope.server.gateway.Gateway`:

- ``admit`` authenticates the Bearer key (or, in ``--open`` mode, calls everyone
  ``local``), updates the account's risk score, applies the policy (block: 403,
  rate limit: 429 with ``retry-after`` and ``x-ratelimit-*``, throttle: a delay,
  strip log-probs) and remembers the decision for ``record``;
- ``record`` adds the decision, its reasons and the risk score to the exchange's
  extra fields, settles the token bucket against the real usage and hands the
  exchange to the background writer (never blocking the event loop);
- requests refused at admission (401/403/429) are logged by the guard itself, with
  the reason, so the log holds every request;
- open mode (no keys) serves loopback clients only, whatever address the server
  binds, unless ``DISTILLSCOPE_ALLOW_REMOTE_OPEN=1``;
- the public benchmarks registered in the guard's database (``guard benchmarks
  add``) are loaded into the risk tracker at startup and again whenever the
  registry changes (checked every ``benchmark_refresh_s``), so a restarted or
  running server knows them.

:func:`build_gateway` is what ``distillscope serve --db/--policy`` calls. This
module must never store or log a key in clear, and must not know about backends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import ipaddress
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from distillscope.guard.benchmarks import BenchmarkStore
from distillscope.guard.db import default_db_url
from distillscope.guard.keys import KeyInfo, KeyStore
from distillscope.guard.logstore import SQLLogStore, open_log_store, row_of
from distillscope.guard.metrics import GuardMetrics
from distillscope.guard.online import UNAUTHENTICATED, assess, load_token_decoder, warm_up
from distillscope.guard.policy import Decision, PolicyEngine, PolicySettings
from distillscope.guard.redact import install_redaction
from distillscope.guard.risk import (
    RequestFeatures,
    RiskSettings,
    RiskTracker,
    TokenDecoder,
)
from distillscope.guard.secret import load_server_secret
from distillscope.guard.watchlist import WatchEntry
from distillscope.guard.writer import BatchWriter, WriterSettings
from distillscope.records import SAMPLING_PARAMS, Exchange, new_exchange_id
from distillscope.server.errors import APIError
from distillscope.server.gateway import Admission, client_meta, refuse_cross_site

if TYPE_CHECKING:
    import fastapi
    import starlette.requests

log = logging.getLogger("distillscope.guard")

OPEN_ACCOUNT = "local"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
#: Text kept per message of a request without a valid key (anyone can send those).
ANONYMOUS_TEXT_LIMIT = 2000
MAX_ANONYMOUS_MESSAGES = 16
#: Request bodies larger than this have their risk features computed off the event loop.
LARGE_BODY_BYTES = 64 * 1024
#: Requests refused (429) within this many seconds count as waiting for the same slots.
RETRY_WINDOW_S = 5.0
#: Set to 1 to let open mode serve clients that are not on loopback (you have been warned).
ALLOW_REMOTE_OPEN_ENV = "DISTILLSCOPE_ALLOW_REMOTE_OPEN"


@dataclass
class Principal:
    """Who is calling: an account, its key id and whether it may administer."""

    account: str
    key_id: str | None
    admin: bool
    org: str | None = None
    payment_id: str | None = None  # the keyed hash of the key record, never the id
    watch: WatchEntry | None = None

    def meta(self) -> dict[str, Any]:
        """Account metadata every exchange of this principal carries (org, hashed payment id)."""
        return {k: v for k, v in (("org", self.org), ("payment_id", self.payment_id)) if v is not None}


@dataclass
class _Pending:
    """What admission decided, carried to ``record`` of the same request."""

    account: str
    decision: Decision
    recorded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    features: RequestFeatures | None = None


_pending: contextvars.ContextVar[_Pending | None] = contextvars.ContextVar(
    "distillscope_guard_pending", default=None
)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_open_mode(host: str, force: bool = False) -> None:
    """Refuse open mode (no authentication) on a host other than loopback, unless forced."""
    if not _is_loopback(host) and not force:
        raise ValueError(
            f"--open disables authentication and is for local use only; refusing to listen on {host!r}. "
            f"Bind to 127.0.0.1, or set {ALLOW_REMOTE_OPEN_ENV}=1 if you really mean it."
        )


def bearer_key(request: starlette.requests.Request) -> str | None:
    """The key from ``Authorization: Bearer KEY`` (or ``api-key``/``x-api-key``), if any."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return request.headers.get("x-api-key") or request.headers.get("api-key") or None


class GuardGateway:
    """Authentication, online risk, policy, exchange log and metrics for the server."""

    def __init__(
        self,
        keys: KeyStore | None,
        store: SQLLogStore,
        policy: PolicySettings | None = None,
        *,
        open_mode: bool = False,
        risk: RiskSettings | None = None,
        writer: WriterSettings | None = None,
        allow_remote_open: bool | None = None,
        warm_start_records: int = 20_000,
        decode: TokenDecoder | None = None,
        benchmarks: BenchmarkStore | None = None,
        benchmark_refresh_s: float = 30.0,
    ) -> None:
        if keys is None and not open_mode:
            raise ValueError("a key store is needed unless open_mode is set")
        self.keys = keys
        self.store = store
        self.open_mode = open_mode
        self.warm_start_records = warm_start_records
        if allow_remote_open is None:
            allow_remote_open = os.environ.get(ALLOW_REMOTE_OPEN_ENV) == "1"
        self.allow_remote_open = allow_remote_open
        self.policy = PolicyEngine(policy)
        self.risk = RiskTracker(risk)
        self.decode = decode  # token ids -> text for the risk score ([scoring] tokenizer)
        # Rows are serialised on the request path (tens of µs) so that the writer thread
        # runs almost only the database driver's C code and rarely holds the GIL.
        self.writer = BatchWriter(
            store.write_rows,
            writer,
            on_written=self._written,
            spill_line=lambda row: row[-1],
            on_spilled=lambda count: self.metrics.records_spilled.inc(count),
        )
        self.metrics = GuardMetrics(queue_depth=lambda: self.writer.depth)
        self._started = False
        self._refused: dict[str, collections.deque[float]] = {}  # recent 429s per account (retry spread)
        self._blocking_lookup = keys is not None and keys.db.kind == "postgresql"
        # Registered public benchmarks live in the log's database (guard benchmarks add).
        self.benchmarks = benchmarks if benchmarks is not None else BenchmarkStore(store.db)
        self.benchmark_refresh_s = benchmark_refresh_s
        self._benchmark_generation: tuple[int, int, float] | None = None
        self._benchmark_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        install_redaction()
        await asyncio.to_thread(self._load_benchmarks)
        await asyncio.to_thread(self._warm_start)
        self.writer.start()
        self._started = True
        if self.benchmark_refresh_s > 0:
            self._benchmark_task = asyncio.create_task(self._refresh_benchmarks())
        if self.open_mode:
            log.warning("guard in open mode: no authentication, every request is account %r", OPEN_ACCOUNT)
        elif self.keys is not None and not self.keys.list_keys():
            log.warning("no API keys yet: create one with `distillscope keys create --account NAME`")

    async def shutdown(self) -> None:
        """Drain the log queue completely (clean shutdown loses nothing), then close the stores."""
        self._started = False  # from now on a late record is written directly
        if self._benchmark_task is not None:
            self._benchmark_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._benchmark_task
        await asyncio.to_thread(self.writer.close)
        self.store.close()
        self.benchmarks.close()
        if self.keys is not None:
            self.keys.close()

    def _warm_start(self) -> None:
        """Replay the log's most recent exchanges into the risk scores, so a restart forgets nothing."""
        try:
            recent = self.store.recent(self.warm_start_records) if self.warm_start_records else []
        except Exception as exc:  # a damaged row must not stop the server from starting
            log.warning("risk warm start skipped: %s", exc)
            return
        warm_up(self.risk, recent, self.decode)
        if recent:
            log.info("risk scores warmed up from the last %d logged exchanges", len(recent))

    def _load_benchmarks(self) -> None:
        """(Re)load the registered benchmarks' questions into the risk tracker, if the registry moved."""
        try:
            generation = self.benchmarks.generation()
            if generation == self._benchmark_generation:
                return
            keys, stale = self.benchmarks.keys()
        except Exception as exc:  # the database is down: keep what is loaded, try again later
            log.warning("public benchmarks not (re)loaded: %s", type(exc).__name__)
            return
        self.risk.set_public_questions(keys)
        self._benchmark_generation = generation
        for info in stale:
            log.error(
                "benchmark %r was keyed by an older version and is not used: add it again "
                "(distillscope guard benchmarks add FILE --name %s --replace)",
                info.name,
                info.name,
            )
        if generation[0]:
            log.info(
                "public benchmarks: %d question(s) of %d benchmark(s)", len(keys), generation[0] - len(stale)
            )

    async def _refresh_benchmarks(self) -> None:
        while True:
            await asyncio.sleep(self.benchmark_refresh_s)
            await asyncio.to_thread(self._load_benchmarks)

    def _written(self, count: int, seconds: float) -> None:
        self.metrics.records_written.inc(count)

    # -- authentication ---------------------------------------------------------------------

    async def authenticate(self, request: starlette.requests.Request) -> Principal:
        """The caller, or a 401 ``APIError`` for a missing, unknown or revoked key."""
        if self.open_mode:
            client = request.client.host if request.client else None
            if not self.allow_remote_open and not _is_loopback(client):
                # Open mode means no authentication: only callers on this machine get in.
                raise APIError(
                    403,
                    "This server runs in open mode (no API keys) and serves loopback clients only.",
                    "permission_error",
                    code="open_mode_loopback_only",
                )
            refuse_cross_site(request, check_host=not self.allow_remote_open)  # no web page gets in
            return Principal(OPEN_ACCOUNT, None, admin=True)
        assert self.keys is not None
        key = bearer_key(request)
        if not key:
            self.metrics.auth_failures.inc()
            raise APIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                code="invalid_api_key",
            )
        try:
            if self._blocking_lookup:
                info: KeyInfo | None = await asyncio.to_thread(self.keys.authenticate, key)
            else:
                info = self.keys.authenticate(key)  # one indexed SQLite read: microseconds
        except Exception as exc:  # the key store is down: the client may retry, it is not its fault
            log.error("API key lookup failed: %s", type(exc).__name__)
            raise APIError(
                503,
                "The server cannot check API keys right now; please retry shortly.",
                "server_error",
                code="service_unavailable",
                headers={"retry-after": "1"},
            ) from None
        if info is None:
            self.metrics.auth_failures.inc()
            # The key is never echoed back, not even in part.
            raise APIError(
                401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"
            )
        return Principal(info.account, info.key_id, info.admin, info.org, info.payment_id, info.watch)

    # -- the Gateway protocol ---------------------------------------------------------------

    async def admit(
        self, request: starlette.requests.Request, endpoint: str, body: dict[str, Any]
    ) -> Admission:
        started = time.time()
        meta = client_meta(request)
        try:
            principal = await self.authenticate(request)
        except APIError as exc:
            await self._log_refusal(
                UNAUTHENTICATED, None, endpoint, body, meta, exc, started, "unauthenticated", []
            )
            raise
        body = body if isinstance(body, dict) else {}
        meta.update(principal.meta())
        assessing = (self.risk, self.policy, principal.account, body, started)
        options = {"watch": principal.watch, "decode": self.decode}
        if getattr(request.state, "body_bytes", 0) > LARGE_BODY_BYTES:
            # A large prompt's features take time to read: off the loop.
            assessed = await asyncio.to_thread(partial(assess, *assessing, **options))
        else:
            assessed = assess(*assessing, **options)
        features, score, decision = assessed
        self.metrics.decisions.labels(decision.action).inc()
        extra = {
            "decision": decision.action,
            "decision_reasons": decision.reasons,
            "risk_score": round(score.score, 4),
        }
        if decision.action in ("block", "rate_limited"):
            if decision.action == "rate_limited":
                decision.retry_after_s = self._spread(principal.account, decision.retry_after_s, started)
            exc = self._refusal(decision)
            await self._log_refusal(
                principal.account,
                principal.key_id,
                endpoint,
                body,
                meta,
                exc,
                started,
                decision.action,
                decision.reasons,
            )
            raise exc
        _pending.set(_Pending(principal.account, decision, extra=extra, features=features))
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        return Admission(
            account=principal.account,
            key_id=principal.key_id,
            strip_logprobs=decision.strip_logprobs,
            defend=decision.defend,
            reasons=list(decision.reasons),
            meta={**meta, **extra},
            headers=dict(decision.headers),  # x-ratelimit-* on every answer, as OpenAI sends them
        )

    async def record(self, exchange: Exchange) -> None:
        pending = _pending.get()
        if pending is not None:
            _pending.set(None)
            if pending.recorded:
                return  # a refusal the guard already logged at admission
            for key, value in pending.extra.items():
                exchange.extra.setdefault(key, value)
            self.policy.settle(
                pending.account, pending.decision.estimated_tokens, _used_tokens(exchange), time.time()
            )
            if pending.features is not None:  # the answer's length feeds the volume signal
                self.risk.answered(
                    pending.account,
                    pending.features,
                    exchange.prompt_tokens,
                    exchange.completion_tokens,
                    exchange.ts,
                    exchange.finish_reason,
                )
        exchange.extra.setdefault("decision", "allow")
        self.metrics.observe_request(exchange.endpoint, exchange.status, exchange.latency_ms)
        await self._enqueue(exchange)

    async def _enqueue(self, exchange: Exchange) -> None:
        row = row_of(exchange)
        if self._started:
            with contextlib.suppress(RuntimeError):  # the writer closed meanwhile: write directly
                await self.writer.put(row)
                return
        # Outside the app's lifespan (a late stream after shutdown): write directly, never drop.
        await asyncio.to_thread(self.store.write_rows, [row])

    # -- refusals ---------------------------------------------------------------------------

    def _spread(self, account: str, wait_s: float, now: float) -> float:
        """The retry advice for the next refused request of ``account``, spread over those waiting.

        ``wait_s`` is when one slot frees; if k requests of the account were refused within
        the last ``RETRY_WINDOW_S``, they wait for the same slot, so this one is advised a
        uniformly drawn point in ``[wait_s, wait_s + k * slot]`` (a slot is 60 s / RPM): the
        waiters retry spread out instead of all on the same tick (issue 19).
        """
        recent = self._refused.setdefault(account, collections.deque(maxlen=1024))
        while recent and now - recent[0] > RETRY_WINDOW_S:
            recent.popleft()
        waiting = len(recent)
        recent.append(now)
        rpm = self.policy.config.limits_for(account).rpm
        slot = 60.0 / rpm if rpm else max(wait_s, 0.05)
        return wait_s + random.uniform(0.0, waiting * slot)

    @staticmethod
    def _refusal(decision: Decision) -> APIError:
        if decision.action == "block":
            # The reasons stay in the log: telling a harvester what gave it away helps it evade.
            return APIError(
                403,
                "This account's access has been suspended under the provider's usage policy.",
                "permission_error",
                code="account_blocked",
            )
        retry = max(1, math.ceil(decision.retry_after_s))
        kind = "tokens" if "tokens" in " ".join(decision.reasons) else "requests"
        headers = {
            **decision.headers,
            "retry-after": str(retry),
            "retry-after-ms": str(int(decision.retry_after_s * 1000)),
        }
        return APIError(
            429,
            f"Rate limit reached: {decision.reasons[0]}. Please try again in {retry}s.",
            kind,
            code="rate_limit_exceeded",
            headers=headers,
        )

    async def _log_refusal(
        self,
        account: str,
        key_id: str | None,
        endpoint: str,
        body: Any,
        meta: dict[str, Any],
        exc: APIError,
        started: float,
        decision: str,
        reasons: list[str],
    ) -> None:
        body = body if isinstance(body, dict) else {}
        # Refused requests are stored capped, whoever sent them: a refusal must not flood the log.
        exchange_kwargs, truncated = _refused_request_text(body, anonymous=True)
        params, cut = _capped_params(body)
        truncated = truncated or cut
        extra = {"decision": decision, "decision_reasons": list(reasons), "error": exc.message}
        if truncated:
            extra["truncated"] = True
        exchange = Exchange(
            id=new_exchange_id(),
            ts=started,
            account=account,
            key_id=key_id,
            ip=meta.get("ip"),
            user_agent=meta.get("user_agent"),
            org=meta.get("org"),
            payment_id=meta.get("payment_id"),
            model=body.get("model") if isinstance(body.get("model"), str) else None,
            endpoint=endpoint,
            params=params,
            status=exc.status,
            latency_ms=(time.time() - started) * 1000.0,
            extra=extra,
            **exchange_kwargs,
        )
        self.metrics.observe_request(endpoint, exc.status, exchange.latency_ms)
        # Mark it so that the server's own record of this refused request is not logged twice.
        _pending.set(_Pending(account, Decision(decision, reasons, 0.0), recorded=True))
        await self._enqueue(exchange)

    # -- routes -----------------------------------------------------------------------------

    def router(self) -> fastapi.APIRouter | None:
        from distillscope.guard.admin import admin_router

        return admin_router(self)


def _capped_params(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The sampling parameters of a refused request, each at most ``ANONYMOUS_TEXT_LIMIT`` as JSON."""
    params, cut = {}, False
    for name in SAMPLING_PARAMS:
        if name not in body:
            continue
        value = body[name]
        if isinstance(value, dict | list | str):
            text = json.dumps(value, ensure_ascii=False, default=str)
            if len(text) > ANONYMOUS_TEXT_LIMIT:
                value, cut = text[:ANONYMOUS_TEXT_LIMIT], True
        params[name] = value
    return params, cut


def _refused_request_text(body: dict[str, Any], anonymous: bool) -> tuple[dict[str, Any], bool]:
    """The messages or prompt of a refused request for its log row.

    Without a valid key anyone can send anything: their text is cut to
    ``ANONYMOUS_TEXT_LIMIT`` characters per message, so that the log cannot be flooded.
    """
    limit = ANONYMOUS_TEXT_LIMIT if anonymous else None
    truncated = False

    def cut(value: Any) -> Any:
        nonlocal truncated
        if limit is None:
            return value
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > limit:
            truncated = True
            return text[:limit]
        return value

    messages = body.get("messages")
    if isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages):
        if not anonymous:
            return {"messages": messages}, False
        kept = messages[:MAX_ANONYMOUS_MESSAGES]
        truncated = len(kept) < len(messages)
        return {
            "messages": [{"role": cut(m["role"]), "content": cut(m.get("content"))} for m in kept]
        }, truncated
    prompt = body.get("prompt")
    return {"prompt": cut(prompt) if isinstance(prompt, str) else ""}, truncated


def _used_tokens(exchange: Exchange) -> int | None:
    if exchange.prompt_tokens is None and exchange.completion_tokens is None:
        # A request that failed before any usage (a 400, a cancelled stream) used nothing.
        return 0 if exchange.status is not None and exchange.status >= 400 else None
    return int(exchange.prompt_tokens or 0) + int(exchange.completion_tokens or 0)


def build_gateway(db_url: str | None, policy_path: str | None, open_mode: bool) -> GuardGateway:
    """The guard for ``distillscope serve``: keys and log in ``db_url`` (default ``<workdir>/guard.db``)."""
    url = db_url or default_db_url()
    policy = PolicySettings.from_file(policy_path) if policy_path else PolicySettings()
    decode = load_token_decoder(policy.scoring.tokenizer) if policy.scoring.tokenizer else None
    keys = None if open_mode else KeyStore(url, load_server_secret())
    return GuardGateway(keys, open_log_store(url, create=True), policy, open_mode=open_mode, decode=decode)
