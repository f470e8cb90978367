"""Client-side rate limiting: pace requests and tokens per minute, learn limits from response headers.

Requests are paced evenly (a virtual schedule, GCRA-style) at the smaller of the
configured and the advertised limit (``x-ratelimit-limit-requests/-tokens``),
times a safety factor, so a steady run sits just under the server's limit rather
than bursting into it. ``x-ratelimit-remaining-*`` at zero holds sending until
``x-ratelimit-reset-*``; a 429's ``retry-after`` (or ``retry-after-ms``) pauses every
sender, not just the one that got it. Until the first response has been seen and
no limit is configured, one request goes alone (a probe) so a fresh run does not
open with a burst of 429s.

This module must not do HTTP itself or know about budgets.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Mapping

#: How many pacing slots a late sender may make up for (GCRA burst tolerance).
CATCH_UP = 2

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` or a bare number; None if unreadable."""
    if text is None:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = list(_DURATION.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(p.group("value")) * scale[p.group("unit")] for p in parts)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateLimiter:
    """Paces sends for one teacher; all methods run on one event loop."""

    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, safety: float = 0.98, probe: bool = True
    ) -> None:
        if not 0 < safety <= 1:
            raise ValueError("safety must be within (0, 1]")
        self.configured_rpm, self.configured_tpm = rpm, tpm
        self.advertised_rpm: float | None = None
        self.advertised_tpm: float | None = None
        self.safety = safety
        self._next_request = 0.0
        self._next_tokens = 0.0
        self._paused_until = 0.0
        self._remaining: dict[str, float | None] = {"requests": None, "tokens": None}
        self._reset_at: dict[str, float] = {"requests": 0.0, "tokens": 0.0}
        self._lock = asyncio.Lock()
        self._first_seen = asyncio.Event()
        self._probe_sent = False
        self._no_probe = not probe
        self.pauses = 0

    @property
    def rpm(self) -> float | None:
        return _smaller(self.configured_rpm, self.advertised_rpm)

    @property
    def tpm(self) -> float | None:
        return _smaller(self.configured_tpm, self.advertised_tpm)

    async def acquire(self, tokens: int) -> None:
        """Wait until a request of about ``tokens`` tokens may be sent, then book it."""
        if not self._first_seen.is_set() and self.rpm is None:
            if self._probe_sent and not self._no_probe:
                await self._first_seen.wait()
            self._probe_sent = True
        async with self._lock:
            while (wait := self._wait(tokens)) > 0:
                await asyncio.sleep(wait)
            self._book(tokens)

    def _wait(self, tokens: int) -> float:
        now = time.monotonic()
        waits = [self._paused_until - now]
        if self.rpm:
            waits.append(self._next_request - now)
        if self.tpm:
            waits.append(self._next_tokens - now)
        for kind in ("requests", "tokens"):
            remaining = self._remaining[kind]
            needed = 1 if kind == "requests" else tokens
            if remaining is not None and remaining < needed:
                if now >= self._reset_at[kind]:
                    self._remaining[kind] = None  # the window has reset; wait for fresh headers
                else:
                    waits.append(self._reset_at[kind] - now)
        return max(waits)

    def _book(self, tokens: int) -> None:
        now = time.monotonic()
        if self.rpm:
            interval = 60.0 / (self.rpm * self.safety)
            # A sender woken late may catch up by at most CATCH_UP slots, so scheduling lag on a busy
            # machine is not lost for good, while a long idle spell never turns into a burst.
            self._next_request = max(now - CATCH_UP * interval, self._next_request) + interval
        if self.tpm:
            cost = 60.0 * tokens / (self.tpm * self.safety)
            self._next_tokens = max(now - CATCH_UP * cost, self._next_tokens) + cost
        for kind, used in (("requests", 1), ("tokens", tokens)):
            if self._remaining[kind] is not None:
                self._remaining[kind] = self._remaining[kind] - used

    def observe(self, headers: Mapping[str, str] | None, status: int | None) -> None:
        """Learn from a response's headers (any status); pause everyone on a 429's retry-after."""
        self._first_seen.set()
        if not headers:
            return
        now = time.monotonic()
        limit_requests = _number(headers, "x-ratelimit-limit-requests")
        limit_tokens = _number(headers, "x-ratelimit-limit-tokens")
        if limit_requests:
            self.advertised_rpm = limit_requests
        if limit_tokens:
            self.advertised_tpm = limit_tokens
        for kind in ("requests", "tokens"):
            remaining = _number(headers, f"x-ratelimit-remaining-{kind}")
            reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
            if remaining is not None and reset is not None:
                self._remaining[kind] = remaining
                self._reset_at[kind] = now + reset
        if status == 429:
            self.pause(parse_retry_after(headers))

    def pause(self, seconds: float | None) -> None:
        """Hold every sender for ``seconds`` (a 429 without retry-after pauses one second)."""
        seconds = 1.0 if seconds is None else seconds
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self.pauses += 1


def _smaller(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v]
    return min(values) if values else None
