"""Hostile input through the guard and the real server on loopback: the log loses no row.

Issue 14: one request holding a character a store cannot keep (a lone surrogate for
SQLite, a NUL for PostgreSQL) used to stop the exchange log for good; an upstream
that repeats response ids used to make rows vanish. Every test here reads the
log back from the store, not only the HTTP status.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from distillscope.guard.gateway import UNAUTHENTICATED, GuardGateway
from distillscope.guard.logstore import open_log_store
from distillscope.records import Exchange
from distillscope.testing.wire_server import WireServer

from .stack import NO_RISK_ACTIONS, guard_gateway, relay

MODEL = "wire-model"


@pytest.fixture(scope="module")
def wire() -> Iterator[WireServer]:
    with WireServer(model=MODEL) as server:
        yield server


def _guard(db_url: str, policy: dict[str, Any] | None = None) -> tuple[GuardGateway, str]:
    gateway, keys = guard_gateway(db_url, policy or NO_RISK_ACTIONS)
    key, _ = keys.create_key("alice")
    return gateway, key


def _serving(gateway: GuardGateway, wire: WireServer) -> contextlib.AbstractContextManager[str]:
    return relay(gateway, wire.base_url, MODEL)


def _logged(db_url: str) -> list[Exchange]:
    store = open_log_store(db_url)
    try:
        return list(store.iter_exchanges())
    finally:
        store.close()


def _raw(
    base_url: str, body: bytes, key: str | None = None, path: str = "/chat/completions"
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(base_url + path, content=body, headers=headers, timeout=30)


CHAT = b'{"model": "wire-model", "max_tokens": 4, "messages": [{"role": "user", "content": "%s"}]}'


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\u0000", b"\\udfff tail \\u0000"])
def test_unstorable_text_does_not_stop_the_log(db_url: str, wire: WireServer, escape: bytes) -> None:
    gateway, key = _guard(db_url)
    with _serving(gateway, wire) as base_url:
        refused = _raw(base_url, CHAT % escape)  # no key: anyone on the internet can send this
        assert refused.status_code == 401
        served = _raw(base_url, CHAT % (b"served " + escape), key=key)
        if b"\\ud" in escape:  # not Unicode: a clear 400 (no tokenizer takes it), and a row
            assert served.status_code == 400 and served.json()["error"]["param"] == "messages.0.content"
        else:  # a NUL is text: answered
            assert served.status_code == 200, served.text
        after = [_raw(base_url, CHAT % b"plain %d" % i, key=key) for i in range(3)]
        assert [r.status_code for r in after] == [200] * 3
    rows = _logged(db_url)
    assert len(rows) == 5  # every request is one row, those behind the odd one too
    by_account = sorted(rows, key=lambda e: e.ts)
    assert by_account[0].account == UNAUTHENTICATED and by_account[0].status == 401
    odd = [e for e in rows if "storage_replaced" in e.extra]
    assert len(odd) == 2 and all("\ufffd" in e.messages[0]["content"] for e in odd)
    texts = sorted(e.messages[0]["content"] for e in rows if e.account == "alice")
    assert texts == ["plain 0", "plain 1", "plain 2", "served \ufffd" + texts[-1][8:]]


def test_repeated_upstream_ids_keep_every_row(db_url: str, wire: WireServer) -> None:
    """The wire server derives its ids from the request body: 5 identical requests, one upstream id."""
    gateway, key = _guard(db_url)
    body = b'{"model": "wire-model", "max_tokens": 4, "messages": [{"role": "user", "content": "same"}]}'
    with _serving(gateway, wire) as base_url:
        answers = [_raw(base_url, body, key=key) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    upstream_ids = {a.json()["id"] for a in answers}
    assert len(upstream_ids) == 1  # the upstream really repeated itself
    rows = _logged(db_url)
    assert len(rows) == 5 and len({e.id for e in rows}) == 5
    assert {e.extra["upstream_id"] for e in rows} == upstream_ids
    # Each answer names its row: x-request-id is the exchange id.
    assert sorted(a.headers["x-request-id"] for a in answers) == sorted(e.id for e in rows)


# -- bad bodies: never a 500, always a row (issue 14 item 4; issue 19 items 2 and 5) -----------

HOSTILE = {
    "malformed JSON": b'{"model": "wire-model", "messages": [',
    "not UTF-8": b'{"model": "wire-model", "messages": "\xff\xfe"}',
    "an array": b'[{"model": "wire-model"}]',
    "nested 100000 deep": b'{"model": "wire-model", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nested 40 deep": b'{"model": "wire-model", "messages": ' + b"[" * 40 + b"]" * 40 + b"}",
    "5000-digit max_tokens": b'{"model": "wire-model", "max_tokens": ' + b"9" * 5000 + b', "messages": []}',
    "NaN temperature": b'{"model": "wire-model", "temperature": NaN, "messages": [{"role": "user"}]}',
    "lone surrogate in a key": b'{"model": "wire-model", "\\ud800": 1, "messages": []}',
    "empty messages": b'{"model": "wire-model", "messages": []}',
    "empty body": b"",
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_bad_bodies_get_a_clear_4xx_and_a_row(sqlite_url: str, wire: WireServer, case: str) -> None:
    gateway, key = _guard(sqlite_url, {**NO_RISK_ACTIONS, "limits": {"rpm": 100, "tpm": 100_000}})
    before = wire.stats()["requests"]
    with _serving(gateway, wire) as base_url:
        anonymous = _raw(base_url, HOSTILE[case])
        assert anonymous.status_code == 401, anonymous.text  # no key: 401 first, whatever the body
        answer = _raw(base_url, HOSTILE[case], key=key)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        # Admitted, then refused: it carries the rate-limit headers a client paces itself by.
        assert answer.headers["x-ratelimit-limit-requests"] == "100"
        assert int(answer.headers["x-ratelimit-remaining-requests"]) <= 99
        assert answer.headers["x-request-id"]
    rows = _logged(sqlite_url)
    assert [(r.account, r.status) for r in rows] == [(UNAUTHENTICATED, 401), ("alice", 400)]
    assert rows[1].id == answer.headers["x-request-id"] and rows[1].extra["error"] == error["message"]
    assert wire.stats()["requests"] == before  # none reached the upstream


def test_a_client_that_drops_mid_body_leaves_a_row_and_no_traceback(
    sqlite_url: str, wire: WireServer, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    gateway, key = _guard(sqlite_url)
    with _serving(gateway, wire) as base_url, caplog.at_level(logging.INFO):
        host, port = base_url.removeprefix("http://").removesuffix("/v1").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {key}\r\nContent-Length: 5000\r\n\r\n".encode()
                + b'{"model": "wire-model", "messages": [{"role": "us'
            )
            time.sleep(0.3)
        wait_for = time.monotonic() + 10
        while time.monotonic() < wait_for and not _logged(sqlite_url):
            time.sleep(0.05)
    assert "Traceback" not in caplog.text and "unexpected server error" not in caplog.text
    (row,) = _logged(sqlite_url)
    assert row.account == "alice" and row.status == 499
