"""open_log: one way to read a log whichever kind it is (file with malformed lines, or a guard store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillscope.logs import is_store_url, open_log
from distillscope.records import Exchange, LogFormatError


def _exchanges(n: int) -> list[Exchange]:
    return [Exchange(id=f"e{i}", ts=float(i), account=f"a{i % 2}", prompt=f"p{i}") for i in range(n)]


def test_a_file_skips_and_reports_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    good = [json.dumps(e.to_dict()) for e in _exchanges(2)]
    path.write_text("\n".join([good[0], "not json", good[1]]) + "\n", encoding="utf-8")
    log = open_log(str(path))
    assert [e.id for e in log] == ["e0", "e1"]
    assert [e.line for e in log.errors] == [2]
    with pytest.raises(LogFormatError, match=":2"):
        list(open_log(path, on_error="raise"))


def test_a_store_url_and_a_db_file_read_the_guard_store(tmp_path: Path) -> None:
    from distillscope.guard.logstore import open_log_store

    db = tmp_path / "guard.db"
    store = open_log_store(str(db), create=True)
    store.write_batch(_exchanges(3))
    store.close()
    for source in (str(db), f"sqlite:///{db}"):
        assert is_store_url(source)
        log = open_log(source)
        assert sorted(e.id for e in log) == ["e0", "e1", "e2"] and log.errors == []
    assert not is_store_url(tmp_path / "log.jsonl") and not is_store_url("log.parquet")
