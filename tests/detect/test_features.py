"""Per-account features on hand-built logs with known answers (DuckDB engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillscope.detect.engines.duckdb_engine import extract
from distillscope.records import write_parquet

from .helpers import T0, ex, write_log


def _known_log(tmp_path: Path) -> Path:
    rows = []
    # alice: 10 requests; 4 ask for step-by-step reasoning; 5 want log-probs (top 5);
    # logit_bias over 3 distinct token ids; two sessions (a 2-hour pause); 2 IPs in one /24.
    for i in range(10):
        prompt = f"What is the capital of {['France', 'Spain', 'Peru', 'Chad', 'Mali'][i % 5]}?"
        if i < 4:
            prompt += " Explain step by step."
        params = {"max_tokens": 100 * (i + 1)}
        if i % 2 == 0:
            params.update(logprobs=True, top_logprobs=5)
        if i < 3:
            params["logit_bias"] = {str(100 + i): 5, "7": -100}
        ts = T0 + 3600 + i * 10 + (7200 if i >= 6 else 0)
        rows.append(
            ex(
                i,
                "alice",
                ts,
                prompt,
                ip=f"10.0.0.{i % 2}",
                user_agent="ua-a",
                model="m1",
                params=params,
                completion_tokens=50,
            )
        )
    # bob: one completion-style prompt, an IPv6 address, a second model
    bob = ex(0, "bob", T0 + 5 * 3600, "x", ip="2001:db8:1:2::5", model="m2")
    bob.pop("messages")
    bob["prompt"] = 'Translate "bonjour tout le monde" 3 times to German for Anna'
    rows.append(bob)
    return write_log(tmp_path / "log.jsonl", rows)


def test_account_aggregates_match_hand_counts(tmp_path: Path) -> None:
    tables = extract(_known_log(tmp_path))
    acc = tables["accounts"].set_index("account")
    alice = acc.loc["alice"]
    assert tables.exchanges == 11
    assert alice["n"] == 10
    assert alice["n_cot"] == 4
    assert alice["n_lp"] == 5 and alice["sum_top_lp"] == 25
    assert alice["n_bias"] == 3
    assert alice["distinct_ips"] == 2 and alice["distinct_ip24"] == 1
    assert alice["sum_max_tokens"] == sum(100 * (i + 1) for i in range(10))
    assert alice["sessions"] == 2  # the 2-hour pause splits the sessions
    assert alice["gap_mean"] == pytest.approx(10.0)  # gaps within sessions only
    # "What is the capital of France/Spain/..." is one template; the CoT suffix makes a second
    assert alice["n_templates"] == 2
    bias = tables["bias"].set_index("account")
    assert bias.loc["alice", "distinct_bias_ids"] == 4  # 100, 101, 102 and 7
    infra = tables["infra"]
    assert set(infra[(infra.account == "alice") & (infra.kind == "ip24")]["value"]) == {"10.0.0.0/24"}
    assert set(infra[(infra.account == "bob") & (infra.kind == "ip24")]["value"]) == {"2001:db8:1::/48"}
    hours = tables["hours"]
    assert set(hours[hours.account == "alice"]["hod"]) == {1, 3}
    models = tables["models"].set_index("account")
    assert models.loc["bob", "model"] == "m2"


def test_slot_filled_prompts_normalise_to_one_template(tmp_path: Path) -> None:
    rows = [
        ex(i, "carol", T0 + i, f'Explain {n} "{q}" facts about {name} in 2,500 words.')
        for i, (n, q, name) in enumerate([(3, "a b", "Alice"), (41, "zzz", "Bob"), (7, "q", "Carla")])
    ]
    tables = extract(write_log(tmp_path / "log.jsonl", rows))
    top = tables["top_templates"]
    assert list(top["tmpl"]) == ["<p> <n> <q> facts about <p> in <n> words"]
    assert list(top["cnt"]) == [3]


def test_parquet_and_jsonl_give_the_same_features(tmp_path: Path) -> None:
    import json

    path = _known_log(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    pq = tmp_path / "log.parquet"
    write_parquet(rows, pq)
    a, b = extract(path), extract(pq)
    for name in ("accounts", "top_templates", "samples", "infra", "bias", "bins", "hours"):
        left, right = a[name].reset_index(drop=True), b[name].reset_index(drop=True)
        assert left.astype(str).equals(right.astype(str)), name


def test_malformed_lines_skip_reports_each_line(tmp_path: Path) -> None:
    good = ex(0, "dave", T0, "hello there")
    rows = [
        good,
        "not json",
        "",
        '{"id": "x", "account": "dave", "prompt": "p"}',
        "[1, 2]",
        '{"id": "y", "ts": "soon", "account": "dave", "prompt": "p"}',
        '{"id": "z", "ts": 5, "account": "dave"}',
        ex(1, "dave", T0 + 5, "again"),
    ]
    tables = extract(write_log(tmp_path / "log.jsonl", rows), on_error="skip")
    assert tables.exchanges == 2
    got = {(e.line, e.reason) for e in tables.errors}
    assert got == {
        (2, "invalid JSON"),
        (4, "missing required field(s): ts"),
        (5, "expected a JSON object, got array"),
        (6, "'ts' must be a number (Unix seconds, UTC)"),
        (7, "one of 'messages' or 'prompt' is required"),
    }


def test_blank_lines_of_any_spaces_are_skipped_and_padded_lines_read(tmp_path: Path) -> None:
    # the staging trims only lines that start blank (a whole-line trim read every character of every line)
    padded = " " + json.dumps(ex(1, "dave", T0 + 5, "padded")) + "  "
    rows = [
        ex(0, "dave", T0, "hello"),
        "   ",
        "\u00a0\u3000 ",
        padded,
        "\u00a0not json",
        ex(2, "dave", T0 + 9, "x"),
    ]
    tables = extract(write_log(tmp_path / "log.jsonl", rows), on_error="skip")
    assert tables.exchanges == 3
    assert [(e.line, e.reason) for e in tables.errors] == [(5, "invalid JSON")]
    assert int(tables["accounts"].set_index("account").loc["dave", "n"]) == 3


def test_malformed_lines_stop_names_the_first_line(tmp_path: Path) -> None:
    from distillscope.records import LogFormatError

    path = write_log(tmp_path / "log.jsonl", [ex(0, "erin", T0, "hi"), "{broken", ex(1, "erin", T0, "hi")])
    with pytest.raises(LogFormatError, match=r"log.jsonl:2: invalid JSON"):
        extract(path, on_error="raise")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    from distillscope.records import LogFormatError

    with pytest.raises(LogFormatError, match="no such file"):
        extract(tmp_path / "nope.jsonl")


@pytest.mark.slow
def test_embedding_topic_spread_separates_one_template_from_many_topics(tmp_path: Path) -> None:
    from distillscope.detect.embeddings import account_embeddings
    from distillscope.detect.signals import samples_by_account

    topics = [
        "the French revolution",
        "photosynthesis in plants",
        "how to bake sourdough",
        "python decorators",
        "black holes and gravity",
        "tax rules for freelancers",
        "training for a marathon",
        "jazz harmony",
    ]
    rows = [ex(i, "broad", T0 + i, f"Tell me about {t}") for i, t in enumerate(topics)]
    rows += [
        ex(i, "narrow", T0 + i, f"Write a product description for the blue desk lamp model {i}")
        for i in range(8)
    ]
    tables = extract(write_log(tmp_path / "log.jsonl", rows))
    cache = tmp_path / "cache"
    import os

    os.environ["DISTILLSCOPE_CACHE"] = str(cache)
    try:
        spread, centroids = account_embeddings(samples_by_account(tables))
        again, _ = account_embeddings(samples_by_account(tables))  # from the cache now
    finally:
        del os.environ["DISTILLSCOPE_CACHE"]
    assert set(spread) == {"broad", "narrow"} == set(centroids)
    assert 0.0 <= spread["narrow"] < spread["broad"] <= 1.0
    assert again == spread
    assert (cache / "minilm-prompts.sqlite").exists()
