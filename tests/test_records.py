import json

import pytest

from distillscope.records import (
    BLANK_CHARS,
    Exchange,
    ExchangeReader,
    LogFormatError,
    read_exchanges,
    write_exchanges,
)


def _rec(i: int, **kw):
    base = {"id": f"e{i}", "ts": 1700000000 + i, "account": "acct-1", "prompt": f"hello {i}"}
    base.update(kw)
    return base


def test_roundtrip_jsonl_keeps_unknown_fields(tmp_path):
    path = tmp_path / "log.jsonl"
    rows = [_rec(1, custom_field={"a": 1}), _rec(2, params={"logit_bias": {"5": 100}})]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records = read_exchanges(path)
    assert records[0].extra == {"custom_field": {"a": 1}}
    assert records[1].params["logit_bias"] == {"5": 100}
    out = tmp_path / "copy.jsonl"
    write_exchanges(records, out)
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert again[0]["custom_field"] == {"a": 1}
    assert again == [Exchange.from_dict(r).to_dict() for r in rows]


def test_roundtrip_parquet_nested_columns(tmp_path):
    rows = [
        _rec(
            1,
            messages=[{"role": "user", "content": "hi"}],
            prompt=None,
            params={"top_logprobs": 5, "logit_bias": {"12": -100}},
        ),
        _rec(2, logprobs=[{"token": "a", "logprob": -0.1, "top_logprobs": []}]),
    ]
    path = tmp_path / "log.parquet"
    write_exchanges([Exchange.from_dict(r) for r in rows], path)
    back = read_exchanges(path)
    assert back[0].messages == [{"role": "user", "content": "hi"}]
    assert back[0].params == {"top_logprobs": 5, "logit_bias": {"12": -100}}
    assert back[1].logprobs[0]["token"] == "a"


def test_malformed_lines_reported_with_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps(_rec(1))
        + "\n"
        + "{not json\n"
        + json.dumps({"id": "x", "ts": 1.0})
        + "\n"  # no account
        + "\n"
        + json.dumps(_rec(5))
        + "\n"
        + json.dumps({"id": "y", "ts": 2.0, "account": "a"})
        + "\n"  # no prompt/messages
    )
    with pytest.raises(LogFormatError, match=r"bad.jsonl:2: invalid JSON"):
        read_exchanges(path)
    reader = ExchangeReader(path, on_error="skip")
    good = list(reader)
    assert [r.id for r in good] == ["e1", "e5"]
    assert [
        (e.line, "account" in e.reason or "prompt" in e.reason or "JSON" in e.reason) for e in reader.errors
    ] == [(2, True), (3, True), (6, True)]


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "", "ts": 1, "account": "a", "prompt": "p"},
        {"id": "x", "ts": "yesterday", "account": "a", "prompt": "p"},
        {"id": "x", "ts": 1, "account": "a", "messages": "hi"},
        {"id": "x", "ts": 1, "account": "a", "messages": [{"content": "no role"}]},
    ],
)
def test_invalid_records_rejected(bad):
    with pytest.raises(ValueError):
        Exchange.from_dict(bad)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(LogFormatError, match="no such file"):
        read_exchanges(tmp_path / "nope.jsonl")


def test_blank_chars_are_exactly_pythons_whitespace():
    # the detection engines' SQL skips lines of these characters; they must be the ones str.strip() removes
    assert set(BLANK_CHARS) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert len(BLANK_CHARS) == len(set(BLANK_CHARS))
