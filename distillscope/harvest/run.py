"""Run a harvest: strategy rounds -> requests -> cached answers -> dataset and manifest.

:func:`harvest` is the Python API (the CLI and the demo call it). It replays the
strategy's rounds; every request already answered is taken from the cache
(never sent again), the rest go through the dispatcher (budget, rate limit,
retries). At the end, also after Ctrl-C or an exhausted budget, the dataset
files and the manifest are rebuilt from the cache. A killed run leaves the cache
intact; running the same command again resumes it.

Ctrl-C (or SIGTERM) once: no new request is started, requests in flight finish
and are kept. Twice: requests in flight are abandoned (their answers, if the
teacher still bills them, are lost: that is why once is the default).

This module must not parse CLI options.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distillscope import __version__
from distillscope.clitools import console
from distillscope.errors import DistillscopeError
from distillscope.harvest.batch.store import BatchStore, describe_batches
from distillscope.harvest.budget import Budget, Caps, Usage
from distillscope.harvest.cache import AnswerCache, CachedAnswer
from distillscope.harvest.client import TeacherClient
from distillscope.harvest.dispatch import Dispatcher, PlannedRequest, Result
from distillscope.harvest.formats import request_messages, usage_tokens, view
from distillscope.harvest.limiter import RateLimiter
from distillscope.harvest.output import build_exchange, iso, write_manifest, write_outputs
from distillscope.harvest.preflight import preflight_estimate
from distillscope.harvest.prices import FREE, Price, PriceTable
from distillscope.harvest.progress import HarvestProgress
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import Query, StaticStrategy, TeacherAware
from distillscope.harvest.teacher import Teacher, describe_teacher, open_teacher
from distillscope.records import Exchange

NO_TERMS_WARNING = (
    "No terms of use were stated for this teacher (--terms). distillscope records what you state "
    "and does not judge it; many providers' terms forbid training competing models on their outputs."
)


_Planned = tuple[Query, PlannedRequest]


class HarvestError(DistillscopeError, RuntimeError):
    """A harvest that cannot start as configured (message meant for the user)."""


@dataclass
class HarvestResult:
    out_dir: Path
    exchanges: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    sent: int = 0
    from_cache: int = 0
    spent: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    budget_exhausted: bool = False
    dry_run: bool = False
    estimate: dict[str, Any] | None = None
    manifest_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


def harvest(settings: HarvestSettings) -> HarvestResult:
    """Run (or, with ``dry_run``, estimate) a harvest; see the module docstring."""
    prices = PriceTable.load(settings.prices_file)
    teacher = describe_teacher(settings)
    price = FREE if teacher.kind == "local" else prices.lookup(teacher.model)
    if price is None and settings.max_cost is not None:
        raise HarvestError(
            f"--max-cost needs a price for model {teacher.model!r}, and the price table has none: "
            'add it with --prices FILE ({"models": {NAME: {"input": USD_PER_1M, "output": USD_PER_1M}}})'
        )
    warnings = [] if settings.terms else [NO_TERMS_WARNING]
    if price is None:
        warnings.append(f"no price known for model {teacher.model!r}: costs are recorded as unknown")
    for warning in warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if settings.dry_run:
        estimate = preflight_estimate(settings, teacher, price)
        return HarvestResult(out_dir=settings.out_dir, dry_run=True, estimate=estimate, warnings=warnings)
    with open_teacher(settings) as live:
        run = _Run(settings, live, price, prices, warnings)
        return asyncio.run(run.main())


class _Run:
    def __init__(
        self,
        settings: HarvestSettings,
        teacher: Teacher,
        price: Price | None,
        prices: PriceTable,
        warnings: list[str],
    ) -> None:
        self.settings, self.teacher, self.price, self.prices = settings, teacher, price, prices
        self.warnings = warnings
        self.rows: list[tuple[tuple[int, int], Query, str]] = []
        self.failures: list[dict[str, Any]] = []
        # (position, query, answer): exchanges are built only for strategies that read them
        self.answered: list[tuple[tuple[int, int], Query, CachedAnswer]] = []
        self.seen: set[str] = set()
        self.duplicates = 0
        self.duplicate_examples: list[Any] = []
        # Batch requests are reserved (and billed) at the batch price.
        self.request_price = price.batch() if settings.batch and price is not None else price
        self.helper_requests = 0
        self.skipped = 0
        self.interrupted = False
        self.error: str | None = None
        self.started_at = time.time()

    async def main(self) -> HarvestResult:
        settings = self.settings
        self.cache = AnswerCache(settings.cache_file)
        if not settings.batch:
            self._refuse_with_open_batches()
        previous = self._previous_spending()
        self.budget = Budget(
            Caps(settings.max_requests, settings.max_tokens, settings.max_cost), spent=previous
        )
        # No probe request for the in-process teacher: it has no rate limit to discover.
        self.limiter = RateLimiter(settings.rpm, settings.tpm, probe=self.teacher.kind == "url")
        client = TeacherClient(
            self.teacher.base_url,
            self.teacher.api_key,
            timeout_s=settings.timeout_s,
            max_connections=max(settings.concurrency * 2, 16),
            idempotency_keys=settings.idempotency_keys,
            api=self.teacher.api,
        )
        self.dispatcher = Dispatcher(
            teacher_id=self.teacher.teacher_id,
            client=client,
            cache=self.cache,
            budget=self.budget,
            limiter=self.limiter,
            price=self.price,
            run_id=settings.run_id,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            backoff_base_s=settings.backoff_base_s,
            backoff_max_s=settings.backoff_max_s,
            retry_failed=settings.retry_failed,
        )
        self.batch_stop = threading.Event()
        self.batch_runner = self._batch_runner() if settings.batch else None
        self.loop = asyncio.get_running_loop()
        if isinstance(settings.strategy, TeacherAware):
            settings.strategy.bind_teacher(self._ask)
        try:
            with self._signals(), HarvestProgress(settings.progress, self.budget) as progress:
                self.progress = progress
                self.dispatcher.on_answer = progress.answered
                await self._rounds()
        except asyncio.CancelledError:
            self.interrupted = True
        except Exception as exc:
            self.error = str(exc)  # the outputs are still written (finally), then the error is raised
            raise
        finally:
            await client.aclose()
            if self.batch_runner is not None:
                self.batch_runner.api.close()
            result = self._finish()
            self.cache.close()
        return result

    def _refuse_with_open_batches(self) -> None:
        """A synchronous run must not send what an open batch of the same run may still answer."""
        store = BatchStore(self.cache)
        still_open = store.open_batches(self.settings.run_id, self.teacher.teacher_id)
        if still_open:
            self.cache.close()
            ids = ", ".join(b.remote_id or b.local_id for b in still_open[:5])
            raise HarvestError(
                f"{len(still_open)} batch(es) of this run are still open ({ids}): rerun with --batch to "
                "collect them first (their requests would otherwise be sent, and paid, twice)"
            )

    def _previous_spending(self) -> Usage:
        """What earlier attempts of this run paid or may have paid, so the cap spans restarts.

        Answers count at their real usage (at the batch price for batch answers).
        Reservations still on disk were left by killed processes: those requests
        may have been billed without their answers arriving, so they count at
        their worst case. Batches submitted and not yet collected count at the
        worst case of every request in them still unanswered.
        """
        spent = Usage()
        run_id = self.settings.run_id
        for answer in self.cache.answers_of_run(run_id):
            meta_price = answer.meta.get("price") if answer.meta else None
            price = Price(**meta_price) if isinstance(meta_price, dict) else self.price
            tokens = usage_tokens(answer.response)
            if tokens is not None:
                cost = price.cost(*tokens) if price else 0.0
                spent = spent.plus(Usage(1, sum(tokens), cost))
            else:
                planned = PlannedRequest.build(answer.teacher, answer.body, price)
                spent = spent.plus(planned.worst)
        spent = spent.plus(Usage(*self.cache.reserved(run_id)))
        return spent.plus(BatchStore(self.cache).outstanding(run_id))

    def _batch_runner(self) -> Any:
        # Imported here: a synchronous run does not pay for the batch clients' imports.
        from distillscope.harvest.batch.providers import batch_api
        from distillscope.harvest.batch.runner import BatchRunner

        settings = self.settings
        api = batch_api(self.teacher.api, self.teacher.base_url, self.teacher.api_key, settings.timeout_s)
        return BatchRunner(
            api=api,
            cache=self.cache,
            budget=self.budget,
            recount=self._previous_spending,
            teacher_id=self.teacher.teacher_id,
            run_id=settings.run_id,
            price=self.request_price,
            stats=self.dispatcher.stats,
            stop=self.batch_stop,
            poll_s=settings.batch_poll_s,
            max_retries=settings.max_retries,
            retry_failed=settings.retry_failed,
            max_requests=settings.batch_max_requests,
            max_bytes=settings.batch_max_bytes,
            on_interrupt=settings.on_interrupt,
            on_answer=lambda count: self.progress.answered(Usage(count)),
        )

    async def _rounds(self) -> None:
        strategy = self.settings.strategy
        for round_index in range(self.settings.max_rounds):
            if self.dispatcher.stop.is_set() or self.dispatcher.budget_exhausted:
                break
            # In query order, not arrival order: a replayed round must see exactly the same inputs.
            answered = [] if isinstance(strategy, StaticStrategy) else self._answered_in_order()
            queries = await asyncio.to_thread(strategy.next_round, round_index, answered)
            if not queries:
                break
            planned = self._plan(queries)
            self.progress.add(len(planned))
            if self.batch_runner is not None:
                await self._batch_round(round_index, planned)
                continue
            # A fixed pool of workers over the round (not one task per query): memory stays flat
            # for rounds of any size, and the dispatcher's semaphore still bounds requests in flight.
            work = iter(enumerate(planned))
            workers = min(len(planned), self.settings.concurrency * 2 + 2)
            await asyncio.gather(*(self._worker(round_index, work) for _ in range(workers)))

    def _answered_in_order(self) -> list[Exchange]:
        ordered = sorted(self.answered, key=lambda item: item[0])
        return [self._exchange(query, answer) for _, query, answer in ordered]

    def _plan(self, queries: Sequence[Query]) -> list[tuple[Query, PlannedRequest]]:
        planned = []
        for query in queries:
            body = self.settings.body_for(self.teacher.model, query)
            request = PlannedRequest.build(self.teacher.teacher_id, body, self.request_price)
            if request.key in self.seen:
                # The same request twice in one run is asked (and paid) once, and counted.
                self.duplicates += 1
                if len(self.duplicate_examples) < 20:
                    self.duplicate_examples.append(request_messages(request.body)[-1].get("content"))
                continue
            self.seen.add(request.key)
            planned.append((query, request))
        return planned

    async def _batch_round(self, round_index: int, planned: list[_Planned]) -> None:
        assert self.batch_runner is not None
        results = await asyncio.to_thread(self.batch_runner.run, [request for _, request in planned])
        if self.batch_runner.budget_exhausted:
            self.dispatcher.budget_exhausted = True
        for i, (query, request) in enumerate(planned):
            result = results[request.key]
            self.progress.done(result.status == "cached")
            self._collect((round_index, i), query, request, result)

    async def _worker(self, round_index: int, work: Iterator[tuple[int, _Planned]]) -> None:
        for i, (query, request) in work:
            await self._get((round_index, i), query, request)

    async def _get(self, position: tuple[int, int], query: Query, request: PlannedRequest) -> None:
        result = await self.dispatcher.get(request)
        self.progress.done(result.status == "cached")
        self._collect(position, query, request, result)

    def _collect(
        self, position: tuple[int, int], query: Query, request: PlannedRequest, result: Result
    ) -> None:
        # Collected as each request finishes, so an abandoned round still keeps what was answered.
        if result.answer is not None:
            self.rows.append((position, query, request.key))
            self.answered.append((position, query, result.answer))
        elif result.status == "failed":
            failure = self.cache.failure(request.key)
            self.failures.append(
                {
                    "request_key": request.key,
                    "messages": request.body["messages"],
                    "status": failure.status if failure else None,
                    "reason": result.reason,
                    "permanent": bool(failure and failure.permanent),
                    "query_meta": query.meta,
                }
            )
        else:
            self.skipped += 1

    def _exchange(self, query: Query, answer: CachedAnswer) -> Exchange:
        return build_exchange(
            query,
            answer,
            teacher=self.teacher.kind,
            base_url=self.teacher.shown_url,
            strategy=self.settings.strategy.name,
            account=self.settings.account,
            price=self.price,
        )

    # -- helper generations for adaptive strategies ---------------------------------

    def _ask(self, queries: Sequence[Query]) -> list[str | None]:
        """Blocking, from the strategy's worker thread: helper generations through cache and budget."""
        if self.dispatcher.stop.is_set():
            return [None] * len(queries)
        future = asyncio.run_coroutine_threadsafe(self._ask_async(queries), self.loop)
        return future.result()

    async def _ask_async(self, queries: Sequence[Query]) -> list[str | None]:
        requests = []
        for query in queries:
            body = self.settings.body_for(self.teacher.model, query, helper=True)
            requests.append(PlannedRequest.build(self.teacher.teacher_id, body, self.price))
        self.helper_requests += len(requests)
        results = await asyncio.gather(*(self.dispatcher.get(r) for r in requests))
        return [view(result.answer.response).text if result.answer else None for result in results]

    # -- stopping ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        task = asyncio.current_task()
        installed = []

        def on_signal() -> None:
            if self.dispatcher.stop.is_set():
                console.print("[bold red]stopping now[/]: requests in flight are abandoned")
                if task is not None:
                    task.cancel()
                return
            self.interrupted = True
            self.dispatcher.stop.set()
            self.batch_stop.set()
            console.print(
                "[bold yellow]stopping[/]: no new requests; waiting for those in flight "
                "(Ctrl-C again to abandon them). Everything answered is kept."
            )

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signal support: Ctrl-C falls back to the default
        try:
            yield
        finally:
            for sig in installed:
                self.loop.remove_signal_handler(sig)

    # -- output -----------------------------------------------------------------------

    def _finish(self) -> HarvestResult:
        out_dir = self.settings.out_dir
        exchanges = []
        for _, query, key in sorted(self.rows, key=lambda row: row[0]):
            answer = self.cache.get(key)  # the cache is the source of truth for every row written
            if answer is not None:
                exchanges.append(self._exchange(query, answer))
        files = write_outputs(out_dir, exchanges, self.failures)
        stats = self.dispatcher.stats
        manifest = self._manifest(exchanges, files)
        path = write_manifest(out_dir, manifest)
        result = HarvestResult(
            out_dir=out_dir,
            exchanges=len(exchanges),
            failed=len(self.failures),
            skipped=self.skipped,
            duplicates=self.duplicates,
            sent=stats.attempts,
            from_cache=stats.from_cache,
            spent=asdict(self.budget.spent),
            interrupted=self.interrupted,
            budget_exhausted=self.dispatcher.budget_exhausted,
            manifest_path=path,
            warnings=self.warnings,
        )
        _summary(result, self.error)
        return result

    def _status(self) -> str:
        if self.error is not None:
            return "error"
        if self.interrupted:
            return "interrupted"
        return "budget_exhausted" if self.dispatcher.budget_exhausted else "complete"

    def _manifest(self, exchanges: list[Exchange], files: dict[str, str]) -> dict[str, Any]:
        settings, stats = self.settings, self.dispatcher.stats
        finish = Counter(e.finish_reason or "unknown" for e in exchanges)
        known_costs = [e.cost_usd for e in exchanges if e.cost_usd is not None]
        strategy = settings.strategy
        describe = getattr(strategy, "describe", None)
        return {
            "distillscope_version": __version__,
            "run_id": settings.run_id,
            "started_at": iso(self.started_at),
            "finished_at": iso(time.time()),
            "status": self._status(),
            "error": self.error,
            "terms": settings.terms,
            "terms_stated": bool(settings.terms),
            "warnings": self.warnings,
            "teacher": {
                "kind": self.teacher.kind,
                "id": self.teacher.teacher_id,
                "base_url": self.teacher.shown_url,
                "model": self.teacher.model,
                "api_key_env": settings.key_env if self.teacher.kind == "url" else None,
                "api": self.teacher.api,
                "system_fingerprints": sorted(
                    {str(e.provenance.get("system_fingerprint")) for e in exchanges if e.provenance}
                ),
            },
            "strategy": describe() if callable(describe) else {"name": strategy.name},
            "sampling": settings.sampling(),
            "account": settings.account,
            "totals": {
                "exchanges": len(exchanges),
                "failed": len(self.failures),
                "failed_permanent": sum(1 for f in self.failures if f["permanent"]),
                "skipped": self.skipped,
                "duplicate_queries": self.duplicates,
                "helper_requests": self.helper_requests,
                "prompt_tokens": sum(e.prompt_tokens or 0 for e in exchanges),
                "completion_tokens": sum(e.completion_tokens or 0 for e in exchanges),
                "cost_usd": round(sum(known_costs), 8) if self.price is not None else None,
                "finish_reasons": dict(finish),
            },
            "this_process": {
                "attempts": stats.attempts,
                "answered": stats.answered,
                "from_cache": stats.from_cache,
                "statuses": {str(k): v for k, v in stats.statuses.items()},
                "retries": dict(stats.retries),
                "rate_limit_pauses": self.limiter.pauses,
                "advertised_rpm": self.limiter.advertised_rpm,
                "advertised_tpm": self.limiter.advertised_tpm,
            },
            "budget": {
                "max_requests": settings.max_requests,
                "max_tokens": settings.max_tokens,
                "max_cost": settings.max_cost,
                "spent": asdict(self.budget.spent),
                "overruns": self.budget.overruns,
                "exhausted": self.dispatcher.budget_exhausted,
            },
            "price": None if self.price is None else {"model": self.teacher.model, **self.price.as_dict()},
            "mode": "batch" if settings.batch else "sync",
            "batch_price": None if not settings.batch or self.price is None else self.price.batch().as_dict(),
            "duplicates": {"count": self.duplicates, "examples": self.duplicate_examples},
            "batches": describe_batches(BatchStore(self.cache).all_batches(settings.run_id)),
            "cache": str(settings.cache_file),
            "files": {**files, "manifest": "manifest.json"},
        }


def _summary(result: HarvestResult, error: str | None = None) -> None:
    state = (
        "interrupted" if result.interrupted else ("budget exhausted" if result.budget_exhausted else "done")
    )
    if error is not None:
        state = "stopped by an error (everything answered is kept; rerun to resume)"
    console.print(
        f"harvest {state}: {result.exchanges} exchanges ({result.from_cache} from cache, "
        f"{result.sent} request attempts), {result.failed} failed, {result.skipped} not sent, "
        f"{result.duplicates} duplicate queries asked once; "
        f"spent {result.spent.get('tokens', 0)} tokens, ${result.spent.get('cost', 0.0):.6f} "
        f"-> {result.out_dir}",
        highlight=False,
    )
