"""Plan, submit, poll and collect provider batches for one round of requests; resume what a kill left.

One call of :meth:`BatchRunner.run` gets every request of a round answered
through the provider's batch API, or recorded as failed, or left for later:

1. Batches this run left open (a killed or interrupted process) are driven on
   first, from the stage they reached (:mod:`distillscope.harvest.batch.store`):
   a ``planned`` batch looks for the file it may have uploaded before uploading,
   a ``creating`` one looks for the batch it may have created before creating,
   a ``submitted`` one is polled. So a SIGKILL at any moment never submits a
   request twice.
2. The requests not answered yet (and not in an open batch) are split at the
   provider's limits, checked against the budget at the batch price (spent +
   every open batch's unanswered worst case), and written to the cache as new
   batches before anything is uploaded.
3. Every batch is polled until it ends; its output and error lines are
   committed in one transaction per batch, by custom id (the cache key).
   Requests a batch did not answer (expired, cancelled, a transient error) are
   submitted again in a new batch, up to ``max_retries`` times; permanent errors
   are recorded and not retried.

Stop (Ctrl-C) is checked between steps and while waiting: remote batches still
running are cancelled or left running (``on_interrupt``: ask, cancel, keep).
A rerun of the same command picks up either way.

Runs in a worker thread, blocking; it must not parse CLI options.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

from distillscope.clitools import console
from distillscope.harvest.batch.providers import AnthropicBatches, OpenAIBatches, RemoteStatus
from distillscope.harvest.batch.store import BatchItem, BatchRecord, BatchStore
from distillscope.harvest.budget import Budget, Usage
from distillscope.harvest.cache import AnswerCache
from distillscope.harvest.dispatch import PlannedRequest, Result, Stats
from distillscope.harvest.prices import Price

Provider = OpenAIBatches | AnthropicBatches


class BatchRunner:
    """Drives batches for one harvest run (see the module docstring)."""

    def __init__(
        self,
        *,
        api: Provider,
        cache: AnswerCache,
        budget: Budget,
        recount: Callable[[], Usage],
        teacher_id: str,
        run_id: str,
        price: Price | None,
        stats: Stats,
        stop: threading.Event,
        poll_s: float,
        max_retries: int,
        retry_failed: bool = False,
        max_requests: int | None = None,
        max_bytes: int | None = None,
        on_interrupt: str = "ask",
        on_answer: Callable[[int], None] | None = None,
    ) -> None:
        self.api, self.cache, self.budget, self.recount = api, cache, budget, recount
        self.store = BatchStore(cache)
        self.teacher_id, self.run_id, self.price = teacher_id, run_id, price
        self.stats, self.stop, self.poll_s = stats, stop, poll_s
        self.max_retries, self.retry_failed = max_retries, retry_failed
        self.max_requests = min(max_requests or api.max_requests, api.max_requests)
        self.max_bytes = min(max_bytes or api.max_bytes, api.max_bytes)
        self.on_interrupt = on_interrupt
        self.on_answer = on_answer
        self.budget_exhausted = False
        self.answered_now: set[str] = set()
        self.submitted: Counter[str] = Counter()
        self._shown: dict[str, str] = {}
        self._mine: set[str] = set()  # batches planned by this process: nothing to look for at the provider

    # -- the round ------------------------------------------------------------------

    def run(self, requests: Sequence[PlannedRequest]) -> dict[str, Result]:
        wanted = {r.key: r for r in requests}
        cached_before = self.cache.has(wanted)
        self.stats.from_cache += len(cached_before)
        while not self.stop.is_set():
            self._drive(self.store.open_batches(self.run_id, self.teacher_id))
            if self.stop.is_set():
                break
            pending = self._to_submit(wanted)
            if not pending or not self._plan_batches(pending):
                break
        self.budget.spent, self.budget.reserved = self.recount(), Usage()
        return {key: self._result(key, key in cached_before) for key in wanted}

    def _to_submit(self, wanted: dict[str, PlannedRequest]) -> list[PlannedRequest]:
        answered = self.cache.has(wanted)
        pending = []
        for key, request in wanted.items():
            if key in answered or self.submitted[key] > self.max_retries:
                continue
            failure = self.cache.failure(key)
            retry = self.retry_failed and self.submitted[key] == 0
            if failure is not None and failure.permanent and not retry:
                continue
            pending.append(request)
        return pending

    def _result(self, key: str, cached: bool) -> Result:
        answer = self.cache.get(key)
        if answer is not None:
            return Result("answered" if key in self.answered_now else "cached", answer)
        failure = self.cache.failure(key)
        if failure is not None and (failure.permanent or self.submitted[key] > self.max_retries):
            return Result("failed", reason=failure.reason)
        reason = "budget exhausted" if self.budget_exhausted else "stopped before an answer arrived"
        return Result("skipped", reason=reason)

    # -- planning: budget, limits, records ----------------------------------------

    def _plan_batches(self, pending: list[PlannedRequest]) -> int:
        """Write new batches for what fits the budget; returns how many requests they hold."""
        self.budget.spent, self.budget.reserved = self.recount(), Usage()
        chunk: list[PlannedRequest] = []
        size = planned = 0
        for request in pending:
            if not self.budget.fits(request.worst):
                self.budget_exhausted = True
                continue
            line_size = self.api.line_size(request.key, request.body_json)
            if chunk and (len(chunk) >= self.max_requests or size + line_size > self.max_bytes):
                planned += self._record(chunk)
                chunk, size = [], 0
            self.budget.reserved = self.budget.reserved.plus(request.worst)
            chunk.append(request)
            size += line_size
        if chunk:
            planned += self._record(chunk)
        return planned

    def _record(self, chunk: list[PlannedRequest]) -> int:
        local_id = f"dsb-{self.run_id[:8]}-{uuid.uuid4().hex[:12]}"
        items = [BatchItem(r.key, r.body_json, r.worst.tokens, r.worst.cost) for r in chunk]
        price = None if self.price is None else self.price.as_dict()
        self.store.create(
            local_id,
            run_id=self.run_id,
            provider=self.api.name,
            teacher=self.teacher_id,
            price=price,
            items=items,
        )
        self._mine.add(local_id)
        for request in chunk:
            self.submitted[request.key] += 1
        return len(chunk)

    # -- driving batches to their end ---------------------------------------------

    def _drive(self, batches: list[BatchRecord]) -> None:
        for batch in batches:
            if self.stop.is_set():
                return
            self._submit(batch)
        live = [b.local_id for b in batches if (self.store.get(b.local_id) or b).stage == "submitted"]
        while live:
            for local_id in list(live):
                batch = self.store.get(local_id)
                assert batch is not None and batch.remote_id
                status = self.api.status(batch.remote_id)
                self.store.note_status(local_id, status.status, status.counts)
                self._show(batch, status)
                if status.terminal:
                    self._collect(batch, status)
                    live.remove(local_id)
            if live and self.stop.wait(self.poll_s):
                self._interrupted(live)
                return

    def _submit(self, batch: BatchRecord) -> None:
        """Bring a batch from whatever stage it reached to ``submitted``."""
        items: list[BatchItem] | None = None
        lines: list[bytes] = []
        if batch.stage in ("planned", "uploaded", "creating"):
            items = self.store.items(batch.local_id)
            lines = [self.api.line(i.key, i.body_json) for i in items]
        if batch.stage == "planned" and self.api.needs_upload:
            found = None if batch.local_id in self._mine else self.api.find_upload(batch.local_id)
            file_id = found or self.api.upload(batch.local_id, lines)
            self.store.advance(batch.local_id, "uploaded", input_file_id=file_id)
            batch = self.store.get(batch.local_id) or batch
        if self.stop.is_set():
            return
        if batch.stage == "creating" and batch.local_id not in self._mine:
            # The create call of a killed process may have reached the provider: adopt that batch.
            adopted = self.store.remote_ids(self.api.name)
            found = self.api.find(batch.local_id, batch.updated_at, len(items or []), adopted)
            if found:
                console.print(
                    f"batch {batch.local_id}: found {found}, created before the last stop", highlight=False
                )
                self.store.advance(batch.local_id, "submitted", remote_id=found)
                return
        if batch.stage in ("planned", "uploaded", "creating"):
            self.store.advance(batch.local_id, "creating")
            remote_id = self.api.create(batch.local_id, batch.input_file_id, lines)
            self.store.advance(batch.local_id, "submitted", remote_id=remote_id)
            self.stats.attempts += len(lines)
            console.print(
                f"batch {batch.local_id}: submitted {len(lines)} requests as {remote_id} ({self.api.name})",
                highlight=False,
                soft_wrap=True,
            )

    def _collect(self, batch: BatchRecord, status: RemoteStatus) -> None:
        """Commit every result line of a finished batch, and the fate of requests without one, at once."""
        items = {i.key: i for i in self.store.items(batch.local_id)}
        meta = {"mode": "batch", "provider": self.api.name, "batch_id": batch.remote_id, "price": batch.price}
        failure = self.api.failure(status)
        seen: set[str] = set()
        new: list[str] = []
        with self.cache.transaction():
            for line in self.api.results(status):
                item = items.get(line.key)
                if item is None or line.key in seen:
                    continue  # not ours (or a repeated line): never stored under a key we did not send
                seen.add(line.key)
                if line.answer_text is not None:
                    headers = {"batch-request-id": line.request_id} if line.request_id else {}
                    if self.cache.put_answer(
                        line.key,
                        self.teacher_id,
                        item.body_json,
                        line.answer_text,
                        headers=headers,
                        run_id=self.run_id,
                        meta=meta,
                        commit=False,
                    ):
                        new.append(line.key)
                else:
                    self._fail(
                        line.key,
                        item,
                        line.status,
                        f"{line.reason} (batch {batch.remote_id})",
                        line.permanent,
                    )
            reason, permanent = failure or (f"no result in batch {batch.remote_id} ({status.status})", False)
            for key, item in items.items():
                if key not in seen:
                    self._fail(key, item, None, reason, permanent)
            self.store.advance(batch.local_id, "collected", remote_status=status.status, info=status.counts)
        self.answered_now.update(new)
        self.stats.answered += len(new)
        self.stats.statuses[f"batch:{status.status}"] += 1
        if self.on_answer is not None and new:
            self.on_answer(len(new))
        console.print(
            f"batch {batch.local_id} ({batch.remote_id}) {status.status}: {len(new)} answers, "
            f"{len(items) - len(new)} without",
            highlight=False,
            soft_wrap=True,
        )

    def _fail(self, key: str, item: BatchItem, status: int | None, reason: str, permanent: bool) -> None:
        self.cache.put_failure(
            key,
            self.teacher_id,
            item.body_json,
            status,
            reason,
            permanent,
            self.submitted[key] or 1,
            self.run_id,
        )
        if permanent:
            self.stats.failed_permanent += 1
        else:
            self.stats.failed_transient += 1

    def _show(self, batch: BatchRecord, status: RemoteStatus) -> None:
        shown = f"{status.status} {status.counts}"
        if self._shown.get(batch.local_id) != shown:
            self._shown[batch.local_id] = shown
            console.print(
                f"batch {batch.local_id} ({batch.remote_id}): {shown}", highlight=False, soft_wrap=True
            )

    # -- Ctrl-C --------------------------------------------------------------------

    def _interrupted(self, live: list[str]) -> None:
        records = [b for b in (self.store.get(i) for i in live) if b is not None and b.remote_id]
        choice = self.on_interrupt
        if choice == "ask":
            choice = _ask(len(records))
        if choice == "cancel":
            for batch in records:
                self.api.cancel(str(batch.remote_id))
                console.print(
                    f"batch {batch.local_id} ({batch.remote_id}): cancel requested; rerun to collect what "
                    "it answered and resubmit the rest",
                    highlight=False,
                )
        else:
            console.print(
                f"{len(records)} batch(es) left running at the provider; rerun the same command to collect "
                "them (nothing is submitted twice)",
                highlight=False,
                soft_wrap=True,
            )


def _ask(count: int) -> str:
    """Ask on the terminal whether to cancel; without one, keep the batches (say so with --on-interrupt)."""
    if not sys.stdin or not sys.stdin.isatty():
        return "keep"
    try:
        answer = input(f"Cancel the {count} running batch(es) at the provider? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        return "keep"
    return "cancel" if answer.strip().lower() in ("y", "yes") else "keep"
