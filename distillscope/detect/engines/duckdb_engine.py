"""The DuckDB engine: read a JSONL or Parquet log in place and aggregate it per account.

DuckDB reads the file itself (``read_csv`` of raw lines for JSONL, so that every
malformed line keeps its line number; ``read_parquet`` with row numbers for
Parquet), parses and normalises prompts in SQL, stages one narrow table ``ex``
and runs the shared aggregates of :mod:`distillscope.detect.sqlparts`. It must
not score anything: that is the shared Python code's job.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from distillscope.detect import sqlparts as sp
from distillscope.detect.tables import FeatureTables
from distillscope.records import LogFormatError, MalformedLine, OnError


def _q(text: str) -> str:
    return sp.sql_string(text, "duckdb")


def connect(threads: int | None = None, memory_limit: str | None = None, temp_dir: str | None = None) -> Any:
    import duckdb

    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_q(memory_limit)}")
    con.execute(f"SET temp_directory = {_q(temp_dir or tempfile.gettempdir())}")
    con.execute("SET preserve_insertion_order = true")
    return con


_NOT_BLANK = sp.not_blank_sql("line", "duckdb")
#: JSON's name for the root's type (``records.not_an_object`` says the same), from ``json_type``'s.
_JSON_KIND = (
    "CASE t[1] WHEN 'ARRAY' THEN 'array' WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' "
    "WHEN 'NULL' THEN 'null' ELSE 'number' END"
)


def _stage_jsonl(con: Any, path: str) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw AS SELECT row_number() OVER () AS line_no, line FROM read_csv("
        f"{_q(path)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01', quote = '', "
        "escape = '', auto_detect = false, strict_mode = false, max_line_size = 67108864)"
    )
    # json_type of the root and of the fields the checks need, in this order (1-based, as DuckDB
    # lists index); the root's type comes with the fields' so that a line is parsed three times in
    # all: validity, types, values (each JSON function parses the text again)
    checked = ("$", "id", "ts", "account", "messages", "prompt")

    def absent(name: str) -> str:
        i = checked.index(name) + 1
        return f"(t[{i}] IS NULL OR t[{i}] = 'NULL')"

    bad = sp.row_validity_sql(
        "duckdb",
        row="r.",
        absent=absent,
        parse_checks=[
            ("jl IS NULL", "'invalid JSON'"),
            ("t[1] <> 'OBJECT'", f"'expected a JSON object, got ' || {_JSON_KIND}"),
        ],
        wrong_type={
            "id": "t[2] <> 'VARCHAR'",
            "ts": "t[3] NOT IN ('DOUBLE', 'UBIGINT', 'BIGINT')",
            "account": "t[4] <> 'VARCHAR'",
            "messages": "t[5] <> 'ARRAY'",
            "prompt": "t[6] <> 'VARCHAR'",
        },
    )
    paths = ", ".join("'$'" if name == "$" else f"'$.{name}'" for name in checked)
    # A table, not a view: each line is parsed once per function (a view re-parsed every line for
    # the error scan and again, field by field, for ``ex``).
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE src AS
WITH p AS (
  SELECT line_no, CASE WHEN json_valid(line) THEN line END AS jl
  FROM raw WHERE line IS NOT NULL AND {_NOT_BLANK}
), q AS (
  SELECT line_no, jl, json_type(jl, [{paths}]) AS t FROM p
), v AS (
  SELECT line_no, jl, t,
    CASE WHEN t[1] = 'OBJECT' THEN json_transform(jl, {_q(sp.json_row_type("duckdb"))}) END AS r
  FROM q
)
SELECT line_no, {bad} AS bad,
  r.id, r.ts, r.account, r.ip, r.user_agent, r.payment_id, r.org, r.model, r.prompt, r.messages,
  CAST(r.params AS VARCHAR) AS params, r.status, r.completion_tokens, r.finish_reason,
  length(r.response_text) AS resp_len
FROM v""")
    con.execute("DROP TABLE raw")


