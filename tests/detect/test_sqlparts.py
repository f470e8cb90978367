"""The staging rules both engines build from `detect.sqlparts`: field types, typed casts, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from distillscope.detect import sqlparts as sp
from distillscope.detect.engines import duckdb_engine

from .helpers import T0, ex, write_log


def test_both_dialects_parse_a_json_line_into_every_log_field() -> None:
    duck = json.loads(sp.json_row_type("duckdb"))
    spark = re.findall(r"(?:^|, )(\w+) [A-Z]", sp.json_row_type("spark"))
    assert list(duck) == spark == list(sp.LOG_FIELDS)
    assert set(sp.REQUIRED_FIELDS) | set(sp.OPTIONAL_FIELDS) < set(sp.LOG_FIELDS)


def _rows() -> list[dict]:
    rows = [
        ex(i, f"acct{i % 2}", T0 + 7 * i, f"Explain step by step how {i} apples grow", ip="10.0.0.9",
           params={"logprobs": True, "top_logprobs": 3 + i % 2, "max_tokens": 2048, "logit_bias": {"7": 2}},
           status=429 if i == 3 else 200, completion_tokens=5 + i)
        for i in range(6)
    ]  # fmt: skip
    rows[4]["messages"] = []  # refused: neither a prompt nor a non-empty messages list
    return rows


def test_parquet_with_nested_columns_stages_as_its_jsonl_twin(tmp_path: Path) -> None:
    """messages as a list of structs and params as a struct: the typed casts read them as JSON does."""
    rows = _rows()
    table = pa.Table.from_pylist(rows)
    assert pa.types.is_list(table.schema.field("messages").type)
    assert pa.types.is_struct(table.schema.field("params").type)
    pq.write_table(table, tmp_path / "log.parquet")
    typed = duckdb_engine.extract(tmp_path / "log.parquet")
    text = duckdb_engine.extract(write_log(tmp_path / "log.jsonl", rows))

    assert typed.exchanges == text.exchanges == 5
    assert [(e.line, e.reason) for e in typed.errors] == [(5, "one of 'messages' or 'prompt' is required")]
    assert [(e.line, e.reason) for e in text.errors] == [
        (5, "'messages' must be a non-empty list of {role, content}")
    ]
    for name in ("accounts", "top_templates", "infra", "bias"):
        left, right = typed[name].reset_index(drop=True), text[name].reset_index(drop=True)
        assert left.astype(str).equals(right.astype(str)), name
    accounts = typed["accounts"].set_index("account")
    assert (
        accounts.loc["acct1", "n_429"] == 1 and accounts["n_lp"].sum() == 5 and accounts["n_long"].sum() == 5
    )
    assert accounts["n_cot"].sum() == 5


def test_a_parquet_log_without_optional_columns_stages_nulls(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "ts": T0 + i, "account": "solo", "prompt": f"hi {i}"} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bare.parquet")
    tables = duckdb_engine.extract(tmp_path / "bare.parquet")
    assert tables.exchanges == 3 and tables.errors == []
    row = tables["accounts"].iloc[0]
    assert row["n_lp"] == 0 and row["distinct_ips"] == 0 and row["n_templates"] == 1
