"""The batching log writer: nothing lost under load, at shutdown, on store errors, or on kill -9
(beyond the documented window)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from distillscope.guard.logstore import open_log_store, row_of
from distillscope.guard.writer import BatchWriter, WriterSettings, is_transient
from distillscope.records import Exchange, read_exchanges


def _exchange(i: int) -> Exchange:
    return Exchange(id=f"w-{i}", ts=1_700_000_000 + i, account="acme", prompt=f"p{i}")


def test_many_threads_nothing_lost_and_batched(sqlite_url: str) -> None:
    store = open_log_store(sqlite_url, create=True)
    sizes: list[int] = []
    writer = BatchWriter(
        store.write_batch, WriterSettings(batch_size=64), on_written=lambda n, s: sizes.append(n)
    )
    writer.start()

    def produce(offset: int) -> None:
        for i in range(500):
            writer.put_blocking(_exchange(offset + i))

    threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert store.count() == 2000
    assert writer.written == 2000 and max(sizes) <= 64
    assert len(sizes) < 2000  # group commit really batched


def test_async_put_waits_when_full_instead_of_dropping(sqlite_url: str) -> None:
    store = open_log_store(sqlite_url, create=True)
    gate = threading.Event()

    def slow_write(batch):  # the store is stuck until the gate opens
        gate.wait()
        store.write_batch(batch)

    writer = BatchWriter(slow_write, WriterSettings(batch_size=2, max_queue=4))
    writer.start()

    async def main() -> None:
        tasks = [asyncio.create_task(writer.put(_exchange(i))) for i in range(20)]
        await asyncio.sleep(0.2)
        assert writer.depth <= 4  # bounded
        assert not all(t.done() for t in tasks)  # producers wait: back-pressure
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    writer.close()
    assert store.count() == 20


def test_store_errors_are_retried_without_duplicates(sqlite_url: str) -> None:
    store = open_log_store(sqlite_url, create=True)
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        if calls["n"] % 3 == 1:
            store.write_batch(batch[: len(batch) // 2])  # a partial write, then a failure
            raise sqlite3.OperationalError("database is locked")
        store.write_batch(batch)

    writer = BatchWriter(flaky, WriterSettings(batch_size=8, retry_max_delay=0.05))
    writer.start()
    for i in range(50):
        writer.put_blocking(_exchange(i))
    assert writer.flush(timeout=30)
    writer.close()
    assert store.count() == 50 and writer.failures > 0


def test_close_spills_to_jsonl_when_the_store_is_gone(tmp_path: Path) -> None:
    def broken(batch):
        raise ConnectionError("server gone")

    writer = BatchWriter(
        broken, WriterSettings(retry_max_delay=0.01, close_timeout=0.1, spill_dir=str(tmp_path))
    )
    writer.start()
    for i in range(10):
        writer.put_blocking(_exchange(i))
    writer.close()
    assert writer.spill_path is not None
    lines = writer.spill_path.read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(f"w-{i}" for i in range(10))
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(_exchange(99))


def test_kill_9_loses_nothing_older_than_the_flush_window(sqlite_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from distillscope.guard.logstore import open_log_store
        from distillscope.guard.writer import BatchWriter
        from distillscope.records import Exchange
        store = open_log_store({sqlite_url!r}, create=True)
        writer = BatchWriter(store.write_batch)
        writer.start()
        for i in range(300):
            writer.put_blocking(Exchange(id=f"k-{{i}}", ts=1.0 + i, account="acme", prompt="x"))
        time.sleep(writer.config.flush_interval * 2)  # past the documented window
        print("handed-over", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "handed-over"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(0.05)
    assert open_log_store(sqlite_url).count() == 300


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        WriterSettings(batch_size=0)
    with pytest.raises(ValueError, match="max_queue"):
        WriterSettings(batch_size=10, max_queue=5)


def _spill_ids(path: Path) -> list[str]:
    return sorted(json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines())


def test_a_row_the_store_refuses_is_spilled_and_the_rows_behind_it_written(
    sqlite_url: str, tmp_path: Path
) -> None:
    """One unstorable row (here: a raw lone surrogate, bypassing row_of) must not stop the log."""
    store = open_log_store(sqlite_url, create=True)
    rows = [row_of(_exchange(i)) for i in range(30)]
    poison = list(rows[7])
    poison[-1] = poison[-1].replace('"p7"', '"p7 \ud800"')  # the driver cannot encode this
    rows[7] = tuple(poison)
    writer = BatchWriter(store.write_rows, WriterSettings(batch_size=8), spill_line=lambda row: row[-1])
    writer.start()
    for row in rows:
        writer.put_blocking(row)
    assert writer.flush(timeout=30), "a refused row held up the queue"
    writer.close()
    assert store.count() == 29
    assert {e.id for e in store.iter_exchanges()} == {f"w-{i}" for i in range(30)} - {"w-7"}
    assert writer.spill_path is not None and writer.spilled == 1
    # In the work directory (not the current one), private to the server's user, valid JSON.
    assert writer.spill_path.parent == Path(os.environ["DISTILLSCOPE_HOME"])
    assert stat.S_IMODE(writer.spill_path.stat().st_mode) == 0o600
    [line] = writer.spill_path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["prompt"] == "p7 \ud800"


def test_shutdown_budget_is_total_not_per_batch(tmp_path: Path) -> None:
    tried: set[str] = set()

    def down(batch):
        tried.update(e.id for e in batch)
        raise ConnectionError("server gone")

    config = WriterSettings(batch_size=1, retry_max_delay=0.05, close_timeout=0.3, spill_dir=str(tmp_path))
    writer = BatchWriter(down, config)
    writer.start()
    for i in range(40):
        writer.put_blocking(_exchange(i))
    writer.close()
    assert writer.spilled == 40 and writer.spill_path is not None
    assert _spill_ids(writer.spill_path) == sorted(f"w-{i}" for i in range(40))
    # Once the budget is spent nothing is retried: a per-batch budget would have tried all 40.
    assert len(tried) < 40
    # A spill file is an exchange log: loading it into the store later is idempotent on the ids.
    store = open_log_store(str(tmp_path / "later.db"), create=True)
    for _ in range(2):
        store.write_batch(read_exchanges(writer.spill_path))
    assert store.count() == 40


def test_a_store_call_that_hangs_does_not_hang_shutdown(tmp_path: Path) -> None:
    release = threading.Event()

    def hangs(batch):
        release.wait()
        raise ConnectionError("gone")

    config = WriterSettings(batch_size=4, close_timeout=0.2, close_join_grace=0.2, spill_dir=str(tmp_path))
    writer = BatchWriter(hangs, config)
    writer.start()
    for i in range(10):
        writer.put_blocking(_exchange(i))
    writer.close()  # returns although the store call never does
    try:
        assert writer.spill_path is not None
        assert _spill_ids(writer.spill_path) == sorted(f"w-{i}" for i in range(10))
    finally:
        release.set()


def test_spill_file_holds_any_string() -> None:
    odd = Exchange(id="odd", ts=1.0, account="acme", prompt="a\ud800b\x00c")
    config = WriterSettings(close_timeout=0.05)

    def down(batch):
        raise ConnectionError("gone")

    writer = BatchWriter(down, config)
    writer.start()
    writer.put_blocking(odd)
    writer.close()
    assert writer.spill_path is not None
    assert json.loads(writer.spill_path.read_text(encoding="utf-8"))["prompt"] == "a\ud800b\x00c"


def test_transient_errors_are_told_from_bad_rows() -> None:
    import psycopg

    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert is_transient(psycopg.OperationalError("connection lost"))
    assert is_transient(ConnectionError("refused"))
    assert not is_transient(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert not is_transient(psycopg.errors.UntranslatableCharacter("\\u0000"))
    assert not is_transient(ValueError("NaN"))
