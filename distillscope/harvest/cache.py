"""The answer cache: SQLite in WAL mode, one row per paid answer, keyed by the canonical request.

This is the harvester's source of truth. An answer is committed the moment it
arrives, before anything else happens with it, so a process killed at any moment
(SIGKILL included) keeps every answer it had received; WAL with
``synchronous=NORMAL`` survives a killed process (not necessarily a power cut).
Output files are rebuilt from here. Answers whose ``finish_reason`` is
``length`` are answers like any other: cached, never paid for again.

Failures are kept in a separate table with their reason: permanent ones are not
retried by a resumed run (unless asked), transient ones are.

Budget reservations are rows too: a request's worst case is written (and
committed) before it is sent, and deleted in the same transaction that stores
its answer, or when it fails. A row left behind by a killed process is a request
that may have been billed without its answer ever arriving, so the next start
counts it as spent at its worst case. Batches (:mod:`distillscope.harvest.batch`)
keep their own tables here: a batch and its request keys are committed before
anything is uploaded, and every stage of its life is recorded as it happens.

This module must not do HTTP, pricing or budgeting.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    body TEXT NOT NULL,
    response TEXT NOT NULL,
    headers TEXT,
    latency_ms REAL,
    received_at REAL NOT NULL,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS answers_run ON answers(run_id);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    body TEXT NOT NULL,
    status INTEGER,
    reason TEXT NOT NULL,
    permanent INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    run_id TEXT
);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_run ON reservations(run_id);
CREATE TABLE IF NOT EXISTS batches (
    local_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    teacher TEXT NOT NULL,
    stage TEXT NOT NULL,
    remote_id TEXT,
    input_file_id TEXT,
    remote_status TEXT,
    price TEXT,
    info TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    local_id TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    PRIMARY KEY (local_id, key)
);
CREATE INDEX IF NOT EXISTS batch_items_key ON batch_items(key);
"""


@dataclass(frozen=True)
class CachedAnswer:
    """A stored answer: the raw JSON response exactly as the teacher sent it."""

    key: str
    teacher: str
    body: dict[str, Any]
    response: dict[str, Any]
    headers: dict[str, str]
    latency_ms: float | None
    received_at: float
    run_id: str | None
    #: How it was obtained, when not by a plain request: ``{"mode": "batch", "batch_id", "price"}``.
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    key: str
    status: int | None
    reason: str
    permanent: bool
    attempts: int
    failed_at: float


class AnswerCache:
    """Content-addressed answers and failures in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we commit explicitly, one transaction per answer.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if "meta" not in columns:  # caches written before batches existed
            self._db.execute("ALTER TABLE answers ADD COLUMN meta TEXT")

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for the batch store's own tables (same file, same transactions)."""
        return self._db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One committed transaction around several writes (rolled back on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answers -------------------------------------------------------------------

    def put_answer(
        self,
        key: str,
        teacher: str,
        body_json: str,
        response_text: str,
        headers: dict[str, str] | None = None,
        latency_ms: float | None = None,
        run_id: str | None = None,
        reservation: int | None = None,
        meta: dict[str, Any] | None = None,
        commit: bool = True,
    ) -> bool:
        """Store one answer, settle its reservation, commit (a repeated key keeps the first answer).

        Returns whether the answer is new. ``commit=False`` is for callers that hold a
        :meth:`transaction` around many answers (a batch's results).
        """
        if commit:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO answers (key, teacher, body, response, headers, latency_ms,"
                " received_at, run_id, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    teacher,
                    body_json,
                    response_text,
                    json.dumps(headers or {}),
                    latency_ms,
                    time.time(),
                    run_id,
                    json.dumps(meta) if meta else None,
                ),
            )
            # An answer supersedes any failure recorded for the same request.
            self._db.execute("DELETE FROM failures WHERE key = ?", (key,))
            if reservation is not None:
                self._db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))
        except BaseException:
            if commit:
                self._db.execute("ROLLBACK")
            raise
        if commit:
            self._db.execute("COMMIT")
        return cursor.rowcount > 0

    def get(self, key: str) -> CachedAnswer | None:
        row = self._db.execute(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE key = ?",
            (key,),
        ).fetchone()
        return _answer(row) if row else None

    def has(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that have an answer."""
        found: set[str] = set()
        batch = list(keys)
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key FROM answers WHERE key IN ({marks})", chunk)
            found.update(r[0] for r in rows)
        return found

    def answers_of_run(self, run_id: str) -> Iterator[CachedAnswer]:
        """Every answer paid for by ``run_id`` (used to carry a budget across restarts)."""
        rows = self._db.execute(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE run_id = ?", (run_id,))
        for row in rows:
            yield _answer(row)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    # -- budget reservations -------------------------------------------------------

    def reserve(self, run_id: str, key: str, requests: int, tokens: int, cost: float) -> int:
        """Commit a request's worst case before it is sent; returns the reservation's id."""
        cursor = self._db.execute(
            "INSERT INTO reservations (run_id, key, requests, tokens, cost, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, key, requests, tokens, cost, time.time()),
        )
        return int(cursor.lastrowid or 0)

    def release(self, reservation: int) -> None:
        """The request was not billed (it failed with an error): its reservation goes."""
        self._db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))

    def reserved(self, run_id: str) -> tuple[int, int, float]:
        """Requests, tokens and cost still reserved by ``run_id``: at a start, what killed processes left."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(tokens), 0), COALESCE(SUM(cost), 0.0) FROM reservations"
            " WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        return int(row[0]), int(row[1]), float(row[2])

    # -- failures ------------------------------------------------------------------

    def put_failure(
        self,
        key: str,
        teacher: str,
        body_json: str,
        status: int | None,
        reason: str,
        permanent: bool,
        attempts: int,
        run_id: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO failures (key, teacher, body, status, reason, permanent, attempts,"
            " failed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, teacher, body_json, status, reason, int(permanent), attempts, time.time(), run_id),
        )

    def failure(self, key: str) -> Failure | None:
        row = self._db.execute(
            "SELECT key, status, reason, permanent, attempts, failed_at FROM failures WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Failure(row[0], row[1], row[2], bool(row[3]), int(row[4]), float(row[5]))


_ANSWER_COLUMNS = "key, teacher, body, response, headers, latency_ms, received_at, run_id, meta"


def _answer(row: tuple[Any, ...]) -> CachedAnswer:
    return CachedAnswer(
        key=row[0],
        teacher=row[1],
        body=json.loads(row[2]),
        response=json.loads(row[3]),
        headers=json.loads(row[4] or "{}"),
        latency_ms=row[5],
        received_at=float(row[6]),
        run_id=row[7],
        meta=json.loads(row[8]) if row[8] else {},
    )
