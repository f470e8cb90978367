"""Benchmark: harvest throughput against a rate-limited teacher, next to a plain AsyncOpenAI loop.

The teacher is the wire server (``distillscope.testing.wire_server``) in its own
process, with a fixed latency (50 ms) and a server-enforced rate limit R
(requests per minute, token bucket of one second) that answers 429 with
``retry-after`` when exceeded. Both clients send the same number of distinct
requests with the same concurrency:

- ``harvest``: :func:`distillscope.harvest.run.harvest` with no rate configured
  (it learns R from the ``x-ratelimit-*`` headers), caching, budget bookkeeping
  and output files included;
- ``baseline``: the official ``AsyncOpenAI`` client (its own retries honour
  ``retry-after``) behind an ``asyncio.Semaphore``.

Printed per client: achieved rate as a fraction of R (server-side clock: first
request received to last answer paid), 429s answered by the server, and client
CPU time per request (``time.process_time`` of this process; the server's CPU is
in its own process). Ratios are harvest / baseline in the same run.

    .venv/bin/python bench/harvest.py                       # R=1200 RPM, 400 requests each
    .venv/bin/python bench/harvest.py --rpm 600 --requests 300 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def start_server(rpm: float, latency: float) -> tuple[subprocess.Popen, str]:
    faults = json.dumps({"latency_s": latency, "rpm": rpm, "burst_seconds": 1.0})
    process = subprocess.Popen(
        [sys.executable, "-m", "distillscope.testing.wire_server", "--port", "0", "--faults", faults],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("READY "):
        process.kill()
        raise SystemExit(f"wire server did not start: {line!r}")
    return process, line.split()[1]


def server_call(base_url: str, path: str, method: str = "GET") -> dict:
    return httpx.request(method, base_url.removesuffix("/v1") + path, timeout=30).json()


def run_harvest(base_url: str, count: int, concurrency: int, max_new_tokens: int) -> None:
    from distillscope.harvest.run import harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.harvest.strategies.base import Query, StaticStrategy

    queries = [Query.user(f"harvest request {i}: say something short") for i in range(count)]
    with tempfile.TemporaryDirectory() as out:
        result = harvest(
            HarvestSettings(
                out_dir=Path(out),
                strategy=StaticStrategy(queries),
                teacher=base_url,
                model="gpt-4o-mini",
                max_new_tokens=max_new_tokens,
                concurrency=concurrency,
                progress=False,
                terms="benchmark against our own wire server",
            )
        )
    if result.exchanges != count:
        raise SystemExit(f"harvest answered {result.exchanges} of {count}")


def run_baseline(base_url: str, count: int, concurrency: int, max_new_tokens: int) -> None:
    from openai import AsyncOpenAI

    async def main() -> None:
        client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=50)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"baseline request {i}: say something short"}],
                    max_tokens=max_new_tokens,
                    temperature=0.7,
                )

        await asyncio.gather(*(one(i) for i in range(count)))
        await client.close()

    asyncio.run(main())


def measure(name: str, fn, base_url: str, rpm: float, args: argparse.Namespace) -> dict:
    server_call(base_url, "/_reset", "POST")
    cpu = time.process_time()
    wall = time.perf_counter()
    fn(base_url, args.requests, args.concurrency, args.max_new_tokens)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    stats = server_call(base_url, "/_stats")
    span = stats["last_paid_at"] - stats["first_request_at"]
    achieved_rpm = stats["paid"] / span * 60
    return {
        "client": name,
        "paid": stats["paid"],
        "paid_twice": len(stats["paid_twice"]),
        "http_429": stats["statuses"].get("429", 0),
        "achieved_rpm": round(achieved_rpm, 1),
        "fraction_of_R": round(achieved_rpm / rpm, 3),
        "wall_s": round(wall, 2),
        "cpu_ms_per_request": round(cpu / args.requests * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpm", type=float, default=1200.0, help="server rate limit R (requests/minute)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency per answer (s)")
    parser.add_argument("--requests", type=int, default=400, help="requests per client")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    # Import what both clients need before timing, so one-off import costs are not billed per request.
    import openai  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import distillscope.harvest.run  # noqa: F401

    process, base_url = start_server(args.rpm, args.latency)
    try:
        rows = [
            measure("harvest", run_harvest, base_url, args.rpm, args),
            measure("baseline", run_baseline, base_url, args.rpm, args),
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(
        f"wire server: R = {args.rpm:g} RPM (token bucket, 1 s burst), latency {args.latency * 1000:g} ms; "
        f"{args.requests} requests per client, concurrency {args.concurrency}"
    )
    columns = list(rows[0])
    print(" | ".join(f"{c:>18}" for c in columns))
    for row in rows:
        print(" | ".join(f"{row[c]!s:>18}" for c in columns))
    ours, base = rows
    print(
        f"ratios harvest/baseline: rate {ours['fraction_of_R'] / base['fraction_of_R']:.3f}, "
        f"429s {ours['http_429']}/{base['http_429']}, "
        f"CPU per request {ours['cpu_ms_per_request'] / base['cpu_ms_per_request']:.2f}x"
    )
    goal = "met" if ours["fraction_of_R"] >= 0.95 else "NOT met"
    print(f"goal (harvest >= 0.95 of R): {goal}")


if __name__ == "__main__":
    main()
