"""The background log writer: exchanges are queued on the request path and written in batches.

Durability policy (stated in docs/guard.md, tested in ``tests/guard``):

- ``submit`` only puts the record on an in-memory queue. A writer thread wakes
  every ``poll_interval`` (20 ms), takes everything queued (in transactions of up
  to ``batch_size`` = 256 records) and commits it; it keeps going without sleeping
  while more is queued. As long as the store keeps up, every record is committed
  within ``flush_interval`` (200 ms) of being handed over -- in practice within
  ``poll_interval`` plus one commit.
- The queue is bounded (``max_queue`` = 10 000). When it is full the request
  handler waits (``put``) instead of dropping the record: back-pressure, not loss.
- A batch that fails with a *transient* error (database locked, connection lost,
  PostgreSQL restarting) is retried whole, with backoff; inserts are idempotent on
  the exchange id, so a retry never duplicates.
- A batch that fails with any other error is split: each row is written alone,
  and a row that still fails alone with a non-transient error goes to the spill
  file (the rest is written). One bad row never holds up the rows behind it.
- ``close`` drains the queue within ``close_timeout`` (30 s) **in total**: once the
  budget is spent, every record not yet written is spilled to the JSONL spill file
  instead of being retried (never discarded); if a store call hangs, ``close``
  stops waiting for the thread ``close_join_grace`` later and spills the rest
  itself. The spill file is ``<workdir>/guard-spill-<time>-<pid>.jsonl``, mode 0600,
  one JSON object per line (``ensure_ascii``, so it can hold any text).
- A crash (``kill -9``) loses only what was still queued: the records of the last
  ``flush_interval`` while the store keeps up, never more than ``max_queue``.

Two choices keep the writer off the request path's back: it polls instead of being
woken per record (a producer that wakes a thread hands it the GIL, and then waits
for it), and items may be rows already serialised by the caller (what the gateway
queues), so the thread runs almost only the database driver's C code.

This module must not block the event loop and must not log record contents.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillscope.records import Exchange

log = logging.getLogger("distillscope.guard.writer")

_STOP = object()
#: Exception class names that mean "the store is unavailable", not "this row is bad"
#: (sqlite3 and psycopg both use these names; OSError covers lost connections).
_TRANSIENT_NAMES = frozenset({"OperationalError", "InterfaceError"})


def is_transient(exc: BaseException) -> bool:
    """Whether a store error is worth retrying the same rows for (the store, not the rows, failed)."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    return any(kind.__name__ in _TRANSIENT_NAMES for kind in type(exc).__mro__)


@dataclass
class WriterSettings:
    """How the writer batches, bounds and retries."""

    batch_size: int = 256
    flush_interval: float = 0.2
    poll_interval: float = 0.02
    max_queue: int = 10_000
    retry_max_delay: float = 2.0
    close_timeout: float = 30.0
    close_join_grace: float = 15.0
    spill_dir: str | None = None  # default: the work directory (``$DISTILLSCOPE_HOME``)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("WriterSettings.batch_size must be at least 1")
        if self.flush_interval <= 0:
            raise ValueError("WriterSettings.flush_interval must be positive")
        if not 0 < self.poll_interval <= self.flush_interval / 2:
            raise ValueError("WriterSettings.poll_interval must be positive and at most flush_interval / 2")
        if self.max_queue < self.batch_size:
            raise ValueError("WriterSettings.max_queue must be at least batch_size")
        if self.retry_max_delay <= 0 or self.close_timeout <= 0 or self.close_join_grace <= 0:
            raise ValueError(
                "WriterSettings.retry_max_delay, close_timeout and close_join_grace must be positive"
            )


