"""The Spark engine gives the same feature tables and the same detections as DuckDB on the same log."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from distillscope.detect import run_detection
from distillscope.detect.engines import duckdb_engine, spark_engine
from distillscope.simulate.classic import simulate_traffic

from .helpers import T0, agent_rows, ex, write_log

pytestmark = pytest.mark.spark


def _same(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    assert list(a.columns) == list(b.columns), name
    assert len(a) == len(b), name
    for col in a.columns:
        left, right = a[col], b[col]
        if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
            pd.testing.assert_series_equal(
                left.astype(float), right.astype(float), check_names=False, rtol=1e-9, obj=f"{name}.{col}"
            )
        else:
            assert left.astype(str).tolist() == right.astype(str).tolist(), f"{name}.{col}"


def test_duckdb_and_spark_agree(tmp_path: Path, spark_session) -> None:
    sim = simulate_traffic(
        tmp_path / "sim",
        benign_users=20,
        days=2,
        seed=3,
        scale=0.1,
        campaigns=("hydra", "logprob_sweep", "cot_campaign"),
    )
    log = sim.exchanges_path
    # a few malformed lines at known places
    lines = log.read_text().splitlines()
    lines.insert(3, "{not json")
    lines.insert(10, '{"id": "q", "account": "x", "prompt": "p"}')
    # tool use: a real loop, a dummy tools list, pasted tool results (the engines must count the same steps)
    rng = random.Random(5)
    tools = [r for kind in ("loop", "dummy", "pasted") for r in agent_rows(kind, rng, 24)]
    lines += [json.dumps(r) for r in tools]
    # one benchmark's items put to two models plain and asked again with reasoning requests in three
    # languages (the engines must fold them to the same questions: sqlparts.question_sql)
    cots = [" Шаг за шагом.", "ステップバイステップ", " Let's think step by step."]
    items = ["Вопрос «{i}»: сколько будет {i}+{i}?", "問題{i}：二加{i}は？", "Q{i}: what is {i} - 1?"]
    evals = [
        ex(i * 3 + m, acct, T0 + i * 3 + m, text.format(i=i) + cot, model=model)
        for i in range(4)
        for m, text in enumerate(items)
        for acct, cot, model in (
            ("eval-plain", "", "teacher-v1"),
            ("eval-plain", "", "teacher-v2"),
            ("eval-cot", cots[m], "teacher-v2"),
        )
    ]
    lines += [json.dumps(r) for r in evals]
    log.write_text("\n".join(lines) + "\n")

    d = run_detection(log, tmp_path / "duck")
    s = run_detection(log, tmp_path / "spark", engine="spark", spark=spark_session)
    duck, spark = d.tables, s.tables
    assert duck.exchanges == spark.exchanges == sim.exchanges + len(tools) + len(evals)
    shared = duck["shared_prompts"].set_index("account").loc[["eval-plain", "eval-cot"]]
    assert shared["n_cross_model_prompts"].tolist() == [12, 0]
    assert shared["n_log_cross_model_prompts"].tolist() == [12, 12]
    steps = duck["accounts"].set_index("account").loc[["loop-agent", "dummy-agent", "pasted-agent"]]
    assert steps[["n_tool_steps", "n_tool_calls"]].to_numpy().tolist() == [[24, 18], [0, 0], [24, 0]]
    assert (
        [(e.line, e.reason) for e in duck.errors]
        == [(e.line, e.reason) for e in spark.errors]
        == [
            (4, "invalid JSON"),
            (11, "missing required field(s): ts"),
        ]
    )
    for name in (
        "accounts",
        "template_stats",
        "top_templates",
        "samples",
        "hours",
        "models",
        "infra",
        "bins",
        "bias",
        "shared_prompts",
    ):
        _same(duck[name], spark[name], name)
    assert d.flagged and d.flagged == s.flagged
    assert d.campaigns == s.campaigns
    assert d.accounts == s.accounts


def test_spark_reads_parquet_and_reports_bad_rows(tmp_path: Path, spark_session) -> None:
    from distillscope.records import write_parquet

    rows = [ex(i, f"acct{i % 3}", T0 + i, f"hello {i} from Spark") for i in range(30)]
    rows[5] = {**rows[5], "account": None}
    rows += [r for kind in ("loop", "pasted") for r in agent_rows(kind, random.Random(1), 8)]
    path = tmp_path / "log.parquet"
    write_parquet(rows, path)
    duck = duckdb_engine.extract(path)
    spark = spark_engine.extract(path, spark=spark_session)
    assert duck.exchanges == spark.exchanges == 29 + 16
    assert duck["accounts"].set_index("account").loc["loop-agent", "n_tool_calls"] == 6
    assert [(e.line, e.reason) for e in spark.errors] == [(6, "missing required field(s): account")]
    assert [(e.line, e.reason) for e in duck.errors] == [(6, "missing required field(s): account")]
    _same(duck["accounts"], spark["accounts"], "accounts")
    jsonl = write_log(tmp_path / "log.jsonl", [r for r in rows if r["account"]])
    _same(duckdb_engine.extract(jsonl)["accounts"], duck["accounts"], "jsonl-vs-parquet")


def test_the_three_readers_skip_and_refuse_the_same_lines(tmp_path: Path, spark_session) -> None:
    # a line of any whitespace str.isspace() knows is blank for every reader (Spark trimmed only ASCII spaces
    # and DuckDB only Unicode spaces, so a tab-only line was "invalid JSON" there); a tab before a JSON object
    # is JSON's whitespace (Spark called that row "expected a JSON object" and lost it); a value that is not
    # an object is named by its JSON type on every reader (they said "list", "ubigint" or nothing); an object
    # followed by more text is invalid JSON for every reader (Spark kept the object, dropped the rest)
    from distillscope.records import ExchangeReader

    rows = [ex(i, "dave", T0 + i, f"row {i}") for i in range(6)]
    lines: list[dict | str] = [
        rows[0],
        "\t",
        " \t\x0b\x0c\x1c\x1f\x85",
        "\u00a0\u2028\u3000",
        "\t" + json.dumps(rows[1]) + "\t",
        "\u00a0" + json.dumps(rows[2]),
        "\u200b",
        "\t[1, 2]",
        ' "text"',
        "-2.5e3",
        "false",
        "null",
        json.dumps(rows[4]) + " x",
        json.dumps(rows[5]) + ",\t",
        rows[3],
    ]
    path = write_log(tmp_path / "log.jsonl", lines)
    reader = ExchangeReader(path, on_error="skip")
    python = ([e.id for e in reader], [(e.line, e.reason.split(" (")[0]) for e in reader.errors])
    duck = duckdb_engine.extract(path, on_error="skip")
    spark = spark_engine.extract(path, on_error="skip", spark=spark_session)
    kinds = ["array", "string", "number", "boolean", "null"]
    refused = (
        [(6, "invalid JSON"), (7, "invalid JSON")]
        + [(8 + i, f"expected a JSON object, got {kind}") for i, kind in enumerate(kinds)]
        + [(13, "invalid JSON"), (14, "invalid JSON")]
    )
    assert python == ([r["id"] for r in (rows[0], rows[1], rows[3])], refused)
    for tables in (duck, spark):
        assert tables.exchanges == 3
        assert [(e.line, e.reason) for e in tables.errors] == refused
    _same(duck["accounts"], spark["accounts"], "accounts")
