"""Timing, infrastructure and request parameters of simulated accounts, all drawn per account.

- timing: humans (time zone, diurnal sessions, think time, quieter weekends),
  office hours, machines (round the clock, metronome, bursts, nightly pauses),
  one-day bursts (an evaluation run);
- infrastructure: home IPs (IPv4 or IPv6), corporate NAT, carrier-grade NAT
  (100.64.0.0/10), campus ranges, VPN exits, residential proxy pools; browser and
  SDK user agents;
- answers: per-account answer-length distributions and the max_tokens asked.

This module draws numbers; it must not write text, logs or labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86400.0
HOUR = 3600.0

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_{v2}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v2}",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v2} like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel {v2}) AppleWebKit/537.36 Chrome/{v}.0 Mobile Safari/537.36",
]
SDKS = [
    "OpenAI/Python 1.{v2}.0",
    "OpenAI/NodeJS 4.{v2}.0",
    "python-httpx/0.2{v2}.0",
    "curl/8.{v2}.0",
    "python-requests/2.3{v2}.0",
    "Go-http-client/1.1",
    "axios/1.{v2}.0",
    "LangChain/0.{v2}",
]


def browser(rng: np.random.Generator) -> str:
    tpl = BROWSERS[int(rng.integers(len(BROWSERS)))]
    return tpl.format(v=int(rng.integers(118, 131)), v2=int(rng.integers(1, 8)))


def sdk(rng: np.random.Generator) -> str:
    return SDKS[int(rng.integers(len(SDKS)))].format(v2=int(rng.integers(1, 9)))


def public_ip(rng: np.random.Generator, ipv6_share: float = 0.15) -> str:
    if rng.random() < ipv6_share:
        parts = rng.integers(0, 65536, 5)
        return "2a0{}:{:x}:{:x}:{:x}::{:x}".format(int(rng.integers(0, 9)), *(int(p) for p in parts[:4]))
    first = int(
        rng.choice([23, 31, 37, 45, 62, 73, 81, 84, 91, 98, 109, 141, 151, 176, 185, 188, 203, 212, 217])
    )
    return f"{first}.{int(rng.integers(0, 256))}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"


def ip_range(rng: np.random.Generator, size: int) -> list[str]:
    """``size`` addresses inside one /24 (a campus, an office block)."""
    base = public_ip(rng, 0.0).rsplit(".", 1)[0]
    hosts = rng.choice(np.arange(1, 255), size=min(size, 254), replace=False)
    return [f"{base}.{int(h)}" for h in hosts]


def cgnat_pool(rng: np.random.Generator, size: int) -> list[str]:
    return [
        f"100.{int(rng.integers(64, 128))}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"
        for _ in range(size)
    ]


@dataclass
class Clock:
    """The scenario's time frame."""

    start: float
    days: int

    @property
    def end(self) -> float:
        return self.start + self.days * DAY


def human_times(
    rng: np.random.Generator,
    clock: Clock,
    n: int,
    tz_hours: float,
    office: bool = False,
    weekend_factor: float = 0.5,
    active_days: tuple[int, int] | None = None,
) -> np.ndarray:
    """``n`` request times of a person: sessions in waking (or office) hours, think time between requests."""
    first, last = active_days or (0, clock.days)
    days = np.arange(first, max(first + 1, last))
    weekday = ((clock.start / DAY + 3 + days) % 7) < 5  # epoch day 0 was a Thursday
    weights = np.where(weekday, 1.0, 0.05 if office else weekend_factor)
    out: list[float] = []
    lo, hi = (8.5, 18.0) if office else (float(rng.uniform(6.5, 10)), float(rng.uniform(21, 24.5)))
    while len(out) < n:
        day = int(rng.choice(days, p=weights / weights.sum()))
        local = rng.uniform(lo, hi)
        t = clock.start + day * DAY + (local - tz_hours) * HOUR
        for _ in range(int(min(n - len(out), 1 + rng.geometric(0.25)))):
            out.append(t)
            t += float(rng.exponential(rng.uniform(25, 240))) + 4
    return np.sort(np.array(out[:n]))


def machine_times(
    rng: np.random.Generator,
    clock: Clock,
    n: int,
    pattern: str,
    t0: float | None = None,
    t1: float | None = None,
) -> np.ndarray:
    """Request times of a program: ``uniform`` (round the clock), ``metronome``, ``bursts`` or ``nightly``."""
    t0 = clock.start if t0 is None else t0
    t1 = clock.end if t1 is None else t1
    span = max(60.0, t1 - t0)
    if pattern == "metronome":
        gap = span / n
        times = t0 + np.arange(n) * gap + rng.normal(0, gap * rng.uniform(0.02, 0.2), n)
    elif pattern == "bursts":
        k = max(1, int(n / rng.uniform(50, 400)))
        starts = np.sort(rng.uniform(t0, t1 - 60, k))
        which = rng.integers(0, k, n)
        times = starts[which] + rng.exponential(rng.uniform(0.3, 3.0), n).cumsum() % 3600
    elif pattern == "nightly":  # pauses a few hours a day to look human
        pause = rng.uniform(3, 8)
        times = rng.uniform(t0, t1, int(n * 1.6))
        hours = ((times - clock.start) / HOUR) % 24
        times = times[hours >= pause][:n]
        if len(times) < n:
            times = np.concatenate([times, rng.uniform(t0, t1, n - len(times))])
    else:
        times = rng.uniform(t0, t1, n)
    return np.sort(np.clip(times, clock.start, clock.end - 1))


def burst_times(rng: np.random.Generator, t0: float, n: int, gap: float) -> np.ndarray:
    """Back-to-back requests from ``t0`` (an evaluation run, a batch job)."""
    return t0 + np.cumsum(rng.exponential(gap, n))


@dataclass
class Answers:
    """An account's answer lengths: lognormal completion tokens, the max_tokens it asks for."""

    mean_tokens: float
    max_tokens: int | None
    sigma: float = 0.5

    def draw(self, rng: np.random.Generator) -> tuple[int, str]:
        tokens = max(1, int(rng.lognormal(np.log(self.mean_tokens), self.sigma)))
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return self.max_tokens, "length"
        return tokens, "stop"


def answers(
    rng: np.random.Generator, mean_low: float, mean_high: float, max_choices: list[int | None]
) -> Answers:
    mean = float(np.exp(rng.uniform(np.log(mean_low), np.log(mean_high))))
    return Answers(mean, max_choices[int(rng.integers(len(max_choices)))], float(rng.uniform(0.3, 0.8)))
