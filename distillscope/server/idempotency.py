"""``Idempotency-Key``: a repeated key within a window replays the stored answer.

A client that retries a request it may already have paid for (a harvest killed
mid-run, a timeout) sends the same ``Idempotency-Key`` header; the server answers
the repeat with the first answer instead of generating (and billing) it again.

- Keys are scoped per account: one account can never read another's answer.
- The first request with a key *claims* it; a repeat that arrives while the first
  is still running waits for it. Only a successful answer (HTTP 200) is kept; if the
  first request fails or its client leaves, the key is released and the next
  request with it is served afresh.
- A repeat with a different request body is refused (400 ``idempotency_key_reused``),
  as payment APIs do: one key, one request.
- Answers are kept for ``window_s`` (24 h by default) in memory, at most
  ``max_entries`` of them and none larger than ``max_answer_bytes``; each server
  process keeps its own.

This module must not know about backends, gateways or HTTP frameworks.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from distillscope.server.errors import APIError, invalid_request

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255


@dataclass
class StoredAnswer:
    """What the first request answered: a JSON body, or the lines of an SSE stream."""

    exchange_id: str
    body: bytes | None = None
    stream: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Entry:
    digest: str
    created: float
    done: asyncio.Event
    answer: StoredAnswer | None = None


class IdempotencyCache:
    """Answers by (account, key), claimed by the first request (see the module docstring)."""

    def __init__(
        self, window_s: float = 24 * 3600, max_entries: int = 10_000, max_answer_bytes: int = 4 << 20
    ) -> None:
        if window_s <= 0 or max_entries < 1 or max_answer_bytes < 1:
            raise ValueError("IdempotencyCache: window_s, max_entries and max_answer_bytes must be positive")
        self.window_s = window_s
        self.max_entries = max_entries
        self.max_answer_bytes = max_answer_bytes
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    @staticmethod
    def key_of(header: str | None) -> str | None:
        """The key from the header value; a 400 for one that is empty or too long."""
        if header is None:
            return None
        key = header.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise invalid_request(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", code="invalid_idempotency_key"
            )
        return key

    @staticmethod
    def digest(raw_body: bytes) -> str:
        return hashlib.sha256(raw_body).hexdigest()

    async def claim(self, account: str, key: str, digest: str) -> StoredAnswer | None:
        """The stored answer to replay, or None when this request is the one to serve (and store)."""
        slot = (account, key)
        while True:
            now = time.monotonic()
            self._expire(now)
            entry = self._entries.get(slot)
            if entry is not None and now - entry.created > self.window_s:
                del self._entries[slot]  # past the window: the key may be used afresh
                entry.done.set()
                entry = None
            if entry is None:
                self._entries[slot] = _Entry(digest, time.monotonic(), asyncio.Event())
                self._bound()
                return None
            if entry.digest != digest:
                raise APIError(
                    400,
                    "This Idempotency-Key was already used with a different request body; "
                    "use a new key for a new request.",
                    "invalid_request_error",
                    code="idempotency_key_reused",
                )
            if entry.answer is not None:
                return entry.answer
            await entry.done.wait()  # the first request is still running: wait for its answer

    def store(self, account: str, key: str, answer: StoredAnswer) -> None:
        """Keep the answer of the request that claimed the key (too large: released instead)."""
        entry = self._entries.get((account, key))
        if entry is None or entry.answer is not None:
            return
        size = len(answer.body or b"") + sum(len(line) for line in answer.stream or [])
        if size > self.max_answer_bytes:
            self.release(account, key)
            return
        entry.answer = answer
        entry.done.set()

    def release(self, account: str, key: str) -> None:
        """Forget a claim whose request failed, so that the next request with the key is served."""
        entry = self._entries.get((account, key))
        if entry is not None and entry.answer is None:
            del self._entries[(account, key)]
            entry.done.set()

    def _expire(self, now: float) -> None:
        while self._entries:
            slot, entry = next(iter(self._entries.items()))
            if now - entry.created <= self.window_s:
                return
            del self._entries[slot]
            entry.done.set()

    def _bound(self) -> None:
        while len(self._entries) > self.max_entries:
            _, entry = self._entries.popitem(last=False)
            entry.done.set()
