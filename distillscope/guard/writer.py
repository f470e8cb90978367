"""The background log writer: exchanges are queued on the request path and written in batches.

Durability policy (stated in the README, tested in ``tests/guard``):

- ``submit`` only puts the record on an in-memory queue. A writer thread wakes
  every ``poll_interval`` (20 ms), takes everything queued (in transactions of up
  to ``batch_size`` = 256 records) and commits it; it keeps going without sleeping
  while more is queued. As long as the store keeps up, every record is committed
  within ``flush_interval`` (200 ms) of being handed over -- in practice within
  ``poll_interval`` plus one commit.
- The queue is bounded (``max_queue`` = 10 000). When it is full the request
  handler waits (``put``) instead of dropping the record: back-pressure, not loss.
- A failed write (database locked, PostgreSQL restarting) is retried with backoff;
  inserts are idempotent on the exchange id, so a retry never duplicates.
- ``close`` drains the queue completely. If the store still fails then, the
  remaining records are spilled to a JSONL file (never discarded) and the path is
  logged.
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


@dataclass
class WriterConfig:
    """How the writer batches, bounds and retries."""

    batch_size: int = 256
    flush_interval: float = 0.2
    poll_interval: float = 0.02
    max_queue: int = 10_000
    retry_max_delay: float = 2.0
    close_timeout: float = 30.0
    spill_dir: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("WriterConfig.batch_size must be at least 1")
        if self.flush_interval <= 0:
            raise ValueError("WriterConfig.flush_interval must be positive")
        if not 0 < self.poll_interval <= self.flush_interval / 2:
            raise ValueError("WriterConfig.poll_interval must be positive and at most flush_interval / 2")
        if self.max_queue < self.batch_size:
            raise ValueError("WriterConfig.max_queue must be at least batch_size")
        if self.retry_max_delay <= 0 or self.close_timeout <= 0:
            raise ValueError("WriterConfig.retry_max_delay and close_timeout must be positive")


class BatchWriter:
    """A thread that writes queued exchanges to a store in batches (see the module docstring)."""

    def __init__(
        self,
        write_batch: Callable[[Sequence[Any]], None],
        config: WriterConfig | None = None,
        on_written: Callable[[int, float], None] | None = None,
        spill_line: Callable[[Any], str] | None = None,
    ) -> None:
        self.config = config or WriterConfig()
        self._spill_line = spill_line or _exchange_line
        self._write_batch = write_batch
        self._on_written = on_written
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.config.max_queue)
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
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
        """Drain the queue completely, then stop the thread (spilling to JSONL if the store fails)."""
        if self._thread is None or self._closing.is_set():
            self._closing.set()
            return
        self._closing.set()
        self._queue.put(_STOP)
        self._thread.join()

    # -- writer thread -----------------------------------------------------------------

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
                self._write_with_retry(batch)
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return
            if len(batch) < self.config.batch_size:
                time.sleep(self.config.poll_interval)  # drained: let the next batch gather

    def _write_with_retry(self, batch: list[Any]) -> None:
        delay = 0.05
        first_failure: float | None = None
        while True:
            started = time.perf_counter()
            try:
                self._write_batch(batch)
            except Exception as exc:  # any store error: keep the batch, retry, never drop it
                self.failures += 1
                now = time.monotonic()
                first_failure = first_failure or now
                log.warning(
                    "exchange log write of %d records failed (%s); retrying", len(batch), type(exc).__name__
                )
                if self._closing.is_set() and now - first_failure > self.config.close_timeout:
                    self._spill(batch)
                    return
                time.sleep(delay)
                delay = min(delay * 2, self.config.retry_max_delay)
                continue
            self.written += len(batch)
            if self._on_written is not None:
                self._on_written(len(batch), time.perf_counter() - started)
            return

    def _spill(self, batch: list[Any]) -> None:
        if self.spill_path is None:
            folder = Path(self.config.spill_dir or ".")
            folder.mkdir(parents=True, exist_ok=True)
            self.spill_path = folder / f"guard-spill-{int(time.time())}-{os.getpid()}.jsonl"
        with open(self.spill_path, "a", encoding="utf-8") as handle:
            for item in batch:
                handle.write(self._spill_line(item) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.spilled += len(batch)
        log.error(
            "the exchange log store failed at shutdown; %d records spilled to %s", len(batch), self.spill_path
        )


def _exchange_line(exchange: Exchange) -> str:
    return json.dumps(exchange.to_dict(), ensure_ascii=False, default=str)