def _stage_parquet(con: Any, path: str) -> None:
    try:
        schema = {
            row[0]: str(row[1])
            for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_q(path)})").fetchall()
        }
    except Exception as exc:  # duckdb raises IOException / InvalidInputException
        raise LogFormatError(f"{path}: not a readable Parquet file ({exc})") from exc
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW src AS
WITH r AS (
  SELECT file_row_number + 1 AS line_no, {sp.typed_columns_sql(schema, "duckdb")}
  FROM read_parquet({_q(path)}, file_row_number = true)
)
SELECT {sp.staged_validity_sql("duckdb")} AS bad, *
FROM r""")


def _stage_ex(con: Any) -> None:
    norm = sp.normalise_sql("user_text", "duckdb")
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE ex AS
WITH s AS (
  SELECT account, id, ts, ip, user_agent AS ua, payment_id, org, model, params, status, completion_tokens,
    finish_reason, resp_len,
    coalesce(prompt, (list_filter(messages, lambda m: m.role = 'user'))[-1].content,
      array_to_string(list_transform(messages, lambda m: coalesce(m.content, '')), ' '), '') AS user_text,
    coalesce(prompt, '') || ' ' || coalesce(array_to_string(list_transform(
      list_filter(messages, lambda m: m.role <> 'assistant'), lambda m: coalesce(m.content, '')), ' '), '')
      AS ask_text,
    {sp.tool_result_sql("messages", "duckdb")} AS tool_result
  FROM src WHERE bad IS NULL
), t AS (
  SELECT *, {norm} AS tmpl, {sp.request_params_sql("params", "duckdb")}
  FROM s
)
SELECT {sp.ex_select_sql("duckdb")}
FROM t""")


BIAS_QUERY = """
SELECT account, count(DISTINCT k) AS distinct_bias_ids
FROM (SELECT account, unnest(bias_keys) AS k FROM ex WHERE bias_n > 0) GROUP BY account ORDER BY account"""


def extract(
    path: str | os.PathLike[str],
    on_error: OnError = "skip",
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_dir: str | None = None,
    max_errors_listed: int = 1000,
    public: Any = None,
) -> FeatureTables:
    """Read one log (JSONL, or Parquet by suffix) and return its per-account feature tables.

    ``public``: a frame of ``(account, id)`` of exchanges that ask registered public benchmark
    questions (:func:`distillscope.detect.benchmarks.public_exchanges`); they are counted among
    the log's exchanges but left out of every feature.
    """
    path = str(path)
    if not Path(path).exists() and not any(ch in path for ch in "*?["):
        raise LogFormatError(f"{path}: no such file")
    con = connect(threads, memory_limit, temp_dir)
    try:
        if path.endswith(".parquet") or (Path(path).is_dir()):
            _stage_parquet(con, str(Path(path) / "*.parquet") if Path(path).is_dir() else path)
        else:
            _stage_jsonl(con, path)
        con.execute("CREATE OR REPLACE TEMP TABLE bad AS SELECT line_no, bad FROM src WHERE bad IS NOT NULL")
        errors = [
            MalformedLine(path, int(line), reason)
            for line, reason in con.execute(
                f"SELECT line_no, bad FROM bad ORDER BY line_no LIMIT {int(max_errors_listed)}"
            ).fetchall()
        ]
        if errors and on_error in ("raise", "stop"):
            total = con.execute("SELECT count(*) FROM bad").fetchone()[0]
            raise LogFormatError(f"{errors[0]} ({total} malformed line(s) in all; use --on-error skip)")
        _stage_ex(con)
        exchanges = int(con.execute("SELECT count(*) FROM ex").fetchall()[0][0])
        if public is not None and len(public):
            con.register("public_ex", public)
            con.execute(f"DELETE FROM ex e WHERE {sp.PUBLIC_MATCH}")
        frames = {name: con.execute(query).df() for name, query in sp.account_queries().items()}
        frames["bias"] = con.execute(BIAS_QUERY).df()
        bad_total = int(con.execute("SELECT count(*) FROM bad").fetchone()[0])
    finally:
        con.close()
    if bad_total > len(errors):
        errors.append(MalformedLine(path, 0, f"... and {bad_total - len(errors)} more malformed line(s)"))
    return FeatureTables(frames=frames, exchanges=exchanges, errors=errors, source=path, engine="duckdb")
