"""Benchmark the guard: CPU per request, added latency and throughput per concurrency level.

Three ways to the same upstream (the OpenAI-wire test server in its own process,
answering after ``--upstream-latency-ms``, 50 ms by default, like a real model
API's first byte) are measured in one run, in interleaved rounds so that machine
noise hits all alike:

- ``direct``: the load generator calls the upstream itself (the baseline);
- ``server``: through the server app with its upstream backend, open gateway (the bare relay);
- ``guard``: the same app built by ``serving.build_app`` with ``db``/``policy`` -- what
  ``serve --db --policy`` runs: API keys, online risk, policy, exchange log to SQLite.

For each concurrency level (``--levels 1,16,64``) it prints p50/p99 latency, the p50
each server adds over ``direct``, requests per second, and the CPU time each server
process spent per request (``/proc/<pid>/stat`` user + system, over the level's
requests): the guard's own cost is its CPU minus the bare relay's. Each server runs
in its own process under ``uvicorn.run(app, host, port)``, which binds its socket
itself. (A socket pre-bound with ``socket.socket(AF_INET, SOCK_STREAM)`` has
``proto == 0``, so asyncio does not set ``TCP_NODELAY`` on the connections it
accepts; Nagle plus delayed ACKs then stall every keep-alive response by ~40 ms.)

It checks that every request sent through the guard is in its log after a clean
shutdown (SIGTERM): requests sent = exchanges logged. Risk is computed for every
request but the policy's actions are off (thresholds at 1.0), so no request is
delayed on purpose. The load generator shares the machine with the servers: on 2
cores its own CPU competes with theirs, so read the ratios, not the absolute rates.

    .venv/bin/python bench/guard.py                          # levels 1,16,64; 2 rounds x 200 requests
    .venv/bin/python bench/guard.py --levels 64 --requests 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distillscope.guard.keys import KeyStore  # noqa: E402
from distillscope.guard.logstore import open_log_store  # noqa: E402
from distillscope.guard.secret import load_server_secret  # noqa: E402

MODEL = "wire-model"
POLICY = "[risk]\nthrottle = 1.0\nstrip_logprobs = 1.0\nblock = 1.0\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _role(argv: list[str]) -> None:
    """Run one server of the benchmark in this process (``--role wire|server``)."""
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["wire", "server"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--upstream")
    parser.add_argument("--db")
    parser.add_argument("--policy")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--stack", default="auto", help="auto (uvloop when installed) or asyncio-h11")
    args = parser.parse_args(argv)
    if args.role == "wire":
        from distillscope.testing.wire_server import Faults, create_wire_app

        app = create_wire_app(Faults(latency_s=args.latency), model=MODEL)
    else:
        from distillscope.serving import ServeSettings, build_app

        # What `serve --upstream URL --model MODEL [--db DB --policy FILE]` assembles.
        settings = ServeSettings(upstream=args.upstream, model=MODEL, db=args.db, policy=args.policy)
        app = build_app(settings).app
    loop, http = ("asyncio", "h11") if args.stack == "asyncio-h11" else ("auto", "h11")  # as `serve` runs
    if args.role == "wire":  # the upstream stays the same whatever stack the servers under test run
        loop, http = "asyncio", "h11"
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, loop=loop, http=http
    )


def _start(role_args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--role", *role_args, "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(base + "/models", timeout=1).status_code in (200, 401):
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("a server did not start within 120 s")


async def _load(base: str, key: str | None, requests: int, concurrency: int, offset: int) -> list[float]:
    """Send ``requests`` chat completions, ``concurrency`` at a time; per-request latencies (s)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    failures: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(offset + i)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "model": MODEL,
                    "messages": [
                        {"role": "user", "content": f"Question {i}: what is {i % 97} plus {i % 13}?"}
                    ],
                    "max_tokens": 16,
                }
                started = time.perf_counter()
                answer = await client.post("/chat/completions", json=body)
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise SystemExit(f"{len(failures)} request(s) failed, e.g. {failures[0]}")
    return latencies


