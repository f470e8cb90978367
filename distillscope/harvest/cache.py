"""The answer cache: SQLite in WAL mode, one row per paid answer, keyed by the canonical request.

This is the harvester's source of truth. An answer is committed the moment it
arrives, before anything else happens with it, so a process killed at any moment
(SIGKILL included) keeps every answer it had received; WAL with
``synchronous=NORMAL`` survives a killed process (not necessarily a power cut).
Output files are rebuilt from here. Answers whose ``finish_reason`` is
``length`` are answers like any other: cached, never paid for again.

Failures are kept in a separate table with their reason: permanent ones are not
retried by a resumed run (unless asked), transient ones are.

This module must not do HTTP, pricing or budgeting.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
    ) -> None:
        """Store and commit one answer now (a repeated key keeps the first answer)."""
        self._db.execute(
            "INSERT OR IGNORE INTO answers (key, teacher, body, response, headers, latency_ms, received_at,"
            " run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                teacher,
                body_json,
                response_text,
                json.dumps(headers or {}),
                latency_ms,
                time.time(),
                run_id,
            ),
        )
        # An answer supersedes any failure recorded for the same request.
        self._db.execute("DELETE FROM failures WHERE key = ?", (key,))

    def get(self, key: str) -> CachedAnswer | None:
        row = self._db.execute(
            "SELECT key, teacher, body, response, headers, latency_ms, received_at, run_id"
            " FROM answers WHERE key = ?",
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
        rows = self._db.execute(
            "SELECT key, teacher, body, response, headers, latency_ms, received_at, run_id"
            " FROM answers WHERE run_id = ?",
            (run_id,),
        )
        for row in rows:
            yield _answer(row)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

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
    )
