"""The PySpark engine: the same staging and aggregates as DuckDB, for logs that outgrow one machine.

Point ``master`` at a cluster (``spark://host:7077``) or use ``local[N]``. JSONL
lines are numbered with ``zipWithIndex`` so malformed lines are reported with
their line numbers; Parquet rows with ``_metadata.row_index``. The staged table
``ex`` has the columns of :data:`distillscope.detect.sqlparts.EX_COLUMNS` and
the aggregates are the shared SQL, so both engines produce the same feature
tables. This module must not score anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from distillscope.detect import sqlparts as sp
from distillscope.detect.tables import FeatureTables
from distillscope.records import LogFormatError, MalformedLine, OnError

_MESSAGES = "ARRAY<STRUCT<role: STRING, content: STRING>>"
_ROW = (
    "id STRING, ts DOUBLE, account STRING, ip STRING, user_agent STRING, payment_id STRING, org STRING, "
    "model STRING, "
    f"prompt STRING, messages {_MESSAGES}, params STRING, status BIGINT, completion_tokens BIGINT, "
    "finish_reason STRING, response_text STRING"
)
_OPTIONAL = (
    "ip",
    "user_agent",
    "payment_id",
    "org",
    "model",
    "prompt",
    "status",
    "completion_tokens",
    "finish_reason",
)


def _q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def session(master: str = "local[2]", app_name: str = "distillscope-detect") -> Any:
    """A Spark session with the settings detection relies on (non-ANSI casts, UTC)."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def _numbered_lines(spark: Any, path: str) -> Any:
    """Lines of a text file with their 1-based line numbers, computed in the JVM.

    A line's number is the count of lines in earlier partitions plus its index in
    its own partition (what ``zipWithIndex`` does, without a Python worker).
    """
    from pyspark.sql import functions as F

    text = spark.read.text(path).select(
        F.spark_partition_id().alias("pid"),
        F.monotonically_increasing_id().alias("mid"),
        F.col("value").alias("line"),
    )
    counts = sorted((r["pid"], r["count"]) for r in text.groupBy("pid").count().collect())
    offsets, total = [], 0
    for pid, count in counts:
        offsets.append((pid, total))
        total += count
    if not offsets:
        offsets = [(0, 0)]
    offset_df = spark.createDataFrame(offsets, "pid INT, base BIGINT")
    within = F.col("mid") - F.shiftleft(F.col("pid").cast("bigint"), 33)
    return text.join(F.broadcast(offset_df), "pid").select(
        (F.col("base") + within + 1).alias("line_no"), F.col("line")
    )


def _stage_jsonl(spark: Any, path: str) -> None:
    _numbered_lines(spark, path).createOrReplaceTempView("raw")
    absent = "get_json_object(line, '$.{0}') IS NULL"
    spark.sql(f"""
SELECT line_no, line,
  get_json_object(line, '$') IS NOT NULL AS ok,
  ltrim(line) LIKE '{{%' AS obj,
  from_json(line, {_q(_ROW)}) AS r
FROM raw WHERE line IS NOT NULL AND trim(line) <> ''""").createOrReplaceTempView("p")
    spark.sql(f"""
SELECT line_no,
  CASE WHEN NOT ok AND NOT obj THEN (CASE WHEN ltrim(line) LIKE '[%' THEN 'expected a JSON object, got array'
      ELSE 'invalid JSON' END)
    WHEN NOT ok THEN 'invalid JSON'
    WHEN NOT obj THEN 'expected a JSON object'
    WHEN {absent.format("id")} OR {absent.format("ts")} OR {absent.format("account")}
      THEN 'missing required field(s): ' || concat_ws(', ',
        CASE WHEN {absent.format("id")} THEN 'id' END, CASE WHEN {absent.format("ts")} THEN 'ts' END,
        CASE WHEN {absent.format("account")} THEN 'account' END)
    WHEN r.id = '' THEN '''id'' must be a non-empty string'
    WHEN r.ts IS NULL THEN '''ts'' must be a number (Unix seconds, UTC)'
    WHEN r.account = '' THEN '''account'' must be a non-empty string'
    WHEN {absent.format("messages")} AND {absent.format("prompt")}
      THEN 'one of ''messages'' or ''prompt'' is required'
    WHEN NOT {absent.format("messages")} AND (r.messages IS NULL OR size(r.messages) = 0)
      THEN '''messages'' must be a non-empty list of {{role, content}}'
    ELSE NULL END AS bad,
  r.id, r.ts, r.account, r.ip, r.user_agent, r.payment_id, r.org, r.model, r.prompt, r.messages, r.params,
  r.status, r.completion_tokens, r.finish_reason, length(r.response_text) AS resp_len
FROM p""").cache().createOrReplaceTempView("src")


def _stage_parquet(spark: Any, path: str) -> None:
    try:
        df = spark.read.parquet(path)
    except Exception as exc:  # AnalysisException and friends
        raise LogFormatError(f"{path}: not a readable Parquet file ({exc})") from exc
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    from pyspark.sql import functions as F

    df.select("*", F.col("_metadata.row_index").alias("_row_index")).createOrReplaceTempView("pq")
    cols = [
        f"CAST({c} AS {'BIGINT' if c in ('status', 'completion_tokens') else 'STRING'}) AS {c}"
        if c in types
        else f"NULL AS {c}"
        for c in _OPTIONAL
    ]
    if "messages" not in types:
        cols.append(f"CAST(NULL AS {_MESSAGES}) AS messages")
    elif types["messages"] == "string":
        cols.append(f"from_json(messages, {_q(_MESSAGES)}) AS messages")
    else:
        cols.append(f"from_json(to_json(messages), {_q(_MESSAGES)}) AS messages")
    if "params" not in types:
        cols.append("CAST(NULL AS STRING) AS params")
    elif types["params"] == "string":
        cols.append("params")
    else:
        cols.append("to_json(params) AS params")
    cols.append("length(response_text) AS resp_len" if "response_text" in types else "NULL AS resp_len")
    need = {k: (k if k in types else "NULL") for k in ("id", "ts", "account")}
    spark.sql(f"""
SELECT _row_index + 1 AS line_no, CAST({need["id"]} AS STRING) AS id,
  CAST({need["ts"]} AS DOUBLE) AS ts,
  CAST({need["account"]} AS STRING) AS account, {", ".join(cols)}
FROM pq""").createOrReplaceTempView("r")
    spark.sql(f"""
SELECT {sp.staged_validity_sql("spark")} AS bad, *
FROM r""").cache().createOrReplaceTempView("src")


