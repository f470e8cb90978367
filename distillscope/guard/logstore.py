"""Exchange log stores: SQLite (one file, WAL) and PostgreSQL (several server processes).

Each row holds a few indexed columns (id, ts, account, key_id, endpoint, status,
decision) and the whole exchange as JSON, so every field of DESIGN.md's format,
including unknown ones, round-trips. Inserts are idempotent on ``id`` (the
exchange id the server draws itself, never an upstream's): a batch retried after
an error never duplicates a record.

Every record is made storable before it is queued: what a store cannot hold (a
lone surrogate, which neither driver can encode; a NUL, which PostgreSQL's text
and JSONB refuse; NaN/Infinity, which JSONB refuses; nesting deeper than
``MAX_DEPTH``) is replaced -- characters by U+FFFD, numbers by their name as a
string, deep values by a marker -- and the record says so in
``storage_replaced`` (counts by kind).

This module writes synchronously and must not be called from the event loop on
the request path: :mod:`distillscope.guard.writer` batches writes on a thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from distillscope.guard.db import DBUrl, connect, parse_db_url, sql
from distillscope.records import Exchange

_INSERT = (
    "INSERT INTO ds_exchanges (id, ts, account, key_id, endpoint, status, decision, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)


class LogStore(Protocol):
    """Where exchanges are kept."""

    db: DBUrl

    def write_batch(self, exchanges: Sequence[Exchange]) -> None: ...

    def write_rows(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def iter_exchanges(self, account: str | None = None) -> Iterator[Exchange]: ...

    def recent(self, limit: int) -> list[Exchange]: ...

    def count(self, account: str | None = None) -> int: ...

    def close(self) -> None: ...


#: Deepest nesting kept in a stored record (requests deeper than this are refused anyway).
MAX_DEPTH = 64
REPLACEMENT = "\ufffd"
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
# In JSON text (ensure_ascii=False) a NUL shows as the escape \u0000; surrogates stay raw.
_BAD_JSON = re.compile("[\ud800-\udfff]|\\\\u0000")


def storable(value: Any) -> tuple[Any, dict[str, int]]:
    """``value`` with everything a store cannot hold replaced, and the counts by kind."""
    counts: dict[str, int] = {}
    return _storable(value, 0, counts), counts


def _storable(value: Any, depth: int, counts: dict[str, int]) -> Any:
    if isinstance(value, str):
        return _storable_text(value, counts)
    if isinstance(value, float) and not math.isfinite(value):
        counts["non_finite_number"] = counts.get("non_finite_number", 0) + 1
        return str(value)
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        counts["too_deep"] = counts.get("too_deep", 0) + 1
        return "[nested too deep]"
    if isinstance(value, dict):
        return {_storable_text(str(k), counts): _storable(v, depth + 1, counts) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v, depth + 1, counts) for v in value]
    return value


def _storable_text(text: str, counts: dict[str, int]) -> str:
    if not _BAD_CHARS.search(text):
        return text
    nul = text.count("\x00")
    surrogates = len(_BAD_CHARS.findall(text)) - nul
    if nul:
        counts["nul"] = counts.get("nul", 0) + nul
    if surrogates:
        counts["lone_surrogate"] = counts.get("lone_surrogate", 0) + surrogates
    return _BAD_CHARS.sub(REPLACEMENT, text)


def exchange_json(exchange: Exchange) -> str:
    """``exchange.to_dict()`` as storable JSON, without ``dataclasses.asdict``'s deep copy (6x faster)."""
    data = {k: v for k, v in vars(exchange).items() if k != "extra" and v is not None and v != {}}
    for key, value in exchange.extra.items():
        data.setdefault(key, value)
    try:
        text = json.dumps(data, ensure_ascii=False, default=str, allow_nan=False)
    except (ValueError, RecursionError):  # NaN/Infinity, or nesting Python cannot walk
        text = None
    if text is not None and not _BAD_JSON.search(text):
        return text  # the fast path: nothing to replace
    clean, counts = storable(data)
    if counts:
        clean["storage_replaced"] = counts
    return json.dumps(clean, ensure_ascii=False, default=str, allow_nan=False)


def row_of(exchange: Exchange) -> tuple[Any, ...]:
    """The database row of an exchange; its last column is the exchange as storable JSON."""
    decision = exchange.extra.get("decision")
    counts: dict[str, int] = {}
    return (
        _storable_text(exchange.id, counts),
        exchange.ts if math.isfinite(exchange.ts) else 0.0,
        _storable_text(exchange.account, counts),
        None if exchange.key_id is None else _storable_text(str(exchange.key_id), counts),
        None if exchange.endpoint is None else _storable_text(str(exchange.endpoint), counts),
        exchange.status if isinstance(exchange.status, int) and abs(exchange.status) < 2**31 else None,
        _storable_text(decision, counts) if isinstance(decision, str) else None,
        exchange_json(exchange),
    )


