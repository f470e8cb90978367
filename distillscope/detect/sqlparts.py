"""SQL shared by the detection engines: prompt normalisation, CoT phrases and per-account aggregates.

Both engines (DuckDB and Spark SQL) stage the log into one table ``ex`` with the
same columns, then run the aggregate queries below, so that the same log gives
the same feature table on either engine. Only dialect details (lambdas,
``regexp_replace`` flags, JSON access) differ and live in the engine modules.
This module holds strings and small helpers only; it must not import an engine.
"""

from __future__ import annotations

from typing import Literal

from distillscope import textsig

Dialect = Literal["duckdb", "spark"]
#: Kept as names here for the engines; the values live in :mod:`distillscope.textsig`.
COT_PATTERN = textsig.COT_PATTERN
TEMPLATE_CHARS = textsig.TEMPLATE_CHARS


def sql_string(text: str, dialect: Dialect) -> str:
    """A SQL string literal in the dialect (Spark SQL also reads backslash escapes)."""
    if dialect == "spark":
        text = text.replace("\\", "\\\\")
        return "'" + text.replace("'", "\\'") + "'"
    return "'" + text.replace("'", "''") + "'"


def _replace_all(expr: str, pattern: str, repl: str, dialect: Dialect) -> str:
    flags = ", 'g'" if dialect == "duckdb" else ""
    return f"regexp_replace({expr}, {sql_string(pattern, dialect)}, {sql_string(repl, dialect)}{flags})"


def normalise_sql(text_expr: str, dialect: Dialect) -> str:
    """SQL for :func:`distillscope.textsig.normalise_prompt` of ``text_expr`` (same patterns, same order)."""
    ts = textsig
    out = _replace_all(f"left({text_expr}, {ts.PROMPT_CHARS})", ts.QUOTED, ts.SLOT_QUOTED, dialect)
    out = _replace_all(out, ts.NUMBER, ts.SLOT_NUMBER, dialect)
    out = _replace_all(out, ts.PROPER, ts.SLOT_PROPER, dialect)
    out = _replace_all(f"lower({out})", ts.NON_LETTER, " ", dialect)
    return f"trim(left({out}, {ts.TEMPLATE_CHARS}))"


def cot_sql(text_expr: str, dialect: Dialect) -> str:
    """SQL (0/1) for :func:`distillscope.textsig.asks_for_reasoning` of ``text_expr``."""
    scanned = f"lower(left({text_expr}, {textsig.COT_SCAN_CHARS}))"
    pattern = sql_string(textsig.COT_PATTERN, dialect)
    return f"CASE WHEN {_matches(scanned, pattern, dialect)} THEN 1 ELSE 0 END"


def _matches(expr: str, pattern: str, dialect: Dialect) -> str:
    return f"regexp_matches({expr}, {pattern})" if dialect == "duckdb" else f"{expr} RLIKE {pattern}"


def _size(expr: str, dialect: Dialect) -> str:
    return f"len({expr})" if dialect == "duckdb" else f"size({expr})"


def staged_validity_sql(dialect: Dialect) -> str:
    """The ``bad`` column of rows staged from typed (Parquet) columns: why a row is refused, or NULL.

    JSON lines are checked on their raw text by each engine (the JSON functions differ);
    once columns are typed, the required-field rules are these, for both engines.
    """
    return f"""CASE
    WHEN id IS NULL OR ts IS NULL OR account IS NULL THEN 'missing required field(s): ' ||
      concat_ws(', ', CASE WHEN id IS NULL THEN 'id' END, CASE WHEN ts IS NULL THEN 'ts' END,
                CASE WHEN account IS NULL THEN 'account' END)
    WHEN id = '' THEN '''id'' must be a non-empty string'
    WHEN account = '' THEN '''account'' must be a non-empty string'
    WHEN prompt IS NULL AND (messages IS NULL OR {_size("messages", dialect)} = 0)
      THEN 'one of ''messages'' or ''prompt'' is required'
    ELSE NULL END"""


