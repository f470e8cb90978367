"""Benchmark `distillscope detect`: throughput of the DuckDB engine and detection quality on the simulator.

Throughput: synthetic Parquet logs of 100k and 1M exchanges (5M with --big) are
generated with numpy/pyarrow, then detected with DuckDB on 2 threads. The
baseline, run in the same process, is a DuckDB scan of the same file that reads
every column detection reads and aggregates it per account (``SCAN_QUERY``, median
of three): the ratio says what the detection costs on top of reading the log, and
its CPU form (detection CPU / scan CPU) is what to compare across days. Per-exchange
cost at each size is printed relative to the smallest size (1.0 = linear).

On a shared machine wall time depends on the load, so the process CPU time
(all DuckDB threads included) is reported too, with the load average.

Quality: both simulators (the classic one the detector was first written with,
and the independent randomised one), on evaluation seeds nobody tuned on, with
labels kept apart: TPR/FPR at the default threshold (with denominators), AUROC,
TPR at FPR <= 1% and <= 0.1%, ARI of the predicted campaigns over the campaign
accounts and how many predicted campaigns hold a benign account, recall per
campaign style and flag rate per hard-negative group; again on ~300-account
logs. Leave-one-style-out: every tunable number (threshold, candidate level,
duplicate-share gate) is chosen on the other styles (best mean recall with FPR
<= 0.5%) on separate tuning seeds, and recall is reported on the held-out style.

    .venv/bin/python bench/detect.py                          # everything
    .venv/bin/python bench/detect.py --no-speed --no-loso     # quality only
    .venv/bin/python bench/detect.py --sizes 100000 --no-quality --no-loso
    .venv/bin/python bench/detect.py --no-quality --no-loso --sizes 100000 --logs sim/exchanges.jsonl
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


#: The baseline reads every column detection reads and aggregates it per account (a bare ``count(*)`` took
#: 0.01 s at 100k rows: too short to be a stable reference for ratios across days).
SCAN_QUERY = (
    "SELECT account, count(*), count(DISTINCT hash(messages)), sum(length(messages)), sum(length(params)), "
    "count(DISTINCT ip), count(DISTINCT user_agent), count(DISTINCT model), sum(completion_tokens), "
    "count(DISTINCT finish_reason), min(ts), max(ts) FROM read_parquet('{path}') GROUP BY account"
)


#: The same baseline for a JSONL log: DuckDB parses the lines and aggregates the same columns.
SCAN_JSONL_QUERY = (
    "SELECT account, count(*), count(DISTINCT hash(messages)), sum(length(CAST(messages AS VARCHAR))), "
    "sum(length(CAST(params AS VARCHAR))), count(DISTINCT ip), count(DISTINCT user_agent), "
    "count(DISTINCT model), sum(completion_tokens), count(DISTINCT finish_reason), min(ts), max(ts) "
    "FROM read_json('{path}', format = 'newline_delimited') GROUP BY account"
)


def scan_baseline(path: Path, threads: int, repeats: int = 3) -> tuple[float, float]:
    """Wall and process CPU seconds (medians of ``repeats``) of the baseline scan of ``path``."""
    import duckdb

    query = SCAN_QUERY if path.suffix == ".parquet" else SCAN_JSONL_QUERY
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    walls, cpus = [], []
    for _ in range(repeats):
        t, cpu = time.perf_counter(), time.process_time()
        con.execute(query.format(path=path)).fetchall()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def timed_detection(path: Path, threads: int, out: Path) -> dict:
    """Detect ``path`` once, timed in wall and process CPU, beside the baseline scan of the same file."""
    from distillscope.detect import run_detection

    base, base_cpu = scan_baseline(path, threads)
    t, cpu = time.perf_counter(), time.process_time()
    result = run_detection(path, out, threads=threads)
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    n = result.exchanges
    return {
        "exchanges": n,
        "accounts": len(result.accounts),
        "scan_baseline_s": round(base, 2),
        "detect_s": round(took, 1),
        "exchanges_per_s": round(n / took),
        "exchanges_per_min": round(60 * n / took),
        "detect_over_scan": round(took / base, 1),
        "scan_cpu_s": round(base_cpu, 3),
        # both sides in CPU time, in one process: comparable across days and loads
        "detect_cpu_over_scan_cpu": round(cpu / base_cpu, 1),
        "cpu_s": round(cpu, 1),
        "exchanges_per_cpu_min": round(60 * n / cpu),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def throughput(sizes: list[int], threads: int, workdir: Path) -> list[dict]:
    rows = []
    for n in sizes:
        path = workdir / f"synth-{n}.parquet"
        t = time.perf_counter()
        synth_parquet(path, n)
        gen = time.perf_counter() - t
        row = timed_detection(path, threads, workdir / f"out-{n}")
        assert row["exchanges"] == n
        rows.append({"generate_s": round(gen, 1), **row})
        print(json.dumps(rows[-1]), flush=True)
    first = rows[0]
    for r in rows:
        r["cost_per_exchange_vs_smallest"] = round(
            (r["detect_s"] / r["exchanges"]) / (first["detect_s"] / first["exchanges"]), 2
        )
    return rows


def log_throughput(logs: list[Path], threads: int, workdir: Path) -> list[dict]:
    """Throughput on logs a user brings (e.g. a benchmark-shaped simulated log with real text)."""
    rows = []
    for i, path in enumerate(logs):
        rows.append({"log": str(path), **timed_detection(path, threads, workdir / f"log-out-{i}")})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def print_throughput(rows: list[dict]) -> None:
    for r in rows:
        print(
            (f"{r['log']} " if "log" in r else "") + f"{r['exchanges']:>9,} exchanges: "
            f"{r['exchanges_per_min']:>11,}/min wall, {r['exchanges_per_cpu_min']:>11,}/CPU-min  "
            f"detect/scan {r['detect_over_scan']:>5}x wall, {r['detect_cpu_over_scan_cpu']:>5}x CPU"
            + (
                f"  cost/exchange vs smallest {r['cost_per_exchange_vs_smallest']}"
                if "cost_per_exchange_vs_smallest" in r
                else ""
            )
        )


DESIGNS = ("randomized", "classic")
#: The grid leave-one-style-out tunes over (every tunable number of the detector, and the threshold).
GRID = {
    "threshold": (0.4, 0.5, 0.6),
    "reach_gate": (0.003, 0.01, 0.03),
    "max_duplicate_share": (0.1, 0.2, 0.3),
}


def simulate(design: str, seed: int, benign: int, days: int | None, workdir: Path) -> tuple[Path, Path, int]:
    out = workdir / f"{design}-{seed}-{benign}"
    if design == "classic":
        from distillscope.simulate.classic import simulate_traffic

        sim = simulate_traffic(out, benign_users=benign, days=days or 7, seed=seed, fmt="parquet")
    else:
        from distillscope.simulate import simulate_randomized

        sim = simulate_randomized(out, seed=seed, benign=benign, days=days, fmt="parquet")
    return sim.exchanges_path, sim.labels_path, sim.exchanges


def quality(
    designs: list[str], seeds: list[int], benign: int, days: int | None, workdir: Path, embeddings: bool
) -> list[dict]:
    """Detection at the default settings on fresh scenarios, one report per (design, seed)."""
    from distillscope.detect import run_detection
    from distillscope.detect.evaluation import evaluate, load_labels

    out = []
    for design in designs:
        for seed in seeds:
            log, labels_path, exchanges = simulate(design, seed, benign, days, workdir)
            t = time.perf_counter()
            result = run_detection(log, log.parent / "out", embeddings=embeddings)
            took = time.perf_counter() - t
            labels = load_labels(labels_path)
            report = evaluate(result.accounts, labels)
            report.update(
                design=design,
                seed=seed,
                exchanges=exchanges,
                accounts=len(labels),
                benign_users=benign,
                detect_s=round(took, 1),
                embeddings=embeddings,
            )
            out.append(report)
            print_quality(report)
    return out


def print_quality(r: dict) -> None:
    d, g = r["at_default_threshold"], r["grouping"]
    print(
        f"## {r['design']} seed {r['seed']}: {r['exchanges']:,} exchanges, {r['accounts']} accounts "
        f"(detect {r['detect_s']} s, embeddings {'on' if r['embeddings'] else 'off'})"
    )
    print(
        f"  default threshold: TPR {d['tp']}/{d['positives']} = {d['tpr']:.3f}; "
        f"FPR {d['fp']}/{d['negatives']} = {d['fpr']:.4f}"
    )
    auroc = r["auroc"]
    print(f"  AUROC {auroc:.4f}" if auroc is not None else "  AUROC n/a", end="")
    for key in ("tpr_at_fpr_1pct", "tpr_at_fpr_0.1pct"):
        t = r[key]
        # with fewer than 1,000 benign accounts FPR <= 0.1% allows none above the threshold: say so
        print(
            f"; TPR at FPR<={t['max_fpr']:.1%}: {t['tp']}/{t['positives']} (FPR {t['fp']}/{t['negatives']})",
            end="",
        )
    print()
    ari = g["ari"]
    print(f"  ARI over campaign accounts {ari:.3f}" if ari is not None else "  ARI n/a", end="")
    print(
        f"; predicted campaigns {g['predicted_campaigns']}, with a benign member "
        f"{g['predicted_campaigns_with_benign_member']}"
    )
    print(
        "  recall: "
        + ", ".join(f"{k} {v['flagged']}/{v['accounts']}" for k, v in r["recall_by_style"].items())
    )
    print(
        "  flagged: "
        + ", ".join(f"{k} {v['flagged']}/{v['accounts']}" for k, v in r["flag_rate_by_benign_style"].items())
    )
    print(flush=True)


def leave_one_style_out(
    designs: list[str], seeds: list[int], benign: int, days: int | None, workdir: Path
) -> dict:
    """Tune every tunable on the other styles (max mean recall s.t. FPR <= 0.5%), report the held-out style.

    The feature tables of each scenario are extracted once; each grid point rescores them.
    """
    import itertools

    from distillscope.detect.evaluation import load_labels
    from distillscope.detect.run import extract
    from distillscope.detect.scoring import Tuning, score

    grid = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
    # per grid point: flagged counts per style and benign totals, summed over scenarios
    per_point: list[dict] = [{"styles": {}, "fp": 0, "negatives": 0} for _ in grid]
    for design in designs:
        for seed in seeds:
            log, labels_path, _ = simulate(design, seed, benign, days, workdir)
            labels = load_labels(labels_path)
            tables = extract(log)
            for point, acc in zip(grid, per_point, strict=True):
                tuning = Tuning(
                    reach_gate=point["reach_gate"], max_duplicate_share=point["max_duplicate_share"]
                )
                scored = score(tables, threshold=point["threshold"], tuning=tuning)
                for r in scored.accounts:
                    lab = labels[r["account"]]
                    if lab["label"] == "campaign":
                        key = f"{design}:{lab['style']}"
                        hit, tot = acc["styles"].get(key, (0, 0))
                        acc["styles"][key] = (hit + int(r["flagged"]), tot + 1)
                    else:
                        acc["fp"] += int(r["flagged"])
                        acc["negatives"] += 1
    styles = sorted({k for acc in per_point for k in acc["styles"]})
    table = {}
    for held in styles:
        best, best_recall = None, -1.0
        for point, acc in zip(grid, per_point, strict=True):
            if acc["fp"] > 0.005 * acc["negatives"]:
                continue
            others = [h / t for k, (h, t) in acc["styles"].items() if k != held and t]
            recall = sum(others) / len(others) if others else 0.0
            if recall > best_recall:
                best, best_recall = (point, acc), recall
        if best is None:
            table[held] = {"note": "no grid point keeps FPR <= 0.5%"}
            continue
        point, acc = best
        hit, tot = acc["styles"][held]
        table[held] = {
            "chosen": point,
            "held_out_recall": hit / tot,
            "flagged": hit,
            "accounts": tot,
            "other_styles_mean_recall": round(best_recall, 3),
            "fpr": f"{acc['fp']}/{acc['negatives']}",
        }
        print(
            f"  held out {held:32s} recall {hit}/{tot} = {hit / tot:.2f} with {point} "
            f"(other styles {best_recall:.2f}, FPR {acc['fp']}/{acc['negatives']})",
            flush=True,
        )
    return table


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
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    parser.add_argument(
        "--seeds", type=ints, default=[101, 202, 303], help="evaluation seeds (never tuned on)"
    )
    parser.add_argument("--designs", type=lambda s: s.split(","), default=list(DESIGNS))
    parser.add_argument("--benign-users", type=int, default=600)
    parser.add_argument("--small-benign", type=int, default=220, help="the ~300-account small log")
    parser.add_argument("--days", type=int, default=None, help="classic: 7; randomized: drawn per scenario")
    parser.add_argument("--embeddings", action="store_true", help="also run with MiniLM embeddings")
    parser.add_argument("--no-loso", action="store_true", help="skip leave-one-style-out")
    parser.add_argument("--loso-seeds", type=ints, default=[404, 505])
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument(
        "--logs",
        type=lambda s: [Path(x) for x in s.split(",")],
        default=[],
        help="also time detection on these JSONL/Parquet logs (comma-separated), e.g. a benchmark-shaped log "
        "from `simulate-traffic --design randomized --benign-users 1100 --days 14 --scale 2.85`",
    )
    args = parser.parse_args()
    sizes = args.sizes + ([5_000_000] if args.big else [])
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        if not args.no_speed:
            print(f"# throughput, DuckDB, {args.threads} threads", flush=True)
            results["throughput"] = throughput(sizes, args.threads, Path(tmp))
            print_throughput(results["throughput"])
        if args.logs:
            print(f"# throughput on the given logs, DuckDB, {args.threads} threads", flush=True)
            results["throughput_logs"] = log_throughput(args.logs, args.threads, Path(tmp))
            print_throughput(results["throughput_logs"])
        if not args.no_quality:
            print("# quality at the default settings (fresh seeds; labels kept apart)", flush=True)
            results["quality"] = quality(
                args.designs, args.seeds, args.benign_users, args.days, Path(tmp), False
            )
            print("# the same, small logs (~300 accounts)", flush=True)
            results["quality_small"] = quality(
                args.designs, args.seeds, args.small_benign, args.days, Path(tmp), False
            )
            if args.embeddings:
                print("# with MiniLM embeddings", flush=True)
                results["quality_embeddings"] = quality(
                    ["randomized"], args.seeds[:1], args.benign_users, args.days, Path(tmp), True
                )
        if not args.no_loso:
            print("# leave-one-style-out (tuned on the other styles, FPR <= 0.5%)", flush=True)
            results["loso"] = leave_one_style_out(
                args.designs, args.loso_seeds, args.small_benign, args.days, Path(tmp)
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
