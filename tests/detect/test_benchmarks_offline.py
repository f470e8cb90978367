"""Registered public benchmarks in the offline detector: a harness's registered questions stop counting,
a harvester's own questions do not, and bad input is a clear error that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.detect import run_detection
from distillscope.detect.benchmarks import load_public_questions, public_exchanges
from distillscope.guard import BenchmarkError, BenchmarkStore, body_of, request_question
from distillscope.guard.benchmarks import read_benchmark
from distillscope.guard.risk import request_features
from distillscope.records import Exchange

from .helpers import T0, ex, write_log
from .test_playbooks import _people

runner = CliRunner()
SUBJECTS = ["train", "tank", "garden", "ladder", "clock", "river", "bakery", "choir", "orchard", "ferry"]


def _question(k: int) -> str:
    a, b = 3 + k % 17, 5 + k % 23
    return f"Q{k}: A {SUBJECTS[k % 10]} has {a} rows of {b} seats and {k} are taken. How many are free?"


def _cot_asker(account: str, questions: list[str], start: float, ip: str) -> list[dict[str, Any]]:
    """Back-to-back requests, each a question with a reasoning request and a long answer budget."""
    return [
        ex(
            i,
            account,
            start + i * 2.0,
            f"{q} Let's think step by step.",
            ip=ip,
            params={"max_tokens": 512, "temperature": 0.0},
            completion_tokens=300 + (i * 37) % 150,
        )
        for i, q in enumerate(questions)
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """People, an evaluation harness running a public CoT benchmark, and a CoT harvester of its own
    questions that also runs a slice of the benchmark (to hide among the harness's traffic)."""
    tmp = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(5)
    bench = [_question(k) for k in range(600)]
    own = [_question(k) + " (new)" for k in range(1000, 1500)]
    rows = _people(rng, 120, 40, 200)
    rows += _cot_asker("harness", bench, T0 + 86400, "203.0.113.9")
    rows += _cot_asker("harvester", own + bench[:100], T0 + 2 * 86400, "198.51.100.77")
    log = write_log(tmp / "log.jsonl", rows)
    path = tmp / "benchmarks" / "mathq.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"question": q, "answer": "x"}) + "\n" for q in bench), "utf-8")
    before = run_detection(log, tmp / "before")
    after = run_detection(log, tmp / "after", public_questions=load_public_questions([path]))
    return {"tmp": tmp, "log": log, "bench": path, "before": before, "after": after, "rows": rows}


def _by(result: Any) -> dict[str, dict[str, Any]]:
    return {a["account"]: a for a in result.accounts}


def test_the_harness_stops_counting_and_the_harvester_does_not(world: dict[str, Any]) -> None:
    before, after = _by(world["before"]), _by(world["after"])
    assert before["harness"]["flagged"], "without the registry the harness looks like a CoT harvest"
    assert not after["harness"]["flagged"] and after["harness"]["score"] == 0.0
    assert after["harness"]["reasons"] == [
        "600 of 600 requests asked registered public benchmark questions (every request): "
        "not counted as harvest evidence"
    ]
    # the harvester's 100 benchmark questions are left out; its own 500 still count against it
    assert before["harvester"]["flagged"] and after["harvester"]["flagged"]
    assert after["harvester"]["reasons"][-1].startswith("100 of 600 requests asked registered public")
    # the exchanges stay in the log and in the count; every account is still listed
    assert world["after"].exchanges == world["before"].exchanges == len(world["rows"])
    assert set(after) == set(before)
    assert world["after"].public == {
        "benchmarks": [{"name": "mathq", "questions": 600, "source": str(world["bench"])}],
        "questions": 600,
        "exchanges_left_out": 700,
        "accounts": 2,
        "notes": [],
    }
    assert world["before"].public is None
    summary = (world["tmp"] / "after" / "summary.md").read_text(encoding="utf-8")
    assert "- registered public benchmarks: mathq (600); 600 distinct questions" in summary
    assert "not counted as harvest evidence: 700 (of 2 accounts)" in summary
    # the features were computed without them: the harness's history is gone from the feature table
    tables = world["after"].tables
    assert "harness" not in set(tables["accounts"]["account"])
    n = dict(zip(tables["accounts"]["account"], tables["accounts"]["n"], strict=True))
    assert n["harvester"] == 500


def test_the_offline_key_is_the_online_key(world: dict[str, Any]) -> None:
    """Every body the ledger can see keys the same through request_question as through request_features."""
    bodies = [
        {"messages": [{"role": "user", "content": "What is 2+2? Let's think step by step."}]},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a bird"},
            ]
        },
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Caf\u00e9 au lait?"}]}]},
        {"prompt": "Translate: bonjour", "logprobs": 5},
        {"prompt": [101, 102, 103]},
        {"messages": [{"role": "user", "content": "Solve it. " * 199 + "Let's think step by step."}]},
        {"messages": "not a list"},
        {"messages": [{"role": "user", "content": "bad \ud800 surrogate"}]},
        {},
    ]
    for body in bodies:
        assert request_question(body) == request_features(body).question, body
    row = world["rows"][-1]  # a harvester's benchmark question, as logged
    assert request_question(body_of(Exchange.from_dict(row))) in read_benchmark(world["bench"]).keys
    match = public_exchanges(world["log"], load_public_questions([world["bench"]]).keys)
    assert match.per_account == {"harness": 600, "harvester": 100}
    assert match.requests["harvester"] == 600


