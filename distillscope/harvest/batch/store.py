"""A batch's life, recorded in the answer cache (same SQLite file, same transactions).

A batch is written with all its request keys and bodies in one committed
transaction *before* anything is uploaded; each later step is committed as it
happens, before the next one starts:

``planned`` (rows written) -> ``uploaded`` (OpenAI: the input file's id) ->
``creating`` (the create call may be on the wire: a resumed run first looks for
the batch at the provider) -> ``submitted`` (the provider's batch id) ->
``collected`` (every result line committed to the answers or failures tables).

Until a batch is collected, every request of it that has no answer yet counts
as reserved budget at its worst case (:meth:`BatchStore.outstanding`).

This module must not do HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from distillscope.harvest.budget import Usage
from distillscope.harvest.cache import AnswerCache

STAGES = ("planned", "uploaded", "creating", "submitted", "collected")


@dataclass
class BatchRecord:
    local_id: str
    run_id: str
    provider: str
    teacher: str
    stage: str
    remote_id: str | None
    input_file_id: str | None
    remote_status: str | None
    price: dict[str, float] | None
    info: dict[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class BatchItem:
    key: str
    body_json: str
    tokens: int
    cost: float


class BatchStore:
    """Batches and their items, over an :class:`AnswerCache`'s connection."""

    def __init__(self, cache: AnswerCache) -> None:
        self.cache = cache
        self.db = cache.db

    def create(
        self,
        local_id: str,
        *,
        run_id: str,
        provider: str,
        teacher: str,
        price: dict[str, float] | None,
        items: Iterable[BatchItem],
    ) -> None:
        """Write a batch and all its request keys in one committed transaction (stage ``planned``)."""
        now = time.time()
        with self.cache.transaction():
            self.db.execute(
                "INSERT INTO batches (local_id, run_id, provider, teacher, stage, price, info, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'planned', ?, '{}', ?, ?)",
                (local_id, run_id, provider, teacher, json.dumps(price) if price else None, now, now),
            )
            self.db.executemany(
                "INSERT INTO batch_items (local_id, key, body, tokens, cost) VALUES (?, ?, ?, ?, ?)",
                ((local_id, i.key, i.body_json, i.tokens, i.cost) for i in items),
            )

    def advance(self, local_id: str, stage: str, **fields: Any) -> None:
        """Record (and commit) a new stage with the fields learned on the way (remote id, file id ...)."""
        if stage not in STAGES:
            raise ValueError(f"unknown batch stage {stage!r}")
        columns = {"stage": stage, "updated_at": time.time()}
        info = fields.pop("info", None)
        for name in ("remote_id", "input_file_id", "remote_status"):
            if name in fields:
                columns[name] = fields.pop(name)
        if fields:
            raise ValueError(f"unknown batch fields {sorted(fields)}")
        if info is not None:
            columns["info"] = json.dumps(info)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"UPDATE batches SET {assignments} WHERE local_id = ?", (*columns.values(), local_id))

    def note_status(self, local_id: str, remote_status: str, info: dict[str, Any]) -> None:
        """Remember the provider's latest view of a batch (shown on resume; no stage change)."""
        self.db.execute(
            "UPDATE batches SET remote_status = ?, info = ?, updated_at = ? WHERE local_id = ?",
            (remote_status, json.dumps(info), time.time(), local_id),
        )

    def get(self, local_id: str) -> BatchRecord | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM batches WHERE local_id = ?", (local_id,)).fetchone()
        return _record(row) if row else None

    def open_batches(self, run_id: str, teacher: str) -> list[BatchRecord]:
        """Batches of this run and teacher not yet collected, oldest first."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM batches WHERE run_id = ? AND teacher = ? AND stage != 'collected'"
            " ORDER BY created_at, local_id",
            (run_id, teacher),
        )
        return [_record(row) for row in rows]

    def all_batches(self, run_id: str) -> list[BatchRecord]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM batches WHERE run_id = ? ORDER BY created_at, local_id", (run_id,)
        )
        return [_record(row) for row in rows]

    def items(self, local_id: str) -> list[BatchItem]:
        rows = self.db.execute(
            "SELECT key, body, tokens, cost FROM batch_items WHERE local_id = ? ORDER BY rowid", (local_id,)
        )
        return [BatchItem(*row) for row in rows]

    def remote_ids(self, provider: str) -> set[str]:
        """Remote batch ids already adopted by some local batch (a lookup must not adopt one twice)."""
        rows = self.db.execute(
            "SELECT remote_id FROM batches WHERE provider = ? AND remote_id IS NOT NULL", (provider,)
        )
        return {row[0] for row in rows}

    def outstanding(self, run_id: str) -> Usage:
        """Worst case of the unanswered requests of this run's uncollected batches (reserved budget)."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(i.tokens), 0), COALESCE(SUM(i.cost), 0.0)"
            " FROM batch_items i JOIN batches b ON b.local_id = i.local_id"
            " WHERE b.run_id = ? AND b.stage != 'collected'"
            " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.key = i.key)",
            (run_id,),
        ).fetchone()
        return Usage(int(row[0]), int(row[1]), float(row[2]))

    def count(self, run_id: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM batches WHERE run_id = ?", (run_id,)).fetchone()[0])


_COLUMNS = (
    "local_id, run_id, provider, teacher, stage, remote_id, input_file_id, remote_status, price, info,"
    " created_at, updated_at"
)


def _record(row: tuple[Any, ...]) -> BatchRecord:
    return BatchRecord(
        local_id=row[0],
        run_id=row[1],
        provider=row[2],
        teacher=row[3],
        stage=row[4],
        remote_id=row[5],
        input_file_id=row[6],
        remote_status=row[7],
        price=json.loads(row[8]) if row[8] else None,
        info=json.loads(row[9] or "{}"),
        created_at=float(row[10]),
        updated_at=float(row[11]),
    )


def describe_batches(batches: list[BatchRecord]) -> list[dict[str, Any]]:
    """The manifest's view of a run's batches."""
    return [
        {
            "local_id": b.local_id,
            "provider": b.provider,
            "batch_id": b.remote_id,
            "stage": b.stage,
            "status": b.remote_status,
            "counts": b.info,
            "price": b.price,
        }
        for b in batches
    ]
