"""textsig: the Python and DuckDB forms of each text signal agree, and hashes do not depend on the process."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from distillscope import textsig
from distillscope.detect import sqlparts

CORPUS = [
    "Explain step by step how photosynthesis works.",
    'Translate "Good morning, Mr. Smith" into French, please.',
    "What is 12.5% of 3,400? Show your work.",
    "Compare Paris and Berlin in 3 sentences; use 2024/01/15 as the date.",
    "  leading and trailing   spaces\t\tand tabs\n\nand newlines  ",
    "Naïve café résumé — coöperate über Straße",
    "¿Puedes explicar paso a paso cómo resolver 2x + 3 = 7?",
    "Explique étape par étape la photosynthèse, s'il te plaît.",
    "Erkläre Schritt für Schritt, wie ein Motor funktioniert.",
    "Объясни шаг за шагом, как работает 2 + 2 = 4.",
    "请一步一步地解释光合作用的推理过程。",
    "ステップバイステップで説明してください: 東京タワーの高さは333m",
    "단계별로 풀이 과정을 보여주세요",
    "مرحبا، كيف حالك؟ 123 ٤٥٦",
    "हिन्दी में समझाइए कि प्रकाश संश्लेषण क्या है",
    "İstanbul'da ISTANBUL and ǅemal with ﬁ ligature and ²³ superscripts",
    "emoji 🙂🚀 and ‘single quotes’ and \u201ccurly double quotes\u201d around text",
    "<think> tags </think> and <b>html</b> and a<b",
    "ALL CAPS PROMPT WITH NUMBERS 42 AND 7.25",
    "it's don't can't o'clock rock'n'roll",
    'nested "quotes with "inner" parts" end',
    "mixed123digits456 and v2.0.1 and 10:30 and 1/2",
    "",
    "   ",
    "x" * 300 + " tail words beyond the template cut",
    "Let's think about this: walk me through the derivation.",
    "Show me your full reasoning before you answer.",
    "No reasoning requested here at all, just a fact.",
    "Think carefully: what's the capital of Peru?",
    "Spiega il tuo ragionamento passo dopo passo.",
    "Mostre seu raciocínio passo a passo.",
    "Zeige deinen Lösungsweg.",
    "Montre ton raisonnement.",
    "ΚΕΦΑΛΑΙΑ ελληνικά Σίσυφος τέλος",
    "tab\tseparated\tvalues\t1\t2",
    "under_score and hyphen-ated and slash/ed",
]


def _duckdb_forms(texts: list[str]) -> list[tuple[str, int]]:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE t (i INTEGER, txt VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(texts)))
    norm, cot = sqlparts.normalise_sql("txt", "duckdb"), sqlparts.cot_sql("txt", "duckdb")
    rows = con.execute(f"SELECT {norm}, {cot} FROM t ORDER BY i").fetchall()
    con.close()
    return [(r[0], int(r[1])) for r in rows]


def test_python_and_duckdb_normalise_and_cot_agree() -> None:
    sql = _duckdb_forms(CORPUS)
    for text, (sql_norm, sql_cot) in zip(CORPUS, sql, strict=True):
        assert textsig.normalise_prompt(text) == sql_norm, text
        assert int(textsig.asks_for_reasoning(text)) == sql_cot, text


def test_non_letter_pattern_collapses_runs_like_the_plain_pattern() -> None:
    # NON_LETTER skips runs that already are one space (fewer replacements); the output must be that of
    # the plain "a run of non-letters becomes one space", in Python and in both SQL forms' engine
    import regex

    plain = regex.compile("[^\\p{L}<>]+")
    edges = [" a", "a ", "  ", " ", "a  b", "a - b", "a\tb", "a \u00a0 b", "-", "a-"]
    texts = [t.lower() for t in CORPUS] + edges
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(":memory:")
    ours = sqlparts.sql_string(textsig.NON_LETTER, "duckdb")
    for text in texts:
        expected = plain.sub(" ", text)
        assert regex.sub(textsig.NON_LETTER, " ", text) == expected, text
        in_sql = con.execute(f"SELECT regexp_replace(?, {ours}, ' ', 'g')", [text]).fetchone()[0]
        assert in_sql == expected, text
    con.close()


def test_normalisation_makes_slots_and_keeps_letters_of_every_script() -> None:
    # a capitalised word (the first one too) is a name slot; runs of non-letters are one space
    text = 'Translate "Good morning" for Anna, 12 times'
    assert textsig.normalise_prompt(text) == "<p> <q> for <p> <n> times"
    assert "光合作用" in textsig.normalise_prompt("请一步一步地解释光合作用")
    assert textsig.normalise_prompt("Объясни 2 + 2") == "объясни <n> <n>"  # name slots are ASCII-only
    assert textsig.normalise_prompt("Compare Paris and Berlin") == textsig.normalise_prompt(
        "Compare Rome and Madrid"
    )
    assert len(textsig.normalise_prompt("word " * 200)) <= textsig.TEMPLATE_CHARS


@pytest.mark.parametrize(
    "text",
    [
        "Solve it step by step",
        "resuelve paso a paso",
        "explique étape par étape",
        "Schritt für Schritt bitte",
        "объясни шаг за шагом",
        "请逐步推理",
        "ステップバイステップで",
        "단계별로 설명해",
        "<think>",
        "Show your reasoning",
        "explain the reasoning",
    ],
)
def test_reasoning_requests_in_many_languages(text: str) -> None:
    assert textsig.asks_for_reasoning(text)


@pytest.mark.parametrize("text", ["What is the capital of Peru?", "Write a haiku about rain", "", None])
def test_plain_requests_are_not_reasoning(text: str | None) -> None:
    assert not textsig.asks_for_reasoning(text)


def test_minhash_matches_datasketch_and_estimates_jaccard() -> None:
    from datasketch import MinHash

    tokens = textsig.prompt_shingles("Explain in detail how to compute twelve times seven for a child")
    sig = textsig.minhash_signatures([tokens])[0]
    hashes = {t: int(h) for t, h in zip(tokens, textsig.hash32(tokens), strict=True)}
    ref = MinHash(
        num_perm=textsig.NUM_PERM, seed=textsig.SEED, hashfunc=lambda b: hashes[b.decode()], scheme="legacy"
    )
    ref.update_batch([t.encode() for t in tokens])
    assert np.array_equal(sig, ref.hashvalues)
    a = textsig.prompt_signature("Explain photosynthesis to a ten year old child in simple words")
    b = textsig.prompt_signature("Explain photosynthesis to a ten year old child in plain words")
    c = textsig.prompt_signature("Write a sonnet about the sea at night under the stars")
    assert textsig.estimated_jaccard(a, b) > textsig.estimated_jaccard(a, c)
    assert textsig.estimated_jaccard(a, a) == 1.0
    assert textsig.as_datasketch(a).jaccard(textsig.as_datasketch(b)) == textsig.estimated_jaccard(a, b)


def test_signatures_do_not_depend_on_the_process_hash_seed() -> None:
    code = (
        "from distillscope import textsig;"
        "print(list(textsig.prompt_signature('Explain the theory of relativity step by step')[:8]))"
    )
    outs = set()
    for seed in ("1", "2", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outs.add(run.stdout.strip())
    here = str(list(textsig.prompt_signature("Explain the theory of relativity step by step")[:8]))
    assert outs == {here}


TOOL_CASES = [
    ([{"role": "user", "content": "hi"}], "stop"),
    ([{"role": "user", "content": "hi"}], "tool_calls"),
    ([{"role": "user", "content": "hi"}], "function_call"),
    ([{"role": "user", "content": "hi"}], "tool_use"),
    ([{"role": "user", "content": "hi"}], None),
    ([{"role": "assistant", "content": None}, {"role": "tool", "content": "{}"}], "stop"),
    ([{"role": "function", "content": "42"}, {"role": "user", "content": "and?"}], "length"),
    ([{"role": "assistant", "content": "earlier"}, {"role": "user", "content": "more"}], "stop"),
    (None, "stop"),  # a completions prompt
    (None, "tool_calls"),
]


def test_python_and_duckdb_tool_steps_agree() -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect(":memory:")
    con.execute(
        "CREATE TABLE t (i INTEGER, messages STRUCT(role VARCHAR, content VARCHAR)[], finish VARCHAR)"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, m, f) for i, (m, f) in enumerate(TOOL_CASES)])
    result, call = sqlparts.tool_result_sql("messages", "duckdb"), sqlparts.tool_call_sql("finish", "duckdb")
    rows = con.execute(f"SELECT {result}, {call} FROM t ORDER BY i").fetchall()
    con.close()
    for (messages, finish), (sql_result, sql_call) in zip(TOOL_CASES, rows, strict=True):
        assert bool(sql_result) == textsig.returns_tool_result(messages), messages
        assert bool(sql_call) == textsig.is_tool_call(finish), finish
        assert bool(sql_result or sql_call) == textsig.tool_step(messages, finish)
    # a declared tools list is not tool use: nothing in a request's body alone makes a step
    assert not textsig.tool_step([{"role": "user", "content": "hi"}], "stop")