def test_the_guard_database_registry_is_read(world: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "guard.db"
    store = BenchmarkStore(str(db))
    try:
        store.add(read_benchmark(world["bench"]))
    finally:
        store.close()
    public = load_public_questions(guard_db=str(db))
    assert public.keys == frozenset(read_benchmark(world["bench"]).keys)
    assert public.benchmarks == ({"name": "mathq", "questions": 600, "source": "guard database (mathq)"},)
    result = runner.invoke(
        app, ["detect", str(world["log"]), "--out", str(tmp_path / "det"), "--guard-db", str(db)]
    )
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["public_benchmark_exchanges"] == 700
    rows = [json.loads(x) for x in (tmp_path / "det" / "accounts.jsonl").read_text().splitlines()]
    assert {r["account"]: r["flagged"] for r in rows if r["account"] in ("harness", "harvester")} == {
        "harness": False,
        "harvester": True,
    }
    # the log in the same database (a deployment's guard.db): read from the store, keyed the same way
    from distillscope.guard.logstore import open_log_store

    logs = open_log_store(str(db))
    try:
        logs.write_batch([Exchange.from_dict(r) for r in world["rows"]])
    finally:
        logs.close()
    result = runner.invoke(
        app, ["detect", "--db", str(db), "--out", str(tmp_path / "db"), "--guard-db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["public_benchmark_exchanges"] == 700
    stored = [json.loads(x) for x in (tmp_path / "db" / "accounts.jsonl").read_text().splitlines()]
    assert [(r["account"], r["flagged"]) for r in stored] == [(r["account"], r["flagged"]) for r in rows]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ('{"question": "a"}\n{not json\n', "mathq.jsonl:2: malformed JSON"),
        ('{"answer": "4"}\n', "mathq.jsonl:1: no question"),
        ("", "no questions"),
    ],
)
def test_a_bad_benchmark_file_is_a_clear_error_and_writes_nothing(
    world: dict[str, Any], tmp_path: Path, content: str | None, message: str
) -> None:
    bench = tmp_path / "mathq.jsonl"
    if content is not None:
        bench.write_text(content, encoding="utf-8")
    out = tmp_path / "det"
    result = runner.invoke(app, ["detect", str(world["log"]), "--out", str(out), "--benchmarks", str(bench)])
    assert result.exit_code == 2
    assert "error:" in result.output and message in result.output
    assert not out.exists()


def test_a_missing_or_empty_guard_registry_is_a_clear_error_and_creates_nothing(
    world: dict[str, Any], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.db"
    result = runner.invoke(
        app, ["detect", str(world["log"]), "--out", str(tmp_path / "a"), "--guard-db", str(missing)]
    )
    assert result.exit_code == 2 and "no such guard database" in result.output
    assert not missing.exists() and not (tmp_path / "a").exists()
    empty = tmp_path / "empty.db"
    BenchmarkStore(str(empty)).close()
    result = runner.invoke(
        app, ["detect", str(world["log"]), "--out", str(tmp_path / "b"), "--guard-db", str(empty)]
    )
    assert result.exit_code == 2 and "registers no benchmarks" in result.output
    assert not (tmp_path / "b").exists()
    with pytest.raises(BenchmarkError, match="registers no benchmarks"):
        load_public_questions(guard_db=str(empty))


@pytest.mark.spark
def test_spark_leaves_out_the_same_exchanges(
    world: dict[str, Any], tmp_path: Path, spark_session: Any
) -> None:
    from .test_spark import _same

    public = load_public_questions([world["bench"]])
    spark = run_detection(
        world["log"], tmp_path / "s", engine="spark", spark=spark_session, public_questions=public
    )
    duck = world["after"]
    assert spark.exchanges == duck.exchanges and spark.public == duck.public
    for name in ("accounts", "samples", "hours", "infra"):
        _same(duck.tables[name], spark.tables[name], name)
    assert [(a["account"], a["flagged"]) for a in spark.accounts] == [
        (a["account"], a["flagged"]) for a in duck.accounts
    ]
