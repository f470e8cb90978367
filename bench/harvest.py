"""Benchmark: harvest against a rate-limited teacher next to a plain AsyncOpenAI loop; batch mode at scale.

The teacher is the wire server (``distillscope.testing.wire_server``) in its own
process. Every client runs in a fresh interpreter of its own, and its CPU time
is read from the operating system when it exits (``RUSAGE_CHILDREN``): start-up
imports, planning, HTTP, parsing, caching and output files all count.

``sync`` scenario: the server has a fixed latency (50 ms) and enforces a rate
limit R (requests per minute, token bucket of one second) with 429s and
``retry-after``. Both clients send the same number of distinct requests at the
same concurrency:

- ``harvest``: :func:`distillscope.harvest.run.harvest` with no rate configured
  (it learns R from the ``x-ratelimit-*`` headers), cache, budget and outputs;
- ``baseline`` (the peer): the official ``AsyncOpenAI`` client (its own retries
  honour ``retry-after``) behind an ``asyncio.Semaphore``.

Printed per client: achieved rate as a fraction of R (server clock: first
request received to last answer paid), 429s, client CPU per answered request
(whole process, and after imports). Ratios are harvest / baseline in the same run.

``batch`` scenario: ``harvest --batch`` of N requests (default 10,000) through
the wire server's OpenAI Batch API (no processing delay): plan, JSONL upload,
create, poll, download, commit to the cache, write the dataset. Printed: client
CPU per request end to end (goal <= 1 ms), next to the sync harvest's.

    .venv/bin/python bench/harvest.py                            # both scenarios
    .venv/bin/python bench/harvest.py --scenario sync --rpm 600 --requests 300 --concurrency 32
    .venv/bin/python bench/harvest.py --scenario batch --batch-requests 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve()


def start_server(faults: dict) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "distillscope.testing.wire_server", "--port", "0"]
        + ["--faults", json.dumps(faults)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith("READY "):
        process.kill()
        raise SystemExit(f"wire server did not start: {line!r}")
    return process, line.split()[1]


def server_call(base_url: str, path: str, method: str = "GET") -> dict:
    return httpx.request(method, base_url.removesuffix("/v1") + path, timeout=60).json()


# -- the clients, each run in a fresh interpreter (``--child NAME``) ----------------------


def child_harvest(args: argparse.Namespace, batch: bool = False) -> int:
    from distillscope.harvest.run import harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.harvest.strategies.base import Query, StaticStrategy

    started = time.process_time()
    queries = [Query.user(f"harvest request {i}: say something short") for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as out:
        result = harvest(
            HarvestSettings(
                out_dir=Path(out),
                strategy=StaticStrategy(queries),
                teacher=args.base_url,
                model="gpt-4o-mini",
                max_new_tokens=args.max_new_tokens,
                concurrency=args.concurrency,
                progress=False,
                terms="benchmark against our own wire server",
                batch=batch,
                batch_poll_s=0.05,
            )
        )
    print(json.dumps({"after_imports_cpu_s": time.process_time() - started}))
    return result.exchanges


def child_baseline(args: argparse.Namespace) -> int:
    from openai import AsyncOpenAI

    started = time.process_time()

    async def main() -> int:
        client = AsyncOpenAI(base_url=args.base_url, api_key="bench", max_retries=50)
        gate = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"baseline request {i}: say something short"}],
                    max_tokens=args.max_new_tokens,
                    temperature=0.7,
                )

        await asyncio.gather(*(one(i) for i in range(args.requests)))
        await client.close()
        return args.requests

    answered = asyncio.run(main())
    print(json.dumps({"after_imports_cpu_s": time.process_time() - started}))
    return answered


def run_child(name: str, base_url: str, requests: int, args: argparse.Namespace) -> dict:
    """Run one client in a fresh interpreter; its CPU (user + system) as the OS counted it."""
    command = [
        sys.executable,
        str(HERE),
        "--child",
        name,
        "--base-url",
        base_url,
        "--requests",
        str(requests),
        "--concurrency",
        str(args.concurrency),
        "--max-new-tokens",
        str(args.max_new_tokens),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    inner = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "after_imports_cpu_s": inner["after_imports_cpu_s"], "wall_s": wall}


def measure_sync(name: str, base_url: str, rpm: float, args: argparse.Namespace) -> dict:
    server_call(base_url, "/_reset", "POST")
    used = run_child(name, base_url, args.requests, args)
    stats = server_call(base_url, "/_stats")
    span = stats["last_paid_at"] - stats["first_request_at"]
    achieved_rpm = stats["paid"] / span * 60
    paid = stats["paid"]
    return {
        "client": name,
        "paid": paid,
        "paid_twice": len(stats["paid_twice"]),
        "http_429": stats["statuses"].get("429", 0),
        "fraction_of_R": round(achieved_rpm / rpm, 3),
        "wall_s": round(used["wall_s"], 2),
        "cpu_ms_per_answer": round(used["cpu_s"] / paid * 1000, 3),
        "cpu_ms_after_imports": round(used["after_imports_cpu_s"] / paid * 1000, 3),
    }


def table(rows: list[dict]) -> None:
    columns = list(rows[0])
    print(" | ".join(f"{c:>20}" for c in columns))
    for row in rows:
        print(" | ".join(f"{row[c]!s:>20}" for c in columns))


def scenario_sync(args: argparse.Namespace) -> dict:
    process, base_url = start_server({"latency_s": args.latency, "rpm": args.rpm, "burst_seconds": 1.0})
    try:
        rows = [measure_sync(name, base_url, args.rpm, args) for name in ("harvest", "baseline")]
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(
        f"\n[sync] wire server: R = {args.rpm:g} RPM (token bucket, 1 s burst), latency "
        f"{args.latency * 1000:g} ms; {args.requests} requests per client, concurrency {args.concurrency}; "
        "each client in a fresh process (imports counted)"
    )
    table(rows)
    ours, peer = rows
    cpu_ratio = ours["cpu_ms_per_answer"] / peer["cpu_ms_per_answer"]
    print(
        f"ratios harvest/baseline: rate {ours['fraction_of_R'] / peer['fraction_of_R']:.3f}, "
        f"429s {ours['http_429']}/{peer['http_429']}, CPU per answered request {cpu_ratio:.2f}x "
        f"(after imports {ours['cpu_ms_after_imports'] / peer['cpu_ms_after_imports']:.2f}x)"
    )
    print(f"goal (harvest >= 0.95 of R): {'met' if ours['fraction_of_R'] >= 0.95 else 'NOT met'}")
    print(f"goal (CPU per answer <= 0.5x the peer's): {'met' if cpu_ratio <= 0.5 else 'NOT met'}")
    return {"rows": rows, "cpu_ratio": cpu_ratio}


def scenario_batch(args: argparse.Namespace) -> dict:
    process, base_url = start_server({})
    try:
        server_call(base_url, "/_reset", "POST")
        used = run_child("batch", base_url, args.batch_requests, args)
        stats = server_call(base_url, "/_stats")["batch"]
        server_call(base_url, "/_reset", "POST")
        sync_count = min(args.batch_requests, args.sync_reference)
        sync = run_child("harvest", base_url, sync_count, args)
        sync_paid = server_call(base_url, "/_stats")["paid"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    if stats["paid"] != args.batch_requests or stats["submitted_twice"]:
        twice = stats["submitted_twice"][:3]
        raise SystemExit(f"batch answered {stats['paid']} of {args.batch_requests}; submitted twice: {twice}")
    per = used["cpu_s"] / args.batch_requests * 1000
    sync_per = sync["cpu_s"] / sync_paid * 1000
    print(
        f"\n[batch] harvest --batch, {args.batch_requests} requests in {stats['batches']} batch(es) through "
        "the wire server's OpenAI Batch API (no processing delay); fresh process, imports counted"
    )
    rows = [
        {
            "client": "harvest --batch",
            "requests": args.batch_requests,
            "wall_s": round(used["wall_s"], 2),
            "cpu_s": round(used["cpu_s"], 2),
            "cpu_ms_per_request": round(per, 3),
            "cpu_ms_after_imports": round(used["after_imports_cpu_s"] / args.batch_requests * 1000, 3),
        },
        {
            "client": "harvest (sync)",
            "requests": sync_paid,
            "wall_s": round(sync["wall_s"], 2),
            "cpu_s": round(sync["cpu_s"], 2),
            "cpu_ms_per_request": round(sync_per, 3),
            "cpu_ms_after_imports": round(sync["after_imports_cpu_s"] / sync_paid * 1000, 3),
        },
    ]
    table(rows)
    print(f"ratio batch/sync CPU per request: {per / sync_per:.2f}x")
    print(f"goal (batch <= 1 ms CPU per request end to end): {'met' if per <= 1.0 else 'NOT met'}")
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("sync", "batch", "all"), default="all")
    parser.add_argument("--rpm", type=float, default=1200.0, help="server rate limit R (requests/minute)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency per answer (s)")
    parser.add_argument("--requests", type=int, default=400, help="requests per client (sync)")
    parser.add_argument("--batch-requests", type=int, default=10_000, help="requests of the batch scenario")
    parser.add_argument("--sync-reference", type=int, default=2000, help="sync requests beside the batch")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--child", choices=("harvest", "baseline", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        children = {
            "harvest": child_harvest,
            "baseline": child_baseline,
            "batch": lambda a: child_harvest(a, batch=True),
        }
        answered = children[args.child](args)
        if answered != args.requests:
            raise SystemExit(f"{args.child} answered {answered} of {args.requests}")
        return
    if args.scenario in ("sync", "all"):
        scenario_sync(args)
    if args.scenario in ("batch", "all"):
        scenario_batch(args)


if __name__ == "__main__":
    main()
