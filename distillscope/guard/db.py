"""Database URLs and connections for the guard's stores: SQLite (default) or PostgreSQL.

A URL is a file path, ``sqlite:///path.db``, or ``postgresql://...`` (psycopg 3).
SQLite connections are opened in WAL mode with a busy timeout, so several
processes (the server and ``distillscope keys``) can share one file. SQL in the
guard is written with ``?`` placeholders; :func:`sql` rewrites them for psycopg.

This module knows nothing about keys or exchanges: it only opens connections,
creates tables, and gives the small stores one locked connection (:class:`LockedStore`).

This module must not import another guard module, and must not create an SQLite file that other
users can read (a new one is made with mode 0600), nor show a URL's userinfo or query string (either
may hold a password) in a message.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from distillscope.config import work_dir

Kind = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class DBUrl:
    """A parsed store URL: ``kind`` and ``target`` (a file path or a libpq DSN)."""

    kind: Kind
    target: str

    def __post_init__(self) -> None:
        if self.kind not in ("sqlite", "postgresql"):
            raise ValueError(f"unknown database kind {self.kind!r}")
        if not self.target:
            raise ValueError("the database URL names no file or server")

    def redacted(self) -> str:
        """The URL without userinfo or query string (either may hold a password), for messages and logs."""
        if self.kind == "sqlite":
            return self.target
        from distillscope.server.urls import redact_url

        return redact_url(self.target)


def default_db_url() -> str:
    """The SQLite file used when no ``--db`` is given: ``<workdir>/guard.db``."""
    return str(work_dir() / "guard.db")


def parse_db_url(url: str) -> DBUrl:
    """Parse a path, ``sqlite:///path`` or ``postgresql://...`` URL."""
    url = (url or "").strip()
    if not url:
        raise ValueError("empty database URL")
    if url.startswith(("postgresql://", "postgres://")):
        return DBUrl("postgresql", url)
    if url.startswith("sqlite:///"):
        return DBUrl("sqlite", url[len("sqlite:///") :])
    if "://" in url:
        from distillscope.server.urls import redact_url

        # the message names the URL without userinfo or query string: either may hold a password
        shown = redact_url(url)
        if url.startswith("sqlite://"):
            raise ValueError(f"{shown!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db")
        raise ValueError(
            f"{shown!r}: unsupported database URL (use a file path, sqlite:/// or postgresql://)"
        )
    return DBUrl("sqlite", url)


def connect(db: DBUrl) -> Any:
    """A new DB-API connection (sqlite3 or psycopg) with the guard's tables present."""
    conn = _connect_sqlite(db.target) if db.kind == "sqlite" else _connect_postgres(db.target)
    create_tables(conn, db.kind)
    return conn


def _connect_sqlite(path: str) -> sqlite3.Connection:
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"{target} is a directory, not a database file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        # The log holds users' prompts: private to the server's user from the start.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    # check_same_thread=False: each store guards its connection with its own lock.
    conn = sqlite3.connect(str(target), timeout=10.0, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ValueError(f"{target} is not an SQLite database ({exc})") from exc
    # NORMAL in WAL mode: a committed batch survives a process crash (not a power cut).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _connect_postgres(dsn: str) -> Any:
    import psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise ConnectionError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc
    return conn


def sql(statement: str, kind: Kind) -> str:
    """``statement`` with ``?`` placeholders turned into psycopg's ``%s`` for PostgreSQL."""
    return statement.replace("?", "%s") if kind == "postgresql" else statement


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ds_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ds_accounts (name TEXT PRIMARY KEY, created REAL NOT NULL)",
    """CREATE TABLE IF NOT EXISTS ds_api_keys (
        key_id TEXT PRIMARY KEY, account TEXT NOT NULL, key_hmac TEXT NOT NULL UNIQUE,
        admin INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, revoked REAL)""",
    """CREATE TABLE IF NOT EXISTS ds_exchanges (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, ts REAL NOT NULL,
        account TEXT NOT NULL, key_id TEXT, endpoint TEXT, status INTEGER, decision TEXT,
        data TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ds_exchanges_account_ts ON ds_exchanges (account, ts)",
)

_POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ds_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ds_accounts (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL)",
    """CREATE TABLE IF NOT EXISTS ds_api_keys (
        key_id TEXT PRIMARY KEY, account TEXT NOT NULL, key_hmac TEXT NOT NULL UNIQUE,
        admin INTEGER NOT NULL DEFAULT 0, created DOUBLE PRECISION NOT NULL, revoked DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS ds_exchanges (
        seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts DOUBLE PRECISION NOT NULL,
        account TEXT NOT NULL, key_id TEXT, endpoint TEXT, status INTEGER, decision TEXT,
        data JSONB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ds_exchanges_account_ts ON ds_exchanges (account, ts)",
)


def ensure_schema(conn: Any, kind: str, statements: Sequence[str], lock_key: int) -> None:
    """Run ``CREATE ... IF NOT EXISTS`` statements (idempotent, safe across processes).

    Two processes starting at once would race on ``CREATE TABLE IF NOT EXISTS`` in
    PostgreSQL; an advisory lock (one ``lock_key`` per store) serialises them.
    """
    if kind == "postgresql":
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
            for statement in statements:
                conn.execute(statement)
        return
    for statement in statements:
        conn.execute(statement)


def create_tables(conn: Any, kind: Kind) -> None:
    """Create the guard's tables if they are missing (idempotent, safe across processes)."""
    ensure_schema(conn, kind, _SQLITE_SCHEMA if kind == "sqlite" else _POSTGRES_SCHEMA, 7411)


class LockedStore:
    """One connection to the guard's database under a lock, for its small stores.

    Subclasses name their tables in ``schema`` (statements per database kind) and
    their own advisory ``lock_key``; statements are written with ``?`` placeholders.
    Thread-safe: each call holds the lock for one statement or one transaction.
    """

    schema: ClassVar[Mapping[str, Sequence[str]]]
    lock_key: ClassVar[int]

    def __init__(self, url: str | DBUrl) -> None:
        self.db = url if isinstance(url, DBUrl) else parse_db_url(url)
        self._lock = threading.Lock()
        self._conn = connect(self.db)
        ensure_schema(self._conn, self.db.kind, self.schema[self.db.kind], self.lock_key)

    def _rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a statement that returns none)."""
        with self._lock:
            cursor = self._conn.execute(sql(statement, self.db.kind), params)
            try:
                return list(cursor.fetchall()) if cursor.description else []
            finally:
                cursor.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction under the lock: all of it commits, or none of it."""
        with self._lock:
            if self.db.kind == "postgresql":
                with self._conn.transaction(), self._conn.cursor() as cursor:
                    yield cursor
                return
            self._conn.execute("BEGIN IMMEDIATE")
            cursor = self._conn.cursor()
            try:
                yield cursor
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
