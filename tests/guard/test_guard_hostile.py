"""Hostile input through the guard and the real server on loopback: the log loses no row.

Issue 14: one request holding a character a store cannot keep (a lone surrogate for
SQLite, a NUL for PostgreSQL) used to stop the exchange log for good; an upstream
that repeats response ids used to make rows vanish. Every test here reads the
log back from the store, not only the HTTP status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from distillscope.guard.gateway import UNAUTHENTICATED, GuardGateway
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.policy import PolicyConfig
from distillscope.guard.secret import load_server_secret
from distillscope.records import Exchange
from distillscope.server.app import create_app
from distillscope.server.backends.upstream import UpstreamBackend
from distillscope.server.runner import serve_in_thread
from distillscope.testing.wire_server import WireServer

MODEL = "wire-model"
NO_RISK_ACTIONS = {"risk": {"throttle": None, "strip_logprobs": None, "block": None}}


@pytest.fixture(scope="module")
def wire() -> Iterator[WireServer]:
    with WireServer(model=MODEL) as server:
        yield server


def _guard(db_url: str, policy: dict[str, Any] | None = None) -> tuple[GuardGateway, str]:
    keys = KeyStore(db_url, load_server_secret())
    key, _ = keys.create_key("alice")
    config = PolicyConfig.from_dict(policy or NO_RISK_ACTIONS)
    return GuardGateway(keys, open_log_store(db_url, create=True), config), key


@contextlib.contextmanager
def _serving(gateway: GuardGateway, wire: WireServer) -> Iterator[str]:
    backend = UpstreamBackend(wire.base_url, upstream_model=MODEL)
    with serve_in_thread(create_app(backend, model_name=MODEL, gateway=gateway)) as base_url:
        yield base_url


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
