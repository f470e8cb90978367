"""SQL shared by the detection engines: prompt normalisation, CoT phrases and per-account aggregates.

Both engines (DuckDB and Spark SQL) stage the log into one table ``ex`` with the
same columns, then run the aggregate queries below, so that the same log gives
the same feature table on either engine. The staging rules are here too, built
per dialect: the log's fields and their column types (:data:`LOG_FIELDS`, the
type a JSON line is parsed into), the casts of typed (Parquet) columns, and why a
row is refused (:func:`row_validity_sql`, in the words of ``records.ExchangeReader``).
Only how each engine reads its input (line numbering, JSON parse checks, lambdas)
lives in the engine modules. This module holds strings and small helpers only; it
must not import an engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from distillscope import textsig
from distillscope.records import BLANK_CHARS

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


def not_blank_sql(line: str, dialect: Dialect) -> str:
    """SQL true for a line the readers do not skip as blank (:data:`distillscope.records.BLANK_CHARS`).

    On DuckDB only a line whose first character is blank is matched whole: a whole-line scan of every
    line cost more than parsing them.
    """
    only_blank = "[" + "".join(f"\\x{{{ord(c):04x}}}" for c in BLANK_CHARS) + "]*"
    if dialect == "spark":
        return f"NOT ({line} RLIKE {sql_string('^' + only_blank + '$', dialect)})"
    first_blank = f"contains({sql_string(BLANK_CHARS, dialect)}, left({line}, 1))"
    return f"(NOT {first_blank} OR NOT regexp_full_match({line}, {sql_string(only_blank, dialect)}))"


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


#: Characters a question key folds to one space (whitespace and punctuation, any script).
QUESTION_FOLD = "[\\s\\p{P}]+"


def question_sql(text_expr: str, dialect: Dialect) -> str:
    """SQL for the question a prompt asks: lower case, the reasoning requests of
    :data:`distillscope.textsig.COT_PATTERN` taken out, runs of whitespace and punctuation folded to
    one space ("Q: 2+2? Let's think step by step." and "q: 2+2?" are one question; names and numbers
    stay, unlike the template of :func:`normalise_sql`)."""
    out = _replace_all(f"lower({text_expr})", textsig.COT_PATTERN, " ", dialect)
    return f"trim({_replace_all(out, QUESTION_FOLD, ' ', dialect)})"


def cot_sql(text_expr: str, dialect: Dialect) -> str:
    """SQL (0/1) for :func:`distillscope.textsig.asks_for_reasoning` of ``text_expr``."""
    scanned = f"lower(left({text_expr}, {textsig.COT_SCAN_CHARS}))"
    pattern = sql_string(textsig.COT_PATTERN, dialect)
    return f"CASE WHEN {_matches(scanned, pattern, dialect)} THEN 1 ELSE 0 END"


def _matches(expr: str, pattern: str, dialect: Dialect) -> str:
    return f"regexp_matches({expr}, {pattern})" if dialect == "duckdb" else f"{expr} RLIKE {pattern}"


def _size(expr: str, dialect: Dialect) -> str:
    return f"len({expr})" if dialect == "duckdb" else f"size({expr})"


#: The exchange fields the engines read, each with its kind (a column type per dialect).
LOG_FIELDS: dict[str, str] = {
    "id": "text",
    "ts": "float",
    "account": "text",
    "ip": "text",
    "user_agent": "text",
    "payment_id": "text",
    "org": "text",
    "model": "text",
    "prompt": "text",
    "messages": "messages",
    "params": "json",
    "status": "int",
    "completion_tokens": "int",
    "finish_reason": "text",
    "response_text": "text",
}
REQUIRED_FIELDS = ("id", "ts", "account")
#: Optional fields staged as they are: cast to their kind, NULL where the log lacks them.
OPTIONAL_FIELDS = (
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
_TYPES: dict[str, dict[str, str]] = {
    "duckdb": {
        "text": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "json": "JSON",
        "messages": "STRUCT(role VARCHAR, content VARCHAR)[]",
    },
    "spark": {
        "text": "STRING",
        "int": "BIGINT",
        "float": "DOUBLE",
        "json": "STRING",
        "messages": "ARRAY<STRUCT<role: STRING, content: STRING>>",
    },
}
#: DuckDB's ``json_transform`` structure of ``messages``.
_DUCK_MESSAGES_JSON = '[{"role":"VARCHAR","content":"VARCHAR"}]'


def sql_type(kind: str, dialect: Dialect) -> str:
    """The column type of a field kind (``text``, ``int``, ``float``, ``json``, ``messages``)."""
    return _TYPES[dialect][kind]


def json_row_type(dialect: Dialect) -> str:
    """What a JSON line is parsed into: DuckDB's ``json_transform`` structure, or Spark's DDL schema."""
    if dialect == "duckdb":
        shape = {
            name: json.loads(_DUCK_MESSAGES_JSON) if kind == "messages" else sql_type(kind, dialect)
            for name, kind in LOG_FIELDS.items()
        }
        return json.dumps(shape, separators=(",", ":"))
    return ", ".join(f"{name} {sql_type(kind, dialect)}" for name, kind in LOG_FIELDS.items())


def messages_from_json_sql(json_expr: str, dialect: Dialect) -> str:
    """SQL parsing a JSON text into the ``messages`` list of ``{role, content}``."""
    if dialect == "duckdb":
        return f"json_transform({json_expr}, {sql_string(_DUCK_MESSAGES_JSON, dialect)})"
    return f"from_json({json_expr}, {sql_string(sql_type('messages', dialect), dialect)})"


def _lenient_cast(expr: str, kind: str, dialect: Dialect) -> str:
    # NULL where a value does not convert (Spark: the engine's sessions run with ANSI casts off)
    cast = "TRY_CAST" if dialect == "duckdb" else "CAST"
    return f"{cast}({expr} AS {sql_type(kind, dialect)})"


def typed_columns_sql(types: Mapping[str, str], dialect: Dialect) -> str:
    """The staged columns of a log with typed columns (Parquet), given the file's column types.

    ``types`` maps each column the file has to its type name as the engine reports it
    (``VARCHAR`` / ``string`` for text). Absent columns become NULL; ``messages`` and
    ``params`` stored as JSON text or as nested columns both work.
    """
    text = sql_type("text", dialect)

    def is_text(name: str) -> bool:
        return types[name].lower() in ("varchar", "string")

    need = {k: (k if k in types else "NULL") for k in REQUIRED_FIELDS}
    cols = [
        f"CAST({need['id']} AS {text}) AS id",
        f"{_lenient_cast(need['ts'], 'float', dialect)} AS ts",
        f"CAST({need['account']} AS {text}) AS account",
    ]
    for name in OPTIONAL_FIELDS:
        cast = _lenient_cast(name, LOG_FIELDS[name], dialect)
        cols.append(f"{cast} AS {name}" if name in types else f"NULL AS {name}")
    if "messages" not in types:
        cols.append(f"CAST(NULL AS {sql_type('messages', dialect)}) AS messages")
    else:
        source = "messages" if is_text("messages") else "to_json(messages)"
        cols.append(f"{messages_from_json_sql(source, dialect)} AS messages")
    if "params" not in types:
        cols.append(f"CAST(NULL AS {text}) AS params")
    else:
        cols.append("params" if is_text("params") else f"CAST(to_json(params) AS {text}) AS params")
    cols.append("length(response_text) AS resp_len" if "response_text" in types else "NULL AS resp_len")
    return ", ".join(cols)


def _is_null(name: str) -> str:
    return f"{name} IS NULL"


def row_validity_sql(
    dialect: Dialect,
    *,
    row: str = "",
    absent: Callable[[str], str] = _is_null,
    parse_checks: Sequence[tuple[str, str]] = (),
    wrong_type: Mapping[str, str] | None = None,
) -> str:
    """The ``bad`` column: why a staged row is refused (the words of ``records.ExchangeReader``), or NULL.

    The rules, in order: the engine's ``parse_checks`` (condition SQL, message SQL) on a
    raw line; a required field absent; ``id``, ``ts`` or ``account`` of the wrong type or
    empty; neither ``messages`` nor ``prompt``; ``messages`` not a non-empty list;
    ``prompt`` not a string. ``row`` prefixes the parsed values (``"r."``); ``absent(f)``
    says field ``f`` is missing (default: its column is NULL); ``wrong_type[f]``, where
    given, says ``f`` is there with the wrong JSON type.
    """
    wrong = wrong_type or {}

    def bad_type(name: str) -> str:
        return f"{wrong[name]} OR " if name in wrong else ""

    missing = ", ".join(f"CASE WHEN {absent(f)} THEN '{f}' END" for f in REQUIRED_FIELDS)
    rules = [
        *parse_checks,
        (
            " OR ".join(absent(f) for f in REQUIRED_FIELDS),
            f"'missing required field(s): ' || concat_ws(', ', {missing})",
        ),
        (f"{bad_type('id')}{row}id = ''", "'''id'' must be a non-empty string'"),
    ]
    if "ts" in wrong:
        rules.append((wrong["ts"], "'''ts'' must be a number (Unix seconds, UTC)'"))
    rules += [
        (f"{bad_type('account')}{row}account = ''", "'''account'' must be a non-empty string'"),
        (f"{absent('messages')} AND {absent('prompt')}", "'one of ''messages'' or ''prompt'' is required'"),
        (
            f"NOT {absent('messages')} AND ({bad_type('messages')}{row}messages IS NULL"
            f" OR {_size(row + 'messages', dialect)} = 0)",
            "'''messages'' must be a non-empty list of {role, content}'",
        ),
    ]
    if "prompt" in wrong:
        rules.append((f"NOT {absent('prompt')} AND {wrong['prompt']}", "'''prompt'' must be a string'"))
    cases = "\n    ".join(f"WHEN {cond} THEN {message}" for cond, message in rules)
    return f"CASE\n    {cases}\n    ELSE NULL END"


def staged_validity_sql(dialect: Dialect) -> str:
    """The ``bad`` column of rows staged from typed (Parquet) columns: why a row is refused, or NULL.

    An empty ``messages`` list counts as absent, so such a row without a prompt is
    refused as having neither.
    """

    def absent(name: str) -> str:
        if name == "messages":
            return f"(messages IS NULL OR {_size('messages', dialect)} = 0)"
        return _is_null(name)

    return row_validity_sql(dialect, absent=absent)


def tool_result_sql(messages_expr: str, dialect: Dialect) -> str:
    """SQL (0/1): the messages return a tool's result (:func:`distillscope.textsig.returns_tool_result`)."""
    roles = ", ".join(sql_string(r, dialect) for r in textsig.TOOL_RESULT_ROLES)
    if dialect == "duckdb":
        found = f"len(list_filter({messages_expr}, lambda m: m.role IN ({roles})))"
    else:
        found = f"size(filter({messages_expr}, m -> m.role IN ({roles})))"
    return f"CASE WHEN coalesce({found}, 0) > 0 THEN 1 ELSE 0 END"


