"""Benchmark `distillscope detect`: throughput of the DuckDB engine and detection quality on the simulator.

Throughput: synthetic Parquet logs of 100k and 1M exchanges (5M with --big) are
generated with numpy/pyarrow, then detected with DuckDB on 2 threads. The
baseline, run in the same process, is a bare DuckDB scan of the same file
(``SELECT account, count(*) ... GROUP BY account``): the ratio says what the
detection costs on top of reading the log. Per-exchange cost at each size is
printed relative to the smallest size (1.0 = linear).

On a shared machine wall time depends on the load, so the process CPU time
(all DuckDB threads included) is reported too, with the load average.

Quality: the traffic simulator (seeds the tests do not use) with labels kept
apart; TPR at FPR <= 1% and <= 0.1% by account, recall per campaign style and
flag rate per hard-negative group, each with its counts.

    .venv/bin/python bench/detect.py                 # 100k + 1M, quality on 2 seeds
    .venv/bin/python bench/detect.py --big           # adds 5M
    .venv/bin/python bench/detect.py --sizes 100000 --no-quality
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

VOCAB_TEXT = (
    "explain write summarize translate compare list describe why how what when code python function error "
    "recipe travel history physics poem story email letter report budget plan garden music film movie book "
    "market stock health sleep running cat dog tax law contract design logo color paint math proof theorem "
    "algebra chemistry protein cell river mountain city country war peace election climate energy solar wind "
    "battery car train plane ship game chess football tennis coffee tea bread cheese wine beer salad soup"
)
VOCAB = VOCAB_TEXT.split()


def synth_parquet(path: Path, n: int, seed: int = 0) -> int:
    """A synthetic exchange log of n rows (Parquet, DESIGN.md columns), written fast with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    accounts = max(100, n // 100)
    weights = rng.lognormal(0, 1.2, size=accounts)
    acc = rng.choice(accounts, size=n, p=weights / weights.sum())
    ts = 1_772_409_600.0 + np.sort(rng.uniform(0, 7 * 86400, size=n))
    words = np.array(VOCAB)[rng.integers(0, len(VOCAB), size=(n, 9))]
    nums = rng.integers(0, 10_000, size=n)
    cot = rng.random(n) < 0.05
    prompts = [
        " ".join(w) + f" {k}" + (" step by step" if c else "")
        for w, k, c in zip(words, nums, cot, strict=True)
    ]
    messages = ['[{"role":"user","content":"' + p + '"}]' for p in prompts]
    mt = rng.choice([256, 512, 1024, 2048], size=n)
    lp = rng.random(n) < 0.02
    params = [
        f'{{"max_tokens":{m},"temperature":0.7,"logprobs":true,"top_logprobs":5}}'
        if q
        else f'{{"max_tokens":{m}}}'
        for m, q in zip(mt, lp, strict=True)
    ]
    ip_a = rng.integers(1, 223, size=accounts)
    ip_b = rng.integers(0, 255, size=accounts)
    ips = np.array([f"{a}.{b}.7.{i % 250}" for i, (a, b) in enumerate(zip(ip_a, ip_b, strict=True))])
    uas = np.array(["Mozilla/5.0 Chrome/124", "Mozilla/5.0 Safari/17", "OpenAI/Python 1.40.0", "curl/8.5"])
    table = pa.table(
        {
            "id": [f"ex{i:09d}" for i in range(n)],
            "ts": ts,
            "account": np.char.add("acct-", acc.astype(str)),
            "messages": messages,
            "ip": ips[acc],
            "user_agent": uas[acc % len(uas)],
            "model": np.where(rng.random(n) < 0.8, "teacher-v1", "teacher-v2"),
            "params": params,
            "completion_tokens": rng.integers(20, 900, size=n),
            "finish_reason": np.where(rng.random(n) < 0.1, "length", "stop"),
            "status": np.full(n, 200),
        }
    )
    pq.write_table(table, path, row_group_size=200_000)
    return n


def scan_baseline(path: Path, threads: int) -> float:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    t = time.perf_counter()
    con.execute(f"SELECT account, count(*) FROM read_parquet('{path}') GROUP BY account").fetchall()
    return time.perf_counter() - t


def throughput(sizes: list[int], threads: int, workdir: Path) -> list[dict]:
    from distillscope.detect import run_detection

    rows = []
    for n in sizes:
        path = workdir / f"synth-{n}.parquet"
        t = time.perf_counter()
        synth_parquet(path, n)
        gen = time.perf_counter() - t
        base = scan_baseline(path, threads)
        t, cpu = time.perf_counter(), time.process_time()
        result = run_detection(path, workdir / f"out-{n}", threads=threads)
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        assert result.exchanges == n
        rows.append(
            {
                "exchanges": n,
                "accounts": len(result.accounts),
                "generate_s": round(gen, 1),
                "scan_baseline_s": round(base, 2),
                "detect_s": round(took, 1),
                "exchanges_per_s": round(n / took),
                "exchanges_per_min": round(60 * n / took),
                "detect_over_scan": round(took / base, 1),
                "cpu_s": round(cpu, 1),
                "exchanges_per_cpu_min": round(60 * n / cpu),
                "load_avg_1m": round(os.getloadavg()[0], 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    first = rows[0]
    for r in rows:
        r["cost_per_exchange_vs_smallest"] = round(
            (r["detect_s"] / r["exchanges"]) / (first["detect_s"] / first["exchanges"]), 2
        )
    return rows


def quality(seeds: list[int], benign: int, days: int, workdir: Path) -> list[dict]:
    from distillscope.detect import run_detection
    from distillscope.detect.evaluation import evaluate, load_labels
    from distillscope.detect.simulate import simulate_traffic

    out = []
    for seed in seeds:
        sim = simulate_traffic(
            workdir / f"sim-{seed}", benign_users=benign, days=days, seed=seed, fmt="parquet"
        )
        result = run_detection(sim.exchanges_path, workdir / f"sim-{seed}" / "out")
        report = evaluate(result.accounts, load_labels(sim.labels_path))
        report.update(
            seed=seed, exchanges=sim.exchanges, accounts=sim.accounts, benign_users=benign, days=days
        )
        out.append(report)
        print(json.dumps(report, indent=1), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100_000, 1_000_000]
    )
    parser.add_argument("--big", action="store_true", help="also 5M exchanges")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[101, 202])
    parser.add_argument("--benign-users", type=int, default=600)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write all results to this file")
    args = parser.parse_args()
    sizes = args.sizes + ([5_000_000] if args.big else [])
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        if not args.no_speed:
            print(f"# throughput, DuckDB, {args.threads} threads", flush=True)
            results["throughput"] = throughput(sizes, args.threads, Path(tmp))
            for r in results["throughput"]:
                print(
                    f"{r['exchanges']:>9,} exchanges: {r['exchanges_per_min']:>11,}/min wall, "
                    f"{r['exchanges_per_cpu_min']:>11,}/CPU-min  "
                    f"detect/scan {r['detect_over_scan']:>5}x  cost/exchange vs smallest "
                    f"{r['cost_per_exchange_vs_smallest']}"
                )
        if not args.no_quality:
            print("# quality on the simulator", flush=True)
            results["quality"] = quality(args.seeds, args.benign_users, args.days, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
