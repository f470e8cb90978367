"""The hard budget: requests, tokens and dollars, never exceeded, concurrency included.

Before a request is sent its worst case is *reserved*: one request, a bound on
its prompt tokens plus ``max_tokens`` completion tokens, and the cost of both.
A request goes out only if spent + reserved + its worst case fits every cap, so
requests in flight can never overshoot together. When the answer arrives the
reservation is *settled* at the real usage (or at the worst case when the teacher
reports no usage); a failed request releases it. A request that does not fit
waits while others are in flight (their settlement may free room) and is refused
once nothing is in flight.

The prompt bound is the UTF-8 byte count plus a per-message and a fixed overhead
for the chat template: a byte-level BPE tokenizer never yields more tokens than
bytes. This module must not do I/O.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

#: Chat-template tokens allowed per message and per request in the worst-case bound.
PER_MESSAGE_OVERHEAD = 8
PER_REQUEST_OVERHEAD = 48


def prompt_tokens_bound(messages: list[dict[str, Any]]) -> int:
    """An upper bound on the prompt tokens of ``messages`` for byte-level BPE tokenizers."""
    return PER_REQUEST_OVERHEAD + sum(
        PER_MESSAGE_OVERHEAD + len(str(m.get("content") or "").encode()) for m in messages
    )


def prompt_tokens_estimate(messages: list[dict[str, Any]]) -> int:
    """A typical-case estimate (about 4 characters a token) for pre-flight reports and TPM pacing."""
    return 12 + sum(4 + len(str(m.get("content") or "")) // 4 for m in messages)


@dataclass
class Caps:
    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_tokens", "max_cost"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass
class Usage:
    requests: int = 0
    tokens: int = 0
    cost: float = 0.0

    def plus(self, other: Usage) -> Usage:
        return Usage(self.requests + other.requests, self.tokens + other.tokens, self.cost + other.cost)


@dataclass
class Reservation:
    worst: Usage
    settled: bool = False


@dataclass
class Budget:
    """Spent and reserved totals against :class:`Caps`; safe for many coroutines of one loop."""

    caps: Caps
    spent: Usage = field(default_factory=Usage)
    reserved: Usage = field(default_factory=Usage)
    overruns: int = 0

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._in_flight = 0

    def fits(self, worst: Usage) -> bool:
        total = self.spent.plus(self.reserved).plus(worst)
        caps = self.caps
        return not (
            (caps.max_requests is not None and total.requests > caps.max_requests)
            or (caps.max_tokens is not None and total.tokens > caps.max_tokens)
            or (caps.max_cost is not None and total.cost > caps.max_cost + 1e-12)
        )

    async def reserve(self, worst: Usage) -> Reservation | None:
        """Reserve ``worst``; wait while requests in flight may free room; None when it can never fit."""
        async with self._changed:
            while not self.fits(worst):
                if self._in_flight == 0:
                    return None
                await self._changed.wait()
            self.reserved = self.reserved.plus(worst)
            self._in_flight += 1
            return Reservation(worst)

    async def settle(self, reservation: Reservation, actual: Usage | None) -> None:
        """Turn a reservation into spending at ``actual`` (the worst case when unknown)."""
        spend = actual if actual is not None else reservation.worst
        if spend.tokens > reservation.worst.tokens or spend.cost > reservation.worst.cost + 1e-12:
            self.overruns += 1  # the teacher billed more than the bound; reported in the manifest
        await self._finish(reservation, spend)

    async def release(self, reservation: Reservation) -> None:
        """Give a reservation back unspent (the request failed or was not sent)."""
        await self._finish(reservation, None)

    async def _finish(self, reservation: Reservation, spend: Usage | None) -> None:
        async with self._changed:
            if reservation.settled:
                return
            reservation.settled = True
            worst = reservation.worst
            self.reserved = Usage(
                self.reserved.requests - worst.requests,
                self.reserved.tokens - worst.tokens,
                self.reserved.cost - worst.cost,
            )
            if spend is not None:
                self.spent = self.spent.plus(spend)
            self._in_flight -= 1
            self._changed.notify_all()