def tool_call_sql(finish_expr: str, dialect: Dialect) -> str:
    """SQL (0/1): the answer is a tool call (:func:`distillscope.textsig.is_tool_call`)."""
    reasons = ", ".join(sql_string(r, dialect) for r in textsig.TOOL_CALL_FINISH)
    return f"CASE WHEN coalesce({finish_expr} IN ({reasons}), false) THEN 1 ELSE 0 END"


def ip_range_sql(ip_expr: str, dialect: Dialect) -> str:
    """An address's range: its /48 for IPv6, its /24 for IPv4, else NULL."""
    dotted = sql_string("^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$", dialect)
    return f"""CASE WHEN {ip_expr} LIKE '%:%'
       THEN regexp_extract({ip_expr}, '^([0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F]*)', 1) || '::/48'
       WHEN {_matches(ip_expr, dotted, dialect)}
       THEN regexp_extract({ip_expr}, '^([0-9]+[.][0-9]+[.][0-9]+)[.]', 1) || '.0/24' END"""


def _json_text(expr: str, path: str, dialect: Dialect) -> str:
    function = "json_extract_string" if dialect == "duckdb" else "get_json_object"
    return f"{function}({expr}, '{path}')"


def _json_keys(expr: str, path: str, dialect: Dialect) -> str:
    if dialect == "duckdb":
        return f"json_keys(json_extract({expr}, '{path}'))"
    return f"map_keys(from_json({_json_text(expr, path, dialect)}, 'MAP<STRING, DOUBLE>'))"