def ip_range_sql(ip_expr: str, dialect: Dialect) -> str:
    """An address's range: its /48 for IPv6, its /24 for IPv4, else NULL."""
    dotted = sql_string("^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$", dialect)
    return f"""CASE WHEN {ip_expr} LIKE '%:%'
       THEN regexp_extract({ip_expr}, '^([0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F]*)', 1) || '::/48'
       WHEN {_matches(ip_expr, dotted, dialect)}
       THEN regexp_extract({ip_expr}, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1) || '.0/24' END"""


#: The staged columns every engine must produce in table ``ex``.
EX_COLUMNS = (
    "account",
    "id",
    "ts",
    "ip",
    "ip24",
    "ua",
    "payment_id",
    "org",
    "model",
    "tmpl",
    "tmpl_words",
    "cot",
    "lp",
    "top_lp",
    "bias_n",
    "max_tokens",
    "comp_tokens",
    "longreq",
    "err429",
    "n_param",
    "sample_text",
    "ask_chars",
)

SESSION_GAP_S = 1800
BIN_S = 600
TOP_TEMPLATES = 8
SAMPLES = 20


def account_queries() -> dict[str, str]:
    """Named aggregate queries over ``ex`` in the SQL subset DuckDB and Spark SQL share."""
    gap = SESSION_GAP_S
    return {
        "accounts": f"""
WITH g AS (
  SELECT account, id, ts, ts - lag(ts) OVER (PARTITION BY account ORDER BY ts, id) AS gap FROM ex
), s AS (
  SELECT account, ts, gap,
    sum(CASE WHEN gap IS NULL OR gap > {gap} THEN 1 ELSE 0 END)
      OVER (PARTITION BY account ORDER BY ts, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS sid
  FROM g
), sess AS (
  SELECT account, sid, max(ts) - min(ts) AS dur, count(*) AS cnt FROM s GROUP BY account, sid
), t AS (
  SELECT account,
    count(*) AS n_gaps_in,
    avg(gap) AS gap_mean,
    stddev_samp(gap) AS gap_std,
    sum(CASE WHEN gap < 2 THEN 1 ELSE 0 END) AS n_fast_gaps
  FROM g WHERE gap IS NOT NULL AND gap <= {gap} GROUP BY account
), ss AS (
  SELECT account, count(*) AS sessions, max(dur) AS max_session_s, max(cnt) AS max_session_n
  FROM sess GROUP BY account
), a AS (
  SELECT account,
    count(*) AS n,
    min(ts) AS first_ts, max(ts) AS last_ts,
    count(DISTINCT CAST(floor(ts / {BIN_S}) AS BIGINT)) AS bins10,
    count(DISTINCT CAST(floor(ts / 3600) AS BIGINT)) AS hours_active,
    count(DISTINCT CAST(floor(ts / 86400) AS BIGINT)) AS days_active,
    count(DISTINCT tmpl) AS n_templates, count(DISTINCT sample_text) AS n_distinct_prompts,
    sum(cot) AS n_cot, sum(lp) AS n_lp,
    sum(CASE WHEN lp = 1 THEN top_lp ELSE 0 END) AS sum_top_lp,
    sum(CASE WHEN bias_n > 0 THEN 1 ELSE 0 END) AS n_bias,
    sum(max_tokens) AS sum_max_tokens, count(max_tokens) AS n_max_tokens,
    count(DISTINCT max_tokens) AS distinct_max_tokens,
    sum(comp_tokens) AS sum_comp_tokens, count(comp_tokens) AS n_comp_tokens,
    sum(longreq) AS n_long, sum(err429) AS n_429,
    sum(CASE WHEN n_param > 1 THEN 1 ELSE 0 END) AS n_multi,
    count(DISTINCT ip) AS distinct_ips, count(DISTINCT ip24) AS distinct_ip24,
    count(DISTINCT ua) AS distinct_uas, count(DISTINCT model) AS distinct_models,
    sum(tmpl_words) AS sum_tmpl_words, sum(ask_chars) AS sum_ask_chars
  FROM ex GROUP BY account
)
SELECT a.*, coalesce(t.n_gaps_in, 0) AS n_gaps_in, t.gap_mean, t.gap_std,
  coalesce(t.n_fast_gaps, 0) AS n_fast_gaps, ss.sessions, ss.max_session_s, ss.max_session_n
FROM a LEFT JOIN t ON a.account = t.account LEFT JOIN ss ON a.account = ss.account
ORDER BY a.account""",
        "template_stats": """
WITH c AS (SELECT account, tmpl, count(*) AS cnt FROM ex GROUP BY account, tmpl),
n AS (SELECT account, sum(cnt) AS total FROM c GROUP BY account)
SELECT c.account, max(c.cnt) AS top_template_n,
  sum(c.cnt * ln(c.cnt)) AS sum_c_ln_c
FROM c GROUP BY c.account ORDER BY c.account""",
        "top_templates": f"""
WITH c AS (SELECT account, tmpl, max(tmpl_words) AS words, count(*) AS cnt FROM ex GROUP BY account, tmpl),
r AS (SELECT account, tmpl, words, cnt,
  row_number() OVER (PARTITION BY account ORDER BY cnt DESC, tmpl) AS rk FROM c)
SELECT account, tmpl, words, cnt FROM r WHERE rk <= {TOP_TEMPLATES} AND cnt >= 2
ORDER BY account, rk""",
        # prompts spread evenly over the account's history (every k-th by time), at most SAMPLES
        "samples": f"""
WITH r AS (SELECT account, sample_text,
  row_number() OVER (PARTITION BY account ORDER BY ts, id) AS rk,
  count(*) OVER (PARTITION BY account) AS cnt FROM ex),
k AS (SELECT account, sample_text, rk, greatest(CAST(floor(cnt / {SAMPLES}) AS BIGINT), 1) AS step FROM r)
SELECT account, sample_text FROM k WHERE (rk - 1) % step = 0 AND rk <= step * {SAMPLES}
ORDER BY account, rk""",
        # prompts (first 300 characters, verbatim) other accounts ask too: a public benchmark, a shared tool
        "shared_prompts": """
WITH p AS (SELECT DISTINCT account, sample_text FROM ex),
c AS (SELECT sample_text, count(*) AS k FROM p GROUP BY sample_text)
SELECT p.account, sum(CASE WHEN c.k >= 2 THEN 1 ELSE 0 END) AS n_shared_prompts
FROM p JOIN c ON p.sample_text = c.sample_text GROUP BY p.account ORDER BY p.account""",
        "hours": """
SELECT account, CAST(floor(ts / 3600) AS BIGINT) % 24 AS hod, count(*) AS cnt
FROM ex GROUP BY account, CAST(floor(ts / 3600) AS BIGINT) % 24 ORDER BY account, hod""",
        "models": """
SELECT account, model, count(*) AS cnt, min(ts) AS first_ts, max(ts) AS last_ts
FROM ex WHERE model IS NOT NULL GROUP BY account, model ORDER BY account, model""",
        "infra": """
SELECT account, 'ip' AS kind, ip AS value, count(*) AS cnt FROM ex WHERE ip IS NOT NULL GROUP BY account, ip
UNION ALL
SELECT account, 'ip24' AS kind, ip24 AS value, count(*) AS cnt FROM ex WHERE ip24 IS NOT NULL
  GROUP BY account, ip24
UNION ALL
SELECT account, 'ua' AS kind, ua AS value, count(*) AS cnt FROM ex WHERE ua IS NOT NULL GROUP BY account, ua
UNION ALL
SELECT account, 'payment' AS kind, payment_id AS value, count(*) AS cnt FROM ex WHERE payment_id IS NOT NULL
  GROUP BY account, payment_id
UNION ALL
SELECT account, 'org' AS kind, org AS value, count(*) AS cnt FROM ex WHERE org IS NOT NULL
  GROUP BY account, org
ORDER BY account, kind, value""",
        "bins": f"""
SELECT DISTINCT account, CAST(floor(ts / {BIN_S}) AS BIGINT) AS bin FROM ex ORDER BY account, bin""",
    }
