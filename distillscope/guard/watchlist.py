"""The watch list: accounts and campaigns found offline, acted on online until they expire.

``distillscope detect`` writes ``accounts.jsonl`` (flagged accounts, each with its
campaign) and ``campaigns.jsonl`` (each flagged campaign's members).
:func:`entries_from_detection` turns them into :class:`WatchEntry` rows -- every
flagged account and every member of a flagged campaign, so that the quiet members
of a campaign (hydra, slow-and-low) are acted on as soon as the campaign is
known -- and :class:`WatchStore` keeps them in the guard's database (table
``ds_watch``, SQLite or PostgreSQL) with an expiry. The gateway reads an
account's entry in the same query that checks its API key
(:meth:`distillscope.guard.keys.KeyStore.authenticate`), so a loaded list takes
effect from the next request, in every server process; the policy's ``[watch]``
section says what happens (strip log-probs and throttle by default).

This module stores and reads the list; it must not decide actions, nor know HTTP.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distillscope.guard.db import LockedStore, ensure_schema, sql
from distillscope.records import read_objects

_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MAX_TEXT = 512

_SCHEMA = {
    "sqlite": """CREATE TABLE IF NOT EXISTS ds_watch (
        account TEXT PRIMARY KEY, campaign TEXT, reason TEXT NOT NULL, source TEXT,
        added REAL NOT NULL, expires REAL NOT NULL)""",
    "postgresql": """CREATE TABLE IF NOT EXISTS ds_watch (
        account TEXT PRIMARY KEY, campaign TEXT, reason TEXT NOT NULL, source TEXT,
        added DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL)""",
}


def parse_ttl(text: str | float | int) -> float:
    """Seconds from ``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, ``"2w"`` or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _TTL.match(str(text))
        if not match:
            raise ValueError(f"cannot read the duration {text!r}: use e.g. 7d, 12h, 30m, 90s or 2w")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0:
        raise ValueError(f"a watch list entry must live for a positive time, not {text!r}")
    return seconds


@dataclass(frozen=True)
class WatchEntry:
    """One watched account: why (in words), its campaign if any, and until when."""

    account: str
    reason: str
    campaign: str | None = None
    source: str | None = None
    added: float = 0.0
    expires: float = float("inf")

    def active(self, now: float) -> bool:
        return self.added <= now < self.expires

    def describe(self) -> str:
        """The reason a decision carries: the campaign (if any) and why it was listed."""
        where = f"campaign {self.campaign}: " if self.campaign else ""
        return f"{where}{self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "campaign": self.campaign,
            "reason": self.reason,
            "source": self.source,
            "added": self.added,
            "expires": self.expires,
        }


def entries_from_detection(
    det_dir: str | Path, *, ttl_s: float, now: float | None = None, min_score: float = 0.0
) -> list[WatchEntry]:
    """Watch entries from a ``distillscope detect`` output folder (accounts.jsonl, campaigns.jsonl).

    Every flagged account (with ``score >= min_score``) and every member of a
    campaign in ``campaigns.jsonl`` (those the detector flagged) is listed once.
    """
    folder = Path(det_dir)
    accounts_path, campaigns_path = folder / "accounts.jsonl", folder / "campaigns.jsonl"
    if not accounts_path.is_file() and not campaigns_path.is_file():
        raise ValueError(
            f"{folder}: no accounts.jsonl or campaigns.jsonl (the output of `distillscope detect`)"
        )
    now = time.time() if now is None else now
    expires = now + ttl_s if math.isfinite(now) and math.isfinite(ttl_s) else math.inf
    source = f"distillscope detect {folder.name}"
    entries: dict[str, WatchEntry] = {}

    def add(account: Any, reason: str, campaign: Any) -> None:
        if not isinstance(account, str) or not account or account in entries:
            return
        camp = str(campaign)[:_MAX_TEXT] if campaign not in (None, "") else None
        entries[account] = WatchEntry(account, reason[:_MAX_TEXT], camp, source, now, expires)

    if accounts_path.is_file():
        for row in read_objects(accounts_path):
            score = row.get("score")
            score = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else 0.0
            if row.get("flagged") is True and score >= min_score:
                add(row.get("account"), f"flagged offline (score {score:.2f})", row.get("campaign"))
    if campaigns_path.is_file():
        for row in read_objects(campaigns_path):
            if row.get("flagged") is False:
                continue
            members = row.get("accounts")
            if isinstance(members, list):
                for account in members:
                    add(account, "member of a campaign found offline", row.get("campaign"))
    return list(entries.values())


def ensure_watch_table(conn: Any, kind: str) -> None:
    """Create ``ds_watch`` if it is missing (idempotent; serialised on PostgreSQL)."""
    ensure_schema(conn, kind, (_SCHEMA[kind],), WatchStore.lock_key)


class WatchStore(LockedStore):
    """The watch list in the guard's database (thread-safe, one connection under a lock)."""

    schema = {kind: (statement,) for kind, statement in _SCHEMA.items()}
    lock_key = 7412

    def add(self, entries: Iterable[WatchEntry]) -> int:
        """Insert or refresh entries (a re-listed account gets the new reason and expiry)."""
        statement = sql(
            "INSERT INTO ds_watch (account, campaign, reason, source, added, expires) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET campaign = excluded.campaign, "
            "reason = excluded.reason, source = excluded.source, added = excluded.added, "
            "expires = excluded.expires",
            self.db.kind,
        )
        rows = [(e.account, e.campaign, e.reason, e.source, e.added, min(e.expires, 1e18)) for e in entries]
        with self._transaction() as cursor:
            cursor.executemany(statement, rows)
        return len(rows)

    def remove(self, account: str) -> bool:
        found = bool(self._rows("SELECT 1 FROM ds_watch WHERE account = ?", (account,)))
        self._rows("DELETE FROM ds_watch WHERE account = ?", (account,))
        return found

    def clear(self, expired_only: bool = False, now: float | None = None) -> None:
        if expired_only:
            self._rows("DELETE FROM ds_watch WHERE expires <= ?", (time.time() if now is None else now,))
        else:
            self._rows("DELETE FROM ds_watch")

    def entries(self, now: float | None = None, include_expired: bool = False) -> list[WatchEntry]:
        now = time.time() if now is None else now
        rows = self._rows(
            "SELECT account, reason, campaign, source, added, expires FROM ds_watch ORDER BY account"
        )
        out = [WatchEntry(r[0], r[1], r[2], r[3], float(r[4]), float(r[5])) for r in rows]
        return out if include_expired else [e for e in out if e.expires > now]


class WatchList:
    """An in-memory watch list (for ``guard replay``): entries by account, checked at a time."""

    def __init__(self, entries: Iterable[WatchEntry] = ()) -> None:
        self.entries = {e.account: e for e in entries}

    def listed_at(self, now: float, ttl_s: float) -> WatchList:
        """The same accounts as if ``guard watch load --ttl`` had listed them at ``now``."""
        return WatchList(replace(e, added=now, expires=now + ttl_s) for e in self.entries.values())

    def lookup(self, account: str, now: float) -> WatchEntry | None:
        entry = self.entries.get(account)
        return entry if entry is not None and entry.active(now) else None

    def __len__(self) -> int:
        return len(self.entries)