def _stage_ex(spark: Any) -> None:
    norm = sp.normalise_sql("user_text", "spark")
    spark.sql("""
SELECT account, id, ts, ip, user_agent AS ua, payment_id, org, model, params, status, completion_tokens,
  finish_reason, resp_len,
  coalesce(prompt, element_at(filter(messages, m -> m.role = 'user'), -1).content,
    array_join(transform(messages, m -> coalesce(m.content, '')), ' '), '') AS user_text,
  coalesce(prompt, '') || ' ' || coalesce(array_join(transform(
    filter(messages, m -> m.role <> 'assistant'), m -> coalesce(m.content, '')), ' '), '') AS ask_text
FROM src WHERE bad IS NULL""").createOrReplaceTempView("s")
    spark.sql(f"""
SELECT *, {norm} AS tmpl,
  get_json_object(params, '$.logprobs') AS lp_raw,
  CAST(get_json_object(params, '$.top_logprobs') AS BIGINT) AS top_raw,
  map_keys(from_json(get_json_object(params, '$.logit_bias'), 'MAP<STRING, DOUBLE>')) AS bias_keys,
  CAST(coalesce(get_json_object(params, '$.max_tokens'), get_json_object(params, '$.max_completion_tokens'))
    AS BIGINT) AS max_tokens_raw
FROM s""").createOrReplaceTempView("t")
    ex = spark.sql(f"""
SELECT account, id, ts, ip,
  {sp.ip_range_sql("ip", "spark")} AS ip24,
  ua, payment_id, org, model, tmpl,
  CASE WHEN tmpl = '' THEN 0 ELSE length(tmpl) - length(replace(tmpl, ' ', '')) + 1 END AS tmpl_words,
  {sp.cot_sql("ask_text", "spark")} AS cot,
  CASE WHEN lp_raw = 'true' OR coalesce(CAST(lp_raw AS DOUBLE), 0) > 0 OR coalesce(top_raw, 0) > 0
       THEN 1 ELSE 0 END AS lp,
  greatest(coalesce(top_raw, 0), coalesce(CAST(lp_raw AS BIGINT), 0)) AS top_lp,
  CASE WHEN bias_keys IS NULL THEN 0 ELSE size(bias_keys) END AS bias_n, bias_keys,
  max_tokens_raw AS max_tokens,
  coalesce(completion_tokens, CAST(floor(resp_len / 4) AS BIGINT)) AS comp_tokens,
  CASE WHEN coalesce(max_tokens_raw, 0) >= 1024
    OR (finish_reason = 'length' AND coalesce(max_tokens_raw, 1024) >= 256) THEN 1 ELSE 0 END AS longreq,
  CASE WHEN status = 429 THEN 1 ELSE 0 END AS err429,
  coalesce(CAST(get_json_object(params, '$.n') AS BIGINT), 1) AS n_param,
  left(user_text, 300) AS sample_text, length(ask_text) AS ask_chars
FROM t""")
    ex.cache().createOrReplaceTempView("ex")


BIAS_QUERY = """
SELECT account, count(DISTINCT k) AS distinct_bias_ids
FROM (SELECT account, explode(bias_keys) AS k FROM ex WHERE bias_n > 0) b GROUP BY account ORDER BY account"""


def extract(
    path: str | os.PathLike[str],
    on_error: OnError = "skip",
    master: str = "local[2]",
    spark: Any = None,
    max_errors_listed: int = 1000,
) -> FeatureTables:
    """Read one log with Spark and return its per-account feature tables."""
    path = str(path)
    if "://" not in path and not Path(path).exists():
        raise LogFormatError(f"{path}: no such file")
    spark = spark or session(master)
    if path.endswith(".parquet") or Path(path).is_dir():
        _stage_parquet(spark, path)
    else:
        _stage_jsonl(spark, path)
    bad = spark.sql("SELECT line_no, bad FROM src WHERE bad IS NOT NULL").cache()
    rows = bad.orderBy("line_no").limit(max_errors_listed).collect()
    errors = [MalformedLine(path, int(r["line_no"]), r["bad"]) for r in rows]
    bad_total = bad.count() if errors else 0
    if errors and on_error in ("raise", "stop"):
        raise LogFormatError(f"{errors[0]} ({bad_total} malformed line(s) in all; use --on-error skip)")
    _stage_ex(spark)
    frames = {name: spark.sql(query).toPandas() for name, query in sp.account_queries().items()}
    frames["bias"] = spark.sql(BIAS_QUERY).toPandas()
    exchanges = int(spark.sql("SELECT count(*) AS c FROM ex").collect()[0]["c"])
    spark.catalog.dropTempView("ex")
    if bad_total > len(errors):
        errors.append(MalformedLine(path, 0, f"... and {bad_total - len(errors)} more malformed line(s)"))
    return FeatureTables(frames=frames, exchanges=exchanges, errors=errors, source=path, engine="spark")
