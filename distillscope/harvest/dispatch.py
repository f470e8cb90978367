"""Get one answer for one planned request: cache, budget, rate limit, retries, in that order.

For each request: a cached answer is returned as is (never paid again); a
permanent failure recorded earlier is returned as is (unless retrying failures
was asked for); otherwise the worst case is reserved from the budget, the rate
limiter is waited on, and the request is sent. The reservation is committed to
the cache before the request leaves (so a kill cannot forget it), and deleted in
the transaction that commits the answer, before anything else is done with it.
Transient failures are retried with exponential backoff and full jitter (a
``retry-after`` from the server wins), at most ``max_retries`` times; permanent
ones are recorded with their reason.

A stop request (Ctrl-C) lets requests in flight finish but starts no new one and
no further retry. This module must not know about strategies or output files.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from distillscope.harvest.budget import Budget, Usage, prompt_tokens_bound, prompt_tokens_estimate
from distillscope.harvest.cache import AnswerCache, CachedAnswer
from distillscope.harvest.canonical import canonical_json, request_key
from distillscope.harvest.client import KEPT_HEADERS, Outcome, TeacherClient
from distillscope.harvest.formats import request_messages, usage_tokens
from distillscope.harvest.limiter import RateLimiter
from distillscope.harvest.prices import Price


@dataclass(frozen=True)
class PlannedRequest:
    """A request body with its content address and budget bounds."""

    key: str
    body: dict[str, Any]
    body_json: str
    worst: Usage
    estimated_tokens: int

    @classmethod
    def build(cls, teacher_id: str, body: dict[str, Any], price: Price | None) -> PlannedRequest:
        messages = request_messages(body)
        bound = prompt_tokens_bound(messages)
        max_tokens = int(body.get("max_tokens") or 0)
        worst_cost = price.cost(bound, max_tokens) if price is not None else 0.0
        return cls(
            key=request_key(teacher_id, body),
            body=body,
            body_json=canonical_json(body),
            worst=Usage(1, bound + max_tokens, worst_cost),
            estimated_tokens=prompt_tokens_estimate(messages) + max_tokens,
        )


Status = Literal["answered", "cached", "failed", "skipped"]


@dataclass
class Result:
    status: Status
    answer: CachedAnswer | None = None
    reason: str = ""


@dataclass
class Stats:
    """Counts for the manifest and the progress bar (this process only)."""

    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    answered: int = 0
    from_cache: int = 0
    failed_permanent: int = 0
    failed_transient: int = 0
    skipped_budget: int = 0
    skipped_stop: int = 0
    statuses: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    spent: Usage = field(default_factory=Usage)


class Dispatcher:
    """Turns :class:`PlannedRequest` objects into answers; one per harvest run."""

    def __init__(
        self,
        *,
        teacher_id: str,
        client: TeacherClient,
        cache: AnswerCache,
        budget: Budget,
        limiter: RateLimiter,
        price: Price | None,
        run_id: str,
        concurrency: int,
        max_retries: int,
        backoff_base_s: float,
        backoff_max_s: float,
        retry_failed: bool = False,
        on_answer: Callable[[Usage], None] | None = None,
    ) -> None:
        self.teacher_id = teacher_id
        self.client, self.cache, self.budget, self.limiter = client, cache, budget, limiter
        self.price = price
        self.run_id = run_id
        self.max_retries = max_retries
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.retry_failed = retry_failed
        self.on_answer = on_answer
        self.stats = Stats()
        self.stop = asyncio.Event()
        self.budget_exhausted = False
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = random.Random()
        self._pending: dict[str, asyncio.Task[Result]] = {}

    async def get(self, request: PlannedRequest) -> Result:
        """The answer to ``request``; concurrent calls for the same key share one request."""
        pending = self._pending.get(request.key)
        if pending is None:
            pending = asyncio.ensure_future(self._get(request))
            self._pending[request.key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(request.key, None))
        return await asyncio.shield(pending)

    async def _get(self, request: PlannedRequest) -> Result:
        cached = self.cache.get(request.key)
        if cached is not None:
            self.stats.from_cache += 1
            return Result("cached", cached)
        failure = self.cache.failure(request.key)
        if failure is not None and failure.permanent and not self.retry_failed:
            self.stats.failed_permanent += 1
            return Result("failed", reason=f"{failure.reason} (recorded earlier, not retried)")
        async with self._slots:
            return await self._fetch(request)

    async def _fetch(self, request: PlannedRequest) -> Result:
        if self.stop.is_set():
            self.stats.skipped_stop += 1
            return Result("skipped", reason="stopped before sending")
        reservation = await self.budget.reserve(request.worst)
        if reservation is None:
            self.budget_exhausted = True
            self.stats.skipped_budget += 1
            return Result("skipped", reason="budget exhausted")
        worst = request.worst
        stored = self.cache.reserve(self.run_id, request.key, worst.requests, worst.tokens, worst.cost)
        attempt = 0
        while True:
            await self.limiter.acquire(request.estimated_tokens)
            self.stats.attempts += 1
            outcome = await self.client.send(request.body_json, request.key)
            self.limiter.observe(outcome.headers, outcome.status)
            self.stats.statuses[outcome.status or "network"] += 1
            if outcome.kind == "answer":
                answer = self._commit(request, outcome, stored)
                usage = self.usage_of(answer.response)
                await self.budget.settle(reservation, usage)
                self.stats.answered += 1
                spent = usage or request.worst
                self.stats.spent = self.stats.spent.plus(spent)
                if self.on_answer is not None:
                    self.on_answer(spent)
                return Result("answered", answer)
            attempt += 1
            give_up = outcome.kind == "permanent" or attempt > self.max_retries or self.stop.is_set()
            if give_up:
                self.cache.release(stored)
                await self.budget.release(reservation)
                return self._record_failure(request, outcome, attempt)
            self.stats.retries[outcome.reason.split(":")[0]] += 1
            await self._sleep_before_retry(attempt, outcome)

    def _commit(self, request: PlannedRequest, outcome: Outcome, reservation: int) -> CachedAnswer:
        # The answer is on disk (and its reservation settled) before budgets, stats or output see it.
        kept = {name: outcome.headers[name] for name in KEPT_HEADERS if name in outcome.headers}
        self.cache.put_answer(
            request.key,
            self.teacher_id,
            request.body_json,
            outcome.text,
            headers=kept,
            latency_ms=outcome.latency_ms,
            run_id=self.run_id,
            reservation=reservation,
        )
        return CachedAnswer(
            key=request.key,
            teacher=self.teacher_id,
            body=request.body,
            response=outcome.data or {},
            headers=kept,
            latency_ms=outcome.latency_ms,
            received_at=time.time(),
            run_id=self.run_id,
        )

    def _record_failure(self, request: PlannedRequest, outcome: Outcome, attempts: int) -> Result:
        permanent = outcome.kind == "permanent"
        reason = outcome.reason if permanent else f"{outcome.reason} (gave up after {attempts} attempt(s))"
        self.cache.put_failure(
            request.key,
            self.teacher_id,
            request.body_json,
            outcome.status,
            reason,
            permanent,
            attempts,
            run_id=self.run_id,
        )
        if permanent:
            self.stats.failed_permanent += 1
        else:
            self.stats.failed_transient += 1
        return Result("failed", reason=reason)

    async def _sleep_before_retry(self, attempt: int, outcome: Outcome) -> None:
        if outcome.retry_after is not None:
            # The server said when; a little jitter keeps retries from arriving together.
            delay = outcome.retry_after + self._rng.uniform(0, 0.1 * max(outcome.retry_after, 0.1))
        else:
            ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
            delay = self._rng.uniform(0, ceiling)  # "full jitter"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=delay)

    def usage_of(self, response: dict[str, Any]) -> Usage | None:
        """Tokens and cost of an answer from its ``usage``; None when the teacher reported none."""
        tokens = usage_tokens(response)
        if tokens is None:
            return None
        prompt, completion = tokens
        cost = self.price.cost(prompt, completion) if self.price is not None else 0.0
        return Usage(1, prompt + completion, cost)
