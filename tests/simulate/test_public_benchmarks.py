"""The simulators export the public benchmark their evaluation harnesses run, and nothing else.

What a provider can know before any log: the benchmark's question list, fixed by the
scenario's seed. Every harness question is in it (as the guard keys questions);
no question of any other account is; the file does not depend on the population.
"""

from __future__ import annotations

import json
from pathlib import Path

from distillscope.guard.benchmarks import read_benchmark
from distillscope.guard.risk import body_of, request_features
from distillscope.records import read_exchanges
from distillscope.simulate import simulate_randomized, simulate_traffic
from distillscope.simulate.randomized import BENCHMARK_SIZE, public_benchmarks


def _split_by_style(log_dir: Path, styles: set[str]) -> tuple[set[int], set[int]]:
    """Question keys of the accounts of ``styles``, and of everyone else."""
    labels = {
        row["account"]: row["style"]
        for row in map(json.loads, (log_dir / "labels.jsonl").read_text().splitlines())
    }
    inside, outside = set(), set()
    for exchange in read_exchanges(log_dir / "exchanges.jsonl"):
        key = request_features(body_of(exchange)).question
        (inside if labels[exchange.account] in styles else outside).add(key)
    return inside, outside


def test_randomized_exports_its_whole_benchmark_from_the_seed_alone(tmp_path: Path) -> None:
    small = simulate_randomized(tmp_path / "a", seed=5, benign=60, days=5, campaign_scale=0.3)
    path = tmp_path / "a" / "benchmarks" / "bench-5.jsonl"
    bench = read_benchmark(path)
    assert bench.name == "bench-5" and bench.lines == BENCHMARK_SIZE
    assert [json.loads(line)["question"] for line in path.read_text().splitlines()] == public_benchmarks(5)[
        "bench-5"
    ]
    harness, others = _split_by_style(small.exchanges_path.parent, {"eval_harness"})
    assert harness and harness <= set(bench.keys)  # every harness question is registered ...
    assert not others & set(bench.keys)  # ... and nobody else's
    # another population, the same seed: the same benchmark (it is public, not drawn from the log)
    simulate_randomized(
        tmp_path / "b", seed=5, benign=20, days=5, campaign_scale=0.1, campaigns=("cot_solo",)
    )
    assert (tmp_path / "b" / "benchmarks" / "bench-5.jsonl").read_bytes() == path.read_bytes()
    # no harnesses, no benchmark
    simulate_randomized(tmp_path / "c", seed=5, benign=20, days=5, hard_negatives=("agent",))
    assert not (tmp_path / "c" / "benchmarks").exists()


def test_classic_exports_the_evaluation_teams_benchmark(tmp_path: Path) -> None:
    result = simulate_traffic(tmp_path / "cls", benign_users=30, days=3, seed=3, scale=0.3)
    bench = read_benchmark(tmp_path / "cls" / "benchmarks" / "gym-mc.jsonl")
    team, others = _split_by_style(result.exchanges_path.parent, {"eval_team"})
    assert team == set(bench.keys)  # the team runs all of it
    assert not others & set(bench.keys)
