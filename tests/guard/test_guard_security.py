"""Security of the gateway (issue 14, items 3 and 6-9), against the real server on loopback.

The backend is an upstream relay to the wire-format test server (real HTTP), so these
tests need no model. Each checks what is stored or relayed, not only the status.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.guard.db import parse_db_url
from distillscope.guard.gateway import UNAUTHENTICATED, GuardGateway
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.policy import PolicySettings
from distillscope.guard.redact import install_redaction
from distillscope.guard.secret import load_server_secret
from distillscope.records import Exchange
from distillscope.server.backends.upstream import UpstreamBackend
from distillscope.server.gateway import OpenGateway
from distillscope.server.urls import redact_url
from distillscope.testing.wire_server import Faults, WireServer

from .stack import relay

MODEL = "wire-model"
NO_RISK_ACTIONS = {"risk": {"throttle": None, "strip_logprobs": None, "block": None}}
CHAT = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def wire() -> Iterator[WireServer]:
    with WireServer(model=MODEL) as server:
        yield server


def _guard(db_url: str, open_mode: bool = False) -> tuple[GuardGateway, str | None]:
    config = PolicySettings.from_dict(NO_RISK_ACTIONS)
    if open_mode:
        return GuardGateway(None, open_log_store(db_url, create=True), config, open_mode=True), None
    keys = KeyStore(db_url, load_server_secret())
    key, _ = keys.create_key("alice")
    return GuardGateway(keys, open_log_store(db_url, create=True), config), key


def _logged(db_url: str) -> list[Exchange]:
    store = open_log_store(db_url)
    try:
        return list(store.iter_exchanges())
    finally:
        store.close()


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


# -- item 3: request size ------------------------------------------------------------------


def test_oversized_bodies_are_413_and_refused_rows_are_capped(sqlite_url: str, wire: WireServer) -> None:
    gateway, key = _guard(sqlite_url)
    limit = 256 * 1024
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * (limit + 10)}]}
    large = {**CHAT, "messages": [{"role": "user", "content": "y" * 200_000}], "stop": ["z" * 50_000]}
    with relay(gateway, wire.base_url, MODEL, max_body_mb=limit / 2**20) as base_url:
        for headers in ({}, _auth(key)):  # refused while reading, before or after a key
            answer = httpx.post(base_url + "/chat/completions", json=big, headers=headers, timeout=30)
            assert answer.status_code in (401, 413), answer.text
            assert answer.json()["error"]["code"] in ("invalid_api_key", "request_too_large")
        chunked = httpx.post(  # no Content-Length: the limit holds while streaming the body in
            base_url + "/chat/completions",
            content=iter([json.dumps(big).encode()[i : i + 65536] for i in range(0, limit + 100_000, 65536)]),
            headers={**_auth(key), "Content-Type": "application/json"},
            timeout=30,
        )
        assert chunked.status_code == 413
        refused = httpx.post(base_url + "/chat/completions", json=large, timeout=30)  # no key
        assert refused.status_code == 401
        assert httpx.get(base_url.removesuffix("/v1") + "/health", timeout=5).status_code == 200
    assert wire.stats()["requests"] == 0  # nothing oversized reached the upstream
    rows = _logged(sqlite_url)
    assert [r.status for r in rows] == [401, 413, 413, 401]
    assert rows[1].account == rows[2].account == "alice" and rows[1].extra["error"].startswith(
        "The request body"
    )
    stored = len(json.dumps(rows[3].to_dict()))
    assert stored < 10_000 and rows[3].extra["truncated"] is True  # a 250 KB refusal stored in < 10 KB


# -- item 6: the risk score is no oracle -----------------------------------------------------


# (tests/guard/test_guard_server.py::test_admin_isolation checks the admin API itself)


# -- item 7: URLs without credentials ------------------------------------------------------


def test_health_and_errors_never_show_upstream_credentials(wire: WireServer) -> None:
    port = wire.base_url.split(":")[-1].split("/")[0]
    upstream = f"http://operator:hunter2@127.0.0.1:{port}/v1"
    with relay(OpenGateway(), upstream, MODEL) as base_url:
        health = httpx.get(base_url.removesuffix("/v1") + "/health", timeout=5)
        assert health.status_code == 200 and "hunter2" not in health.text and "operator" not in health.text
        assert health.json()["upstream"] == f"http://***@127.0.0.1:{port}/v1"
    assert "hunter2" not in repr(UpstreamBackend(upstream, upstream_model=MODEL))
    assert redact_url("https://u:p@h/v1?api_key=s3cret#x") == "https://***@h/v1?***"
    assert "pw" not in parse_db_url("postgresql://ds:pw@db:5432/log?password=pw").redacted()


def test_upstream_auth_errors_are_not_relayed_verbatim(wire: WireServer) -> None:
    wire.set_faults(Faults(api_key="the-right-key"))
    with relay(OpenGateway(), wire.base_url, MODEL, upstream_key="sk-wrong-key-1234") as base_url:
        answer = httpx.post(base_url + "/chat/completions", json=CHAT, timeout=30)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "upstream_auth_failed"
    assert "Incorrect API key" not in answer.text and "1234" not in answer.text


# -- item 8: open mode and web pages ------------------------------------------------------


@pytest.mark.parametrize("kind", ["guard-open", "open-gateway"])
def test_open_mode_refuses_web_pages(sqlite_url: str, wire: WireServer, kind: str) -> None:
    gateway = _guard(sqlite_url, open_mode=True)[0] if kind == "guard-open" else OpenGateway()
    body = json.dumps(CHAT)
    with relay(gateway, wire.base_url, MODEL) as base_url:
        url = base_url + "/chat/completions"
        port = base_url.split(":")[-1].split("/")[0]
        simple = httpx.post(url, content=body, headers={"Content-Type": "text/plain"}, timeout=30)
        assert simple.status_code == 415  # a page's no-preflight POST
        foreign = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "Origin": "https://evil.example"},
            timeout=30,
        )
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "cross_origin_refused"
        rebound = httpx.get(base_url + "/models", headers={"Host": f"evil.example:{port}"}, timeout=30)
        assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "host_not_allowed"
        fetch = httpx.post(url, json=CHAT, headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
        assert fetch.status_code == 403
        assert wire.stats()["requests"] == 0  # none of them spent the upstream
        local = httpx.post(url, json=CHAT, headers={"Origin": f"http://localhost:{port}"}, timeout=30)
        assert local.status_code == 200, local.text
        assert httpx.get(base_url + "/models", timeout=30).status_code == 200
    if kind == "guard-open":
        rows = _logged(sqlite_url)
        assert [r.status for r in rows] == [415, 403, 403, 200]
        assert all(r.account == UNAUTHENTICATED for r in rows[:3]) and rows[3].account == "local"


# -- item 9: the smaller ones ------------------------------------------------------------


def test_key_redaction_keeps_uvicorn_access_log_working() -> None:
    from uvicorn.logging import AccessFormatter

    install_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("test.uvicorn.access")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        key = "ds-" + "A" * 43
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/v1/models?api_key={key}", "1.1", 200)
        logger.info("Authorization: Bearer %s", "sk-live-secret")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" not in text and key not in text and "sk-live-secret" not in text
    assert "GET /v1/models?api_key=*** HTTP/1.1" in text and "200" in text


def test_non_text_content_never_reaches_the_upstream(wire: WireServer) -> None:
    image = [{"type": "image_url", "image_url": {"url": "http://x/cat.png"}}]
    with relay(OpenGateway(), wire.base_url, MODEL) as base_url:
        answer = httpx.post(
            base_url + "/chat/completions",
            json={**CHAT, "messages": [{"role": "user", "content": image}]},
            timeout=30,
        )
    assert answer.status_code == 400 and "image_url" in answer.json()["error"]["message"]
    assert wire.stats()["requests"] == 0


@pytest.mark.parametrize(
    "url", ["mysql://ds:hunter2@db/log?password=hunter2", "sqlite://ds:hunter2@host/x.db?key=hunter2"]
)
def test_a_refused_database_url_is_named_without_its_password(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\*\*\*@") as refused:
        parse_db_url(url)
    assert "hunter2" not in str(refused.value)
    # and on the command line, where the message reaches the operator's terminal (and scrollback)
    result = CliRunner().invoke(app, ["keys", "list", "--db", url])
    assert result.exit_code != 0 and "hunter2" not in result.output and "***@" in result.output