def request_params_sql(params: str, dialect: Dialect) -> str:
    """The request parameters ``ex`` is built from, read from the JSON text ``params``.

    Columns: ``lp_raw`` (the ``logprobs`` value as text), ``top_raw``, ``bias_keys``
    (the token ids of ``logit_bias``), ``max_tokens_raw`` (``max_tokens`` or
    ``max_completion_tokens``); values that are not numbers become NULL.
    """
    top = _lenient_cast(_json_text(params, "$.top_logprobs", dialect), "int", dialect)
    limit = (
        f"coalesce({_json_text(params, '$.max_tokens', dialect)}, "
        f"{_json_text(params, '$.max_completion_tokens', dialect)})"
    )
    return (
        f"{_json_text(params, '$.logprobs', dialect)} AS lp_raw, {top} AS top_raw,\n"
        f"  {_json_keys(params, '$.logit_bias', dialect)} AS bias_keys,\n"
        f"  {_lenient_cast(limit, 'int', dialect)} AS max_tokens_raw"
    )


def ex_select_sql(dialect: Dialect) -> str:
    """The columns of ``ex`` (:data:`EX_COLUMNS`, plus ``bias_keys``) from staged rows.

    The rows have the staged fields, ``tmpl`` (:func:`normalise_sql` of the user's
    text), ``ask_text``, ``user_text``, ``resp_len``, ``tool_result`` (:func:`tool_result_sql`
    of the messages) and :func:`request_params_sql`'s columns. ``tool_step`` is
    :func:`distillscope.textsig.tool_step`: the answer is a tool call or the request returns a
    tool's result (a declared ``tools`` list alone is not tool use).
    """
    lp_number = _lenient_cast("lp_raw", "float", dialect)
    n = _lenient_cast(_json_text("params", "$.n", dialect), "int", dialect)
    return f"""account, id, ts, ip,
  {ip_range_sql("ip", dialect)} AS ip24,
  ua, payment_id, org, model, tmpl,
  CASE WHEN tmpl = '' THEN 0 ELSE length(tmpl) - length(replace(tmpl, ' ', '')) + 1 END AS tmpl_words,
  {cot_sql("ask_text", dialect)} AS cot,
  CASE WHEN lp_raw = 'true' OR coalesce({lp_number}, 0) > 0 OR coalesce(top_raw, 0) > 0
       THEN 1 ELSE 0 END AS lp,
  greatest(coalesce(top_raw, 0), coalesce({_lenient_cast("lp_raw", "int", dialect)}, 0)) AS top_lp,
  CASE WHEN bias_keys IS NULL THEN 0 ELSE {_size("bias_keys", dialect)} END AS bias_n, bias_keys,
  max_tokens_raw AS max_tokens,
  coalesce(completion_tokens, CAST(floor(resp_len / 4) AS BIGINT)) AS comp_tokens,
  CASE WHEN coalesce(max_tokens_raw, 0) >= 1024
    OR (finish_reason = 'length' AND coalesce(max_tokens_raw, 1024) >= 256) THEN 1 ELSE 0 END AS longreq,
  CASE WHEN status = 429 THEN 1 ELSE 0 END AS err429,
  coalesce({n}, 1) AS n_param,
  left(user_text, 300) AS sample_text, {question_sql("left(user_text, 300)", dialect)} AS question,
  length(ask_text) AS ask_chars,
  {tool_call_sql("finish_reason", dialect)} AS tool_call,
  CASE WHEN tool_result = 1 OR {tool_call_sql("finish_reason", dialect)} = 1 THEN 1 ELSE 0 END AS tool_step"""


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
    "question",
    "ask_chars",
    "tool_call",
    "tool_step",
)

