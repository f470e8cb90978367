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


def _q(text: str) -> str:
    return sp.sql_string(text, "spark")


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


#: Where a line's JSON value starts: after JSON's whitespace (space, tab, CR, LF).
_JSON_VALUE_AT = sp.sql_string("^[ \\t\\r\\n]*", "spark")
#: Where an object's line must end: at its closing brace, then JSON whitespace (Jackson, under
#: ``get_json_object``, stops after the first value and ignores what follows, where ``json.loads`` and DuckDB
#: refuse the line; an object followed by text that itself ends in a brace still passes here).
_ENDS_AT_BRACE = sp.sql_string("\\}[ \\t\\r\\n]*$", "spark")
#: The line holds an object (its JSON value starts with a brace).
_IS_OBJECT = f"line RLIKE {_JSON_VALUE_AT} || '\\\\{{'"
#: JSON's name for a valid root's type (``records.not_an_object`` says the same), from its first character
#: (``get_json_object(line, '$')`` has already checked the value).
_JSON_KIND = (
    f"CASE regexp_extract(line, {_JSON_VALUE_AT} || '(.)', 1) WHEN '[' THEN 'array' WHEN '\"' THEN 'string' "
    "WHEN 't' THEN 'boolean' WHEN 'f' THEN 'boolean' WHEN 'n' THEN 'null' ELSE 'number' END"
)


def _stage_jsonl(spark: Any, path: str) -> None:
    _numbered_lines(spark, path).createOrReplaceTempView("raw")

    def absent(name: str) -> str:
        return f"get_json_object(line, '$.{name}') IS NULL"

    bad = sp.row_validity_sql(
        "spark",
        row="r.",
        absent=absent,
        parse_checks=[
            ("NOT ok", "'invalid JSON'"),
            ("NOT obj", f"'expected a JSON object, got ' || {_JSON_KIND}"),
        ],
        wrong_type={"ts": "r.ts IS NULL"},
    )
    spark.sql(f"""
SELECT line_no, line,
  get_json_object(line, '$') IS NOT NULL
    AND (NOT {_IS_OBJECT} OR line RLIKE {_ENDS_AT_BRACE}) AS ok,
  {_IS_OBJECT} AS obj,
  from_json(line, {_q(sp.json_row_type("spark"))}) AS r
FROM raw WHERE line IS NOT NULL AND {sp.not_blank_sql("line", "spark")}""").createOrReplaceTempView("p")
    spark.sql(f"""
SELECT line_no, {bad} AS bad,
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
    spark.sql(f"""
SELECT _row_index + 1 AS line_no, {sp.typed_columns_sql(types, "spark")}
FROM pq""").createOrReplaceTempView("r")
    spark.sql(f"""
SELECT {sp.staged_validity_sql("spark")} AS bad, *
FROM r""").cache().createOrReplaceTempView("src")


def _stage_ex(spark: Any) -> None:
    norm = sp.normalise_sql("user_text", "spark")
    spark.sql(f"""
SELECT account, id, ts, ip, user_agent AS ua, payment_id, org, model, params, status, completion_tokens,
  finish_reason, resp_len,
  coalesce(prompt, element_at(filter(messages, m -> m.role = 'user'), -1).content,
    array_join(transform(messages, m -> coalesce(m.content, '')), ' '), '') AS user_text,
  coalesce(prompt, '') || ' ' || coalesce(array_join(transform(
    filter(messages, m -> m.role <> 'assistant'), m -> coalesce(m.content, '')), ' '), '') AS ask_text,
  {sp.tool_result_sql("messages", "spark")} AS tool_result
FROM src WHERE bad IS NULL""").createOrReplaceTempView("s")
    spark.sql(f"""
SELECT *, {norm} AS tmpl, {sp.request_params_sql("params", "spark")}
FROM s""").createOrReplaceTempView("t")
    ex = spark.sql(f"""
SELECT {sp.ex_select_sql("spark")}
FROM t""")
    ex.cache().createOrReplaceTempView("ex")


def _drop_public(spark: Any, public: Any) -> None:
    """Leave the exchanges that ask registered public benchmark questions out of ``ex``."""
    spark.createDataFrame(public.astype(str)).createOrReplaceTempView("public_ex")
    everything = spark.table("ex")
    spark.sql(f"SELECT * FROM ex e WHERE NOT {sp.PUBLIC_MATCH}").cache().createOrReplaceTempView("ex")
    everything.unpersist()


BIAS_QUERY = """
SELECT account, count(DISTINCT k) AS distinct_bias_ids
FROM (SELECT account, explode(bias_keys) AS k FROM ex WHERE bias_n > 0) b GROUP BY account ORDER BY account"""


def extract(
    path: str | os.PathLike[str],
    on_error: OnError = "skip",
    master: str = "local[2]",
    spark: Any = None,
    max_errors_listed: int = 1000,
    public: Any = None,
) -> FeatureTables:
    """Read one log with Spark and return its per-account feature tables (``public``: as DuckDB's)."""
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
    exchanges = int(spark.sql("SELECT count(*) AS c FROM ex").collect()[0]["c"])
    if public is not None and len(public):
        _drop_public(spark, public)
    frames = {name: spark.sql(query).toPandas() for name, query in sp.account_queries().items()}
    frames["bias"] = spark.sql(BIAS_QUERY).toPandas()
    spark.catalog.dropTempView("ex")
    if bad_total > len(errors):
        errors.append(MalformedLine(path, 0, f"... and {bad_total - len(errors)} more malformed line(s)"))
    return FeatureTables(frames=frames, exchanges=exchanges, errors=errors, source=path, engine="spark")