def _in_process(requests: int, work: Path) -> dict[str, float]:
    """CPU cost of admit + record per request, guard vs the open gateway, in this process (µs)."""
    from starlette.requests import Request

    from distillscope.guard.gateway import GuardGateway
    from distillscope.guard.policy import PolicySettings
    from distillscope.records import Exchange
    from distillscope.server.gateway import OpenGateway

    db = str(work / "inproc.db")
    keys = KeyStore(db, load_server_secret())
    key, _ = keys.create_key("bench")
    policy = PolicySettings.from_dict({"risk": {"throttle": 1.0, "strip_logprobs": 1.0, "block": 1.0}})
    guard = GuardGateway(keys, open_log_store(db, create=True), policy)
    headers = [
        (b"authorization", f"Bearer {key}".encode()),
        (b"user-agent", b"bench"),
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
    ]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    scope["client"] = ("127.0.0.1", 5000)

    async def run(gateway: object) -> float:
        await gateway.startup()  # type: ignore[attr-defined]
        warm = min(200, requests)  # first calls import and build caches: not timed
        started = time.perf_counter()
        for i in range(-warm, requests):
            if i == 0:
                started = time.perf_counter()
            text = f"Question {i}: what is {i % 97} plus {i % 13}?"
            body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 16}
            admission = await gateway.admit(Request(scope), "/v1/chat/completions", body)  # type: ignore[attr-defined]
            exchange = Exchange(
                id=f"b{i}-{id(gateway)}",
                ts=time.time(),
                account=admission.account,
                key_id=admission.key_id,
                messages=body["messages"],
                endpoint="/v1/chat/completions",
                response_text="an answer",
                status=200,
                prompt_tokens=12,
                completion_tokens=16,
                latency_ms=1.0,
                extra=dict(admission.meta),
            )
            await gateway.record(exchange)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - started
        await gateway.shutdown()  # type: ignore[attr-defined]
        return elapsed / requests * 1e6

    open_us = asyncio.run(run(OpenGateway()))
    guard_us = asyncio.run(run(guard))
    store = open_log_store(db)
    logged = store.count()
    store.close()
    return {"open_us": open_us, "guard_us": guard_us, "logged": logged, "sent": requests + min(200, requests)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per path per level per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", default="1,16,64", help="concurrency levels, comma-separated")
    parser.add_argument("--upstream-latency-ms", type=float, default=50.0)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--in-process", type=int, default=3000, help="admit+record calls timed in-process")
    parser.add_argument(
        "--stack",
        default="auto",
        choices=["auto", "asyncio-h11"],
        help="the servers' event loop: auto (uvloop when installed, as `serve` runs) or asyncio-h11 "
        "(the standard loop, to compare); the HTTP parser is h11 in both",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    work = Path(tempfile.mkdtemp(prefix="ds-bench-guard-"))
    env = {**os.environ, "DISTILLSCOPE_HOME": str(work)}
    os.environ["DISTILLSCOPE_HOME"] = str(work)
    db = str(work / "guard.db")
    policy = work / "policy.toml"
    policy.write_text(POLICY)
    keys = KeyStore(db, load_server_secret())
    key, _ = keys.create_key("bench")
    keys.close()

    inproc = _in_process(args.in_process, work)
    wire, upstream = _start(["wire", "--latency", str(args.upstream_latency_ms / 1000)], env)
    stack = ["--stack", args.stack]
    plain, plain_base = _start(["server", "--upstream", upstream, *stack], env)
    guard, guard_base = _start(
        ["server", "--upstream", upstream, "--db", db, "--policy", str(policy), *stack], env
    )
    paths = {
        "direct": (upstream, None, wire),
        "server": (plain_base, None, plain),
        "guard": (guard_base, key, guard),
    }
    latencies = {(name, c): [] for name in paths for c in levels}
    seconds = {(name, c): 0.0 for name in paths for c in levels}
    cpu = {(name, c): 0.0 for name in paths for c in levels}
    sent_to_guard = 0
    try:
        for name, (base, token, _) in paths.items():  # warm-up: connections, imports, caches
            asyncio.run(_load(base, token, args.warmup, max(levels), offset=10_000_000))
            sent_to_guard += args.warmup if name == "guard" else 0
        for round_index in range(args.rounds):
            for c in levels:
                order = list(paths) if round_index % 2 == 0 else list(reversed(paths))
                for name in order:
                    base, token, proc = paths[name]
                    offset = (round_index * len(levels) + levels.index(c)) * args.requests
                    cpu_before, started = _cpu_seconds(proc.pid), time.perf_counter()
                    latencies[name, c] += asyncio.run(_load(base, token, args.requests, c, offset))
                    seconds[name, c] += time.perf_counter() - started
                    cpu[name, c] += _cpu_seconds(proc.pid) - cpu_before
                    sent_to_guard += args.requests if name == "guard" else 0
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for proc in (guard, plain):
            proc.send_signal(signal.SIGTERM)  # clean shutdown: the guard drains its log queue
        guard_exit = guard.wait(timeout=120)
        plain.wait(timeout=60)
        wire.send_signal(signal.SIGTERM)
        wire.wait(timeout=30)

    store = open_log_store(db)
    logged = store.count()
    store.close()
    print(
        f"\nguard benchmark: servers on {args.stack}, upstream latency {args.upstream_latency_ms:g} ms, "
        f"{args.rounds} rounds x {args.requests} requests per path and level"
    )
    print(
        f"{'conc':>4} {'path':<7} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'req/s':>7} {'CPU ms/req':>10}"
    )
    for c in levels:
        direct_p50 = _pct(latencies["direct", c], 0.5) * 1000
        for name in paths:
            values = latencies[name, c]
            p50, p99 = _pct(values, 0.5) * 1000, _pct(values, 0.99) * 1000
            rate = len(values) / seconds[name, c]
            cpu_ms = cpu[name, c] / len(values) * 1000
            added = "" if name == "direct" else f"{p50 - direct_p50:+8.2f}"
            print(f"{c:>4} {name:<7} {p50:>8.2f} {p99:>8.2f} {added:>8} {rate:>7.0f} {cpu_ms:>10.2f}")
        guard_cpu = cpu["guard", c] / len(latencies["guard", c]) * 1000
        relay_cpu = cpu["server", c] / len(latencies["server", c]) * 1000
        print(
            f"     guard over relay: +{guard_cpu - relay_cpu:.2f} ms CPU/request "
            f"(x{guard_cpu / relay_cpu:.2f}), p50 "
            f"{(_pct(latencies['guard', c], 0.5) - _pct(latencies['server', c], 0.5)) * 1000:+.2f} ms"
        )
    guard_us, open_us = inproc["guard_us"], inproc["open_us"]
    print(
        f"in-process admit+record: guard {guard_us:.0f} µs vs open gateway {open_us:.0f} µs per request "
        f"(+{guard_us - open_us:.0f} µs; {inproc['logged']}/{inproc['sent']} logged)"
    )
    lost = sent_to_guard - logged + (inproc["sent"] - inproc["logged"])
    print(f"requests sent through the guard: {sent_to_guard}; exchanges logged: {logged}; lost: {lost}")
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown: -15 is a clean exit.
    print(f"guard server exit status after SIGTERM: {guard_exit} (0 or -15: clean, queue drained)")
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    if "--role" in sys.argv:
        _role(sys.argv[1:])
    else:
        main()
