"""Accounts and API keys: random keys, stored only as HMAC-SHA256 under the server secret.

A key is ``ds-`` + ``secrets.token_urlsafe(32)``; it is returned once, when it is
created, and never stored, printed or logged again. The store keeps a public
``key_id`` (``key_...``), the account, the admin flag, the creation and revocation
times, and ``HMAC-SHA256(server_secret, key)``. Authentication recomputes the HMAC
of the presented key and looks it up, so revoking a key in the database stops it
at the next request, also in other processes.

A key may carry account metadata (table ``ds_key_meta``): the customer's
organisation (``org``) and a payment instrument id, stored only as a keyed hash
(``pay_`` + HMAC-SHA256 under the server secret, truncated): equal ids give equal
hashes, so the offline detector can tell accounts paid by one card, and the id
itself is never stored. The same look-up that authenticates a key returns its
metadata and the account's watch-list entry (:mod:`distillscope.guard.watchlist`),
so neither costs the request path a second query.

This module must not keep keys in clear anywhere, nor know about HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from distillscope.errors import DistillscopeError
from distillscope.guard.db import DBUrl, connect, ensure_schema, parse_db_url, sql
from distillscope.guard.watchlist import WatchEntry, ensure_watch_table

KEY_PREFIX = "ds-"
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_FINGERPRINT_NAME = "secret_fingerprint"
_ORG_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_META_SCHEMA = "CREATE TABLE IF NOT EXISTS ds_key_meta (key_id TEXT PRIMARY KEY, org TEXT, payment_hash TEXT)"
_LIST_SELECT = (
    "SELECT k.key_id, k.account, k.admin, k.created, k.revoked, m.org, m.payment_hash "
    "FROM ds_api_keys k LEFT JOIN ds_key_meta m ON m.key_id = k.key_id"
)
_AUTH_SELECT = (
    "SELECT k.key_id, k.account, k.admin, k.created, k.revoked, m.org, m.payment_hash, "
    "w.account, w.reason, w.campaign, w.source, w.added, w.expires "
    "FROM ds_api_keys k LEFT JOIN ds_key_meta m ON m.key_id = k.key_id "
    "LEFT JOIN ds_watch w ON w.account = k.account AND w.added <= ? AND w.expires > ? "
)


class KeyStoreError(DistillscopeError, RuntimeError):
    """A key operation that cannot be done (unknown key, bad account name, wrong secret)."""


@dataclass(frozen=True)
class KeyInfo:
    """What is known about a key without the key itself."""

    key_id: str
    account: str
    admin: bool
    created: float
    revoked: float | None
    org: str | None = None
    payment_id: str | None = None  # the keyed hash (pay_...), never the id itself
    watch: WatchEntry | None = None  # the account's active watch-list entry, at authentication

    @property
    def active(self) -> bool:
        return self.revoked is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "account": self.account,
            "admin": self.admin,
            "created": self.created,
            "revoked": self.revoked,
            "org": self.org,
            "payment_id": self.payment_id,
        }


def validate_account(name: str) -> str:
    """An account name: 1-128 characters of letters, digits and ``_ . @ -``."""
    if not isinstance(name, str) or not _ACCOUNT_RE.match(name):
        raise KeyStoreError(f"invalid account name {name!r}: use 1-128 letters, digits, '_', '.', '@' or '-'")
    return name


def validate_org(name: str) -> str:
    """An organisation name: 1-128 printable characters."""
    if not isinstance(name, str) or not _ORG_RE.match(name) or not name.strip():
        raise KeyStoreError(f"invalid organisation {name!r}: use 1-128 printable characters")
    return name


def payment_hash(secret: bytes, payment_id: str) -> str:
    """The stored form of a payment id: ``pay_`` + 24 hex digits of its HMAC under ``secret``."""
    if not isinstance(payment_id, str) or not payment_id.strip() or len(payment_id) > 256:
        raise KeyStoreError("a payment id must be 1-256 characters")
    return "pay_" + key_hmac(secret, "payment-id:" + payment_id.strip())[:24]


def new_key() -> str:
    """A fresh random API key (about 256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hmac(secret: bytes, key: str) -> str:
    """HMAC-SHA256 of ``key`` under ``secret``, hex: the only form a key is stored in."""
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()


class KeyStore:
    """Accounts and keys in the guard's database (SQLite or PostgreSQL).

    Thread-safe: one connection guarded by a lock (lookups are a single indexed
    read, so the lock is held for microseconds).
    """

    def __init__(self, url: str | DBUrl, secret: bytes) -> None:
        if not secret or len(secret) < 16:
            raise KeyStoreError("the server secret must be at least 16 bytes")
        self.db = url if isinstance(url, DBUrl) else parse_db_url(url)
        self._secret = secret
        self._lock = threading.Lock()
        self._conn = connect(self.db)
        self._ensure_tables()
        self._check_secret()

    # -- internals ----------------------------------------------------------------------

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self.db.kind == "postgresql" and self._conn.closed:
                # The server restarted or the connection dropped: one fresh try per call.
                self._conn = connect(self.db)
            try:
                cursor = self._conn.execute(sql(statement, self.db.kind), params)
            except Exception:
                if self.db.kind == "postgresql" and not self._conn.closed and self._conn.broken:
                    self._conn.close()
                raise
            try:
                return list(cursor.fetchall()) if cursor.description else []
            finally:
                cursor.close()

    def _ensure_tables(self) -> None:
        ensure_watch_table(self._conn, self.db.kind)
        ensure_schema(self._conn, self.db.kind, (_META_SCHEMA,), 7413)

    def _check_secret(self) -> None:
        # A fingerprint of the secret (an HMAC of a fixed label, not the secret) lets us
        # say clearly "wrong secret" instead of rejecting every key without a reason.
        fingerprint = key_hmac(self._secret, "distillscope-secret-fingerprint")
        rows = self._execute("SELECT value FROM ds_meta WHERE name = ?", (_FINGERPRINT_NAME,))
        if not rows:
            conflict = "ON CONFLICT (name) DO NOTHING"
            self._execute(
                f"INSERT INTO ds_meta (name, value) VALUES (?, ?) {conflict}",
                (_FINGERPRINT_NAME, fingerprint),
            )
            rows = self._execute("SELECT value FROM ds_meta WHERE name = ?", (_FINGERPRINT_NAME,))
        if rows[0][0] != fingerprint:
            raise KeyStoreError(
                f"the keys in {self.db.redacted()} were created with a different server secret; "
                "set DISTILLSCOPE_SERVER_SECRET or DISTILLSCOPE_HOME to the one the keys were made with"
            )

    @staticmethod
    def _info(row: tuple[Any, ...]) -> KeyInfo:
        key_id, account, admin, created, revoked, org, pay = row[:7]
        watch = None
        if len(row) > 7 and row[7] is not None:
            w_account, reason, campaign, source, added, expires = row[7:13]
            watch = WatchEntry(w_account, reason, campaign, source, float(added), float(expires))
        return KeyInfo(
            key_id,
            account,
            bool(admin),
            float(created),
            None if revoked is None else float(revoked),
            org,
            pay,
            watch,
        )

    # -- accounts -------------------------------------------------------------------------

    def ensure_account(self, account: str) -> None:
        validate_account(account)
        self._execute(
            "INSERT INTO ds_accounts (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (account, time.time()),
        )

    def accounts(self) -> list[str]:
        return [row[0] for row in self._execute("SELECT name FROM ds_accounts ORDER BY name")]

    # -- keys -----------------------------------------------------------------------------

    def create_key(
        self, account: str, admin: bool = False, *, org: str | None = None, payment_id: str | None = None
    ) -> tuple[str, KeyInfo]:
        """Create a key for ``account`` (created if new). Returns the key (shown once) and its info.

        ``org`` and ``payment_id`` are the account metadata every exchange made with the
        key will carry; the payment id is stored only as :func:`payment_hash`.
        """
        org = validate_org(org) if org is not None else None
        pay = payment_hash(self._secret, payment_id) if payment_id is not None else None
        self.ensure_account(account)
        key = new_key()
        info = KeyInfo("key_" + secrets.token_hex(8), account, admin, time.time(), None, org, pay)
        self._execute(
            "INSERT INTO ds_api_keys (key_id, account, key_hmac, admin, created, revoked) "
            "VALUES (?, ?, ?, ?, ?, NULL)",
            (info.key_id, account, key_hmac(self._secret, key), int(admin), info.created),
        )
        if org is not None or pay is not None:
            self._execute(
                "INSERT INTO ds_key_meta (key_id, org, payment_hash) VALUES (?, ?, ?)",
                (info.key_id, org, pay),
            )
        return key, info

    def authenticate(self, key: str) -> KeyInfo | None:
        """The active key's info, or None for an unknown or revoked key."""
        if not key or not key.startswith(KEY_PREFIX) or len(key) > 256:
            return None
        now = time.time()
        rows = self._execute(_AUTH_SELECT + "WHERE k.key_hmac = ?", (now, now, key_hmac(self._secret, key)))
        if not rows:
            return None
        info = self._info(rows[0])
        return info if info.active else None

    def list_keys(self, account: str | None = None) -> list[KeyInfo]:
        if account is None:
            rows = self._execute(f"{_LIST_SELECT} ORDER BY k.created, k.key_id")
        else:
            rows = self._execute(
                f"{_LIST_SELECT} WHERE k.account = ? ORDER BY k.created, k.key_id", (account,)
            )
        return [self._info(row) for row in rows]

    def get_key(self, key_id: str) -> KeyInfo | None:
        rows = self._execute(f"{_LIST_SELECT} WHERE k.key_id = ?", (key_id,))
        return self._info(rows[0]) if rows else None

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key (idempotent). Raises :class:`KeyStoreError` for an unknown id."""
        info = self.get_key(key_id)
        if info is None:
            raise KeyStoreError(f"no key with id {key_id!r}")
        if info.revoked is None:
            self._execute(
                "UPDATE ds_api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL",
                (time.time(), key_id),
            )
        revoked = self.get_key(key_id)
        assert revoked is not None
        return revoked

    def close(self) -> None:
        with self._lock:
            self._conn.close()