class SQLLogStore:
    """One store class for both databases; they differ only in SQL dialect details."""

    def __init__(self, url: str | DBUrl) -> None:
        self.db = url if isinstance(url, DBUrl) else parse_db_url(url)
        self._lock = threading.Lock()
        self._conn = connect(self.db)

    def _reconnect(self) -> None:
        # A broken connection may fail to close; it is discarded anyway.
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = connect(self.db)

    def write_batch(self, exchanges: Sequence[Exchange]) -> None:
        """Insert a batch in one transaction (all or nothing; duplicates ignored)."""
        self.write_rows([row_of(exchange) for exchange in exchanges])

    def write_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows made by :func:`row_of` in one transaction (all or nothing; duplicates ignored)."""
        if not rows:
            return
        rows = list(rows)
        statement = sql(_INSERT, self.db.kind)
        with self._lock:
            try:
                self._write_rows(statement, rows)
            except Exception:
                if self.db.kind == "postgresql" and getattr(self._conn, "closed", False):
                    self._reconnect()
                raise

    def _write_rows(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if self.db.kind == "sqlite":
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(statement, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        else:
            with self._conn.transaction(), self._conn.cursor() as cursor:
                cursor.executemany(statement, rows)

    def iter_exchanges(self, account: str | None = None, chunk: int = 1000) -> Iterator[Exchange]:
        """All exchanges in insertion order (optionally one account's), read in chunks."""
        last = 0
        where = "seq > ?" + (" AND account = ?" if account is not None else "")
        statement = sql(
            f"SELECT seq, data FROM ds_exchanges WHERE {where} ORDER BY seq LIMIT {chunk}", self.db.kind
        )
        while True:
            params: tuple[Any, ...] = (last, account) if account is not None else (last,)
            with self._lock:
                rows = self._conn.execute(statement, params).fetchall()
            if not rows:
                return
            for seq, data in rows:
                last = seq
                yield Exchange.from_dict(json.loads(data) if isinstance(data, str) else data)

    def recent(self, limit: int) -> list[Exchange]:
        """The last ``limit`` exchanges, oldest first (to warm up in-memory state after a restart)."""
        statement = sql(f"SELECT data FROM ds_exchanges ORDER BY seq DESC LIMIT {int(limit)}", self.db.kind)
        with self._lock:
            rows = self._conn.execute(statement).fetchall()
        return [Exchange.from_dict(json.loads(d) if isinstance(d, str) else d) for (d,) in reversed(rows)]

    def count(self, account: str | None = None) -> int:
        if account is None:
            statement, params = "SELECT COUNT(*) FROM ds_exchanges", ()
        else:
            statement, params = "SELECT COUNT(*) FROM ds_exchanges WHERE account = ?", (account,)
        with self._lock:
            return int(self._conn.execute(sql(statement, self.db.kind), params).fetchone()[0])

    def account_summary(self, account: str) -> dict[str, Any]:
        """Request count, first/last time and status counts of one account, from the store."""
        statement = sql(
            "SELECT status, COUNT(*), MIN(ts), MAX(ts) FROM ds_exchanges WHERE account = ? GROUP BY status",
            self.db.kind,
        )
        with self._lock:
            rows = self._conn.execute(statement, (account,)).fetchall()
        by_status = {str(status): int(n) for status, n, _, _ in rows}
        firsts = [first for _, _, first, _ in rows if first is not None]
        lasts = [last for _, _, _, last in rows if last is not None]
        return {
            "logged_requests": sum(by_status.values()),
            "by_status": by_status,
            "first_seen": min(firsts) if firsts else None,
            "last_seen": max(lasts) if lasts else None,
        }

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_log_store(url: str, create: bool = False) -> SQLLogStore:
    """Open the exchange log at ``url``: a path, ``sqlite:///...`` or ``postgresql://...``.

    A missing SQLite file is an error (``FileNotFoundError``) unless ``create`` is true,
    so that a typo in ``--db`` never reads as an empty log.
    """
    db = parse_db_url(url)
    if db.kind == "sqlite" and not create and not Path(db.target).expanduser().is_file():
        raise FileNotFoundError(f"{db.target}: no such exchange log (SQLite file)")
    return SQLLogStore(db)


def wait_for_count(store: SQLLogStore, expected: int, timeout: float = 10.0) -> int:
    """Poll until the store holds ``expected`` rows or ``timeout`` passes; returns the last count."""
    deadline = time.monotonic() + timeout
    count = store.count()
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.02)
        count = store.count()
    return count