class BatchWriter:
    """A thread that writes queued exchanges to a store in batches (see the module docstring)."""

    def __init__(
        self,
        write_batch: Callable[[Sequence[Any]], None],
        config: WriterSettings | None = None,
        on_written: Callable[[int, float], None] | None = None,
        spill_line: Callable[[Any], str] | None = None,
        on_spilled: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config or WriterSettings()
        self._spill_line = spill_line or _exchange_line
        self._write_batch = write_batch
        self._on_written = on_written
        self._on_spilled = on_spilled
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.config.max_queue)
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._deadline: float | None = None  # monotonic; set by close()
        self._spill_lock = threading.Lock()
        self._inflight: list[Any] = []
        self.written = 0
        self.spilled = 0
        self.failures = 0
        self.spill_path: Path | None = None

    # -- request side ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="distillscope-log-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Records waiting to be written (the ``log queue depth`` metric)."""
        return self._queue.qsize()

    def submit(self, exchange: Any) -> bool:
        """Queue without waiting; False when the queue is full (the caller must wait and retry)."""
        if self._closing.is_set():
            raise RuntimeError("the log writer is closed")
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            return False
        return True

    async def put(self, exchange: Any) -> None:
        """Queue from async code; waits (without blocking the loop) while the queue is full."""
        delay = 0.001
        while not self.submit(exchange):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def put_blocking(self, exchange: Any) -> None:
        """Queue from a plain thread; blocks while the queue is full."""
        if self._closing.is_set():
            raise RuntimeError("the log writer is closed")
        self._queue.put(exchange)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is committed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        """Drain the queue within ``close_timeout`` in total, then stop (spilling what is left)."""
        if self._thread is None or self._closing.is_set():
            self._closing.set()
            return
        self._deadline = time.monotonic() + self.config.close_timeout
        self._closing.set()
        self._queue.put(_STOP)
        self._thread.join(self.config.close_timeout + self.config.close_join_grace)
        if self._thread.is_alive():
            # A store call hangs (a dead TCP peer): spill what the thread holds and what is queued.
            # The in-flight batch may also reach the store later; ids make a re-import idempotent.
            left = list(self._inflight) + self._drain_queue()
            self._spill(left, "a store call did not return before the shutdown budget ran out")

    def _drain_queue(self) -> list[Any]:
        items = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if item is not _STOP:
                items.append(item)

    # -- writer thread -----------------------------------------------------------------

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() > self._deadline

    def _run(self) -> None:
        while True:
            batch: list[Any] = []
            stop = False
            while len(batch) < self.config.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.task_done()
                    stop = True
                    break
                batch.append(item)
            if batch:
                self._inflight = batch
                self._write_with_retry(batch)
                self._inflight = []
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return
            if len(batch) < self.config.batch_size:
                time.sleep(self.config.poll_interval)  # drained: let the next batch gather

    def _write_with_retry(self, batch: list[Any]) -> None:
        delay = 0.05
        pending = batch
        while pending:
            if self._past_deadline():
                self._spill(pending, "the store still failed when the shutdown budget ran out")
                return
            started = time.perf_counter()
            try:
                self._write_batch(pending)
            except Exception as exc:  # any store error: keep the rows, never drop them
                self.failures += 1
                if not is_transient(exc):
                    pending = self._isolate(pending)
                    if not pending:
                        return
                log.warning(
                    "exchange log write of %d records failed (%s); retrying", len(pending), type(exc).__name__
                )
                wait = delay
                if self._deadline is not None:
                    wait = max(0.0, min(wait, self._deadline - time.monotonic()))
                time.sleep(wait)
                delay = min(delay * 2, self.config.retry_max_delay)
                continue
            self._done(len(pending), time.perf_counter() - started)
            return

    def _isolate(self, rows: list[Any]) -> list[Any]:
        """Write rows one by one; spill those that fail alone for a reason of their own.

        Returns the rows that failed with a transient error (to be retried)."""
        retry = []
        for row in rows:
            started = time.perf_counter()
            try:
                self._write_batch([row])
            except Exception as exc:
                self.failures += 1
                if is_transient(exc):
                    retry.append(row)
                else:
                    self._spill([row], f"the store refused this record ({type(exc).__name__})")
                continue
            self._done(1, time.perf_counter() - started)
        return retry

    def _done(self, count: int, seconds: float) -> None:
        self.written += count
        if self._on_written is not None:
            self._on_written(count, seconds)

    def _spill(self, batch: list[Any], why: str) -> None:
        if not batch:
            return
        with self._spill_lock:
            if self.spill_path is None:
                self.spill_path = _new_spill_path(self.config.spill_dir)
            fd = os.open(self.spill_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with open(fd, "a", encoding="utf-8", errors="backslashreplace") as handle:
                for item in batch:
                    handle.write(self._spill_line(item) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.spilled += len(batch)
        if self._on_spilled is not None:
            self._on_spilled(len(batch))
        log.error("%s: %d exchange records spilled to %s", why, len(batch), self.spill_path)


def _new_spill_path(spill_dir: str | None) -> Path:
    from distillscope.config import work_dir

    folder = Path(spill_dir).expanduser() if spill_dir else work_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"guard-spill-{int(time.time())}-{os.getpid()}.jsonl"


def _exchange_line(exchange: Exchange) -> str:
    # ASCII escapes: a spill line can hold any string (lone surrogates, NULs) and stays valid JSON.
    return json.dumps(exchange.to_dict(), ensure_ascii=True, default=str)
