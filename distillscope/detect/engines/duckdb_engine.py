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

_MESSAGE_TYPE = '[{"role":"VARCHAR","content":"VARCHAR"}]'
_ROW_TYPE = (
    '{"id":"VARCHAR","ts":"DOUBLE","account":"VARCHAR","ip":"VARCHAR","user_agent":"VARCHAR",'
    '"payment_id":"VARCHAR","org":"VARCHAR","model":"VARCHAR","prompt":"VARCHAR","messages":'
    + _MESSAGE_TYPE
    + ","
    '"params":"JSON","status":"BIGINT","completion_tokens":"BIGINT","finish_reason":"VARCHAR",'
    '"response_text":"VARCHAR"}'
)
_OPTIONAL = {
    "ip": "VARCHAR",
    "user_agent": "VARCHAR",
    "payment_id": "VARCHAR",
    "org": "VARCHAR",
    "model": "VARCHAR",
    "prompt": "VARCHAR",
    "status": "BIGINT",
    "completion_tokens": "BIGINT",
    "finish_reason": "VARCHAR",
}


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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


def _stage_jsonl(con: Any, path: str) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw AS SELECT row_number() OVER () AS line_no, line FROM read_csv("
        f"{_q(path)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01', quote = '', "
        "escape = '', auto_detect = false, strict_mode = false, max_line_size = 67108864)"
    )
    missing = " || ".join(
        f"CASE WHEN t[{i}] IS NULL OR t[{i}] = 'NULL' THEN {_q(name + ',')} ELSE '' END"
        for i, name in ((1, "id"), (2, "ts"), (3, "account"))
    )
    absent = "(t[{i}] IS NULL OR t[{i}] = 'NULL')"
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW src AS
WITH p AS (
  SELECT line_no, json_valid(line) AS ok, CASE WHEN json_valid(line) THEN line END AS jl
  FROM raw WHERE line IS NOT NULL AND trim(line) <> ''
), p2 AS (
  SELECT line_no, ok, json_type(jl) AS jt, CASE WHEN json_type(jl) = 'OBJECT' THEN jl END AS ol FROM p
), q AS (
  SELECT line_no, ok, jt, json_type(ol, ['$.id', '$.ts', '$.account', '$.messages', '$.prompt']) AS t,
    json_transform(ol, {_q(_ROW_TYPE)}) AS r
  FROM p2
), m AS (SELECT *, {missing} AS miss FROM q)
SELECT line_no,
  CASE WHEN NOT ok THEN 'invalid JSON'
    WHEN jt <> 'OBJECT' THEN 'expected a JSON object, got ' || lower(jt)
    WHEN miss <> '' THEN 'missing required field(s): ' || replace(rtrim(miss, ','), ',', ', ')
    WHEN t[1] <> 'VARCHAR' OR r.id = '' THEN '''id'' must be a non-empty string'
    WHEN t[2] NOT IN ('DOUBLE', 'UBIGINT', 'BIGINT') THEN '''ts'' must be a number (Unix seconds, UTC)'
    WHEN t[3] <> 'VARCHAR' OR r.account = '' THEN '''account'' must be a non-empty string'
    WHEN {absent.format(i=4)} AND {absent.format(i=5)} THEN 'one of ''messages'' or ''prompt'' is required'
    WHEN NOT {absent.format(i=4)} AND (t[4] <> 'ARRAY' OR r.messages IS NULL OR len(r.messages) = 0)
      THEN '''messages'' must be a non-empty list of {{role, content}}'
    WHEN NOT {absent.format(i=5)} AND t[5] <> 'VARCHAR' THEN '''prompt'' must be a string'
    ELSE NULL END AS bad,
  r.id, r.ts, r.account, r.ip, r.user_agent, r.payment_id, r.org, r.model, r.prompt, r.messages,
  CAST(r.params AS VARCHAR) AS params, r.status, r.completion_tokens, r.finish_reason,
  length(r.response_text) AS resp_len
FROM m""")


def _stage_parquet(con: Any, path: str) -> None:
    try:
        schema = {
            row[0]: str(row[1])
            for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_q(path)})").fetchall()
        }
    except Exception as exc:  # duckdb raises IOException / InvalidInputException
        raise LogFormatError(f"{path}: not a readable Parquet file ({exc})") from exc
    cols = []
    for name, sql_type in _OPTIONAL.items():
        cols.append(f"TRY_CAST({name} AS {sql_type}) AS {name}" if name in schema else f"NULL AS {name}")
    if "messages" not in schema:
        cols.append(f"CAST(NULL AS {_duck_struct_list()}) AS messages")
    elif schema["messages"] == "VARCHAR":
        cols.append(f"json_transform(messages, {_q(_MESSAGE_TYPE)}) AS messages")
    else:
        cols.append(f"json_transform(to_json(messages), {_q(_MESSAGE_TYPE)}) AS messages")
    if "params" not in schema:
        cols.append("NULL AS params")
    elif schema["params"] == "VARCHAR":
        cols.append("params")
    else:
        cols.append("CAST(to_json(params) AS VARCHAR) AS params")
    cols.append("length(response_text) AS resp_len" if "response_text" in schema else "NULL AS resp_len")
    need = {k: (k if k in schema else "NULL") for k in ("id", "ts", "account")}
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW src AS
WITH r AS (
  SELECT file_row_number + 1 AS line_no, CAST({need["id"]} AS VARCHAR) AS id,
    TRY_CAST({need["ts"]} AS DOUBLE) AS ts, CAST({need["account"]} AS VARCHAR) AS account, {", ".join(cols)}
  FROM read_parquet({_q(path)}, file_row_number = true)
)
SELECT {sp.staged_validity_sql("duckdb")} AS bad, *
FROM r""")


def _duck_struct_list() -> str:
    return "STRUCT(role VARCHAR, content VARCHAR)[]"


def _stage_ex(con: Any) -> None:
    norm = sp.normalise_sql("user_text", "duckdb")
    lp_raw = "json_extract_string(params, '$.logprobs')"
    top = "TRY_CAST(json_extract_string(params, '$.top_logprobs') AS BIGINT)"
    con.execute(f"""
CREATE OR REPLACE TEMP TABLE ex AS
WITH s AS (
  SELECT account, id, ts, ip, user_agent AS ua, payment_id, org, model, params, status, completion_tokens,
    finish_reason, resp_len,
    coalesce(prompt, (list_filter(messages, lambda m: m.role = 'user'))[-1].content,
      array_to_string(list_transform(messages, lambda m: coalesce(m.content, '')), ' '), '') AS user_text,
    coalesce(prompt, '') || ' ' || coalesce(array_to_string(list_transform(
      list_filter(messages, lambda m: m.role <> 'assistant'), lambda m: coalesce(m.content, '')), ' '), '')
      AS ask_text
  FROM src WHERE bad IS NULL
), t AS (
  SELECT *, {norm} AS tmpl,
    {lp_raw} AS lp_raw, {top} AS top_raw,
    json_keys(json_extract(params, '$.logit_bias')) AS bias_keys,
    TRY_CAST(coalesce(json_extract_string(params, '$.max_tokens'),
      json_extract_string(params, '$.max_completion_tokens')) AS BIGINT) AS max_tokens_raw
  FROM s
)
SELECT account, id, ts, ip,
  {sp.ip_range_sql("ip", "duckdb")} AS ip24,
  ua, payment_id, org, model, tmpl,
  CASE WHEN tmpl = '' THEN 0 ELSE length(tmpl) - length(replace(tmpl, ' ', '')) + 1 END AS tmpl_words,
  {sp.cot_sql("ask_text", "duckdb")} AS cot,
  CASE WHEN lp_raw = 'true' OR coalesce(TRY_CAST(lp_raw AS DOUBLE), 0) > 0 OR coalesce(top_raw, 0) > 0
       THEN 1 ELSE 0 END AS lp,
  greatest(coalesce(top_raw, 0), coalesce(TRY_CAST(lp_raw AS BIGINT), 0)) AS top_lp,
  coalesce(len(bias_keys), 0) AS bias_n, bias_keys,
  max_tokens_raw AS max_tokens,
  coalesce(completion_tokens, CAST(floor(resp_len / 4) AS BIGINT)) AS comp_tokens,
  CASE WHEN coalesce(max_tokens_raw, 0) >= 1024
    OR (finish_reason = 'length' AND coalesce(max_tokens_raw, 1024) >= 256) THEN 1 ELSE 0 END AS longreq,
  CASE WHEN status = 429 THEN 1 ELSE 0 END AS err429,
  coalesce(TRY_CAST(json_extract_string(params, '$.n') AS BIGINT), 1) AS n_param,
  left(user_text, 300) AS sample_text, length(ask_text) AS ask_chars
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
) -> FeatureTables:
    """Read one log (JSONL, or Parquet by suffix) and return its per-account feature tables."""
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
        frames = {name: con.execute(query).df() for name, query in sp.account_queries().items()}
        frames["bias"] = con.execute(BIAS_QUERY).df()
        exchanges = int(con.execute("SELECT count(*) FROM ex").fetchone()[0])
        bad_total = int(con.execute("SELECT count(*) FROM bad").fetchone()[0])
    finally:
        con.close()
    if bad_total > len(errors):
        errors.append(MalformedLine(path, 0, f"... and {bad_total - len(errors)} more malformed line(s)"))
    return FeatureTables(frames=frames, exchanges=exchanges, errors=errors, source=path, engine="duckdb")