#: An ``ex`` row (alias ``e``) that asks a registered public benchmark question: its ``(account, id)`` is
#: in ``public_ex`` (:mod:`distillscope.detect.benchmarks`). Such rows are left out of every aggregate.
PUBLIC_MATCH = "EXISTS (SELECT 1 FROM public_ex p WHERE p.account = e.account AND p.id = e.id)"

SESSION_GAP_S = 1800
BIN_S = 600
TOP_TEMPLATES = 8
SAMPLES = 20
#: Words of a template that make its instruction head (``signals.top_head_share``).
HEAD_WORDS = 5
HEAD_PATTERN = f"^[^ ]+( [^ ]+){{0,{HEAD_WORDS - 1}}}"


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
    sum(tmpl_words) AS sum_tmpl_words, sum(ask_chars) AS sum_ask_chars,
    sum(tool_step) AS n_tool_steps, sum(tool_call) AS n_tool_calls
  FROM ex GROUP BY account
)
SELECT a.*, coalesce(t.n_gaps_in, 0) AS n_gaps_in, t.gap_mean, t.gap_std,
  coalesce(t.n_fast_gaps, 0) AS n_fast_gaps, ss.sessions, ss.max_session_s, ss.max_session_n
FROM a LEFT JOIN t ON a.account = t.account LEFT JOIN ss ON a.account = ss.account
ORDER BY a.account""",
        # templates, and instruction heads (the template's first HEAD_WORDS words) over every request
        "template_stats": f"""
WITH c AS (SELECT account, tmpl, count(*) AS cnt FROM ex GROUP BY account, tmpl),
h AS (SELECT account, regexp_extract(tmpl, '{HEAD_PATTERN}', 0) AS head, sum(cnt) AS cnt FROM c
  GROUP BY account, regexp_extract(tmpl, '{HEAD_PATTERN}', 0)),
hm AS (SELECT account, max(cnt) AS top_head_n FROM h GROUP BY account)
SELECT c.account, max(c.cnt) AS top_template_n,
  sum(c.cnt * ln(c.cnt)) AS sum_c_ln_c, max(hm.top_head_n) AS top_head_n
FROM c JOIN hm ON c.account = hm.account GROUP BY c.account ORDER BY c.account""",
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
        # prompts (first 300 characters, verbatim) other accounts ask too (a public benchmark, a shared
        # tool), prompts the account itself put to two or more models (an evaluation compares models), and
        # prompts the log put to two or more models, whichever accounts asked them (a team's harness split
        # over accounts, a launch-day run whose baseline another account ran)
        "shared_prompts": """
WITH p AS (SELECT account, sample_text, max(question) AS question, count(DISTINCT model) AS m FROM ex
  GROUP BY account, sample_text),
c AS (SELECT sample_text, count(*) AS k FROM p GROUP BY sample_text),
g AS (SELECT question, count(DISTINCT model) AS gm FROM ex GROUP BY question)
SELECT p.account, sum(CASE WHEN c.k >= 2 THEN 1 ELSE 0 END) AS n_shared_prompts,
  sum(CASE WHEN p.m >= 2 THEN 1 ELSE 0 END) AS n_cross_model_prompts,
  sum(CASE WHEN g.gm >= 2 AND p.question <> '' THEN 1 ELSE 0 END) AS n_log_cross_model_prompts
FROM p JOIN c ON p.sample_text = c.sample_text LEFT JOIN g ON p.question = g.question
GROUP BY p.account ORDER BY p.account""",
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
