"""The guard in front of the real server on loopback, driven by the official openai client.

The backend is the server's local backend on a tiny 2-layer model, wrapped to count
the requests that reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from distillscope.guard.gateway import GuardGateway, build_gateway, check_open_mode
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.secret import load_server_secret
from distillscope.records import Exchange

from .stack import NO_RISK_ACTIONS, guard_gateway, serve_backend

MODEL = "tiny"
CHAT = [{"role": "user", "content": "Say hi."}]


class CountingBackend:
    """The real local backend, counting what reaches it and keeping the parsed requests."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.calls = 0
        self.requests: list[Any] = []

    async def startup(self) -> None:
        await self.inner.startup()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    def health(self) -> dict[str, Any]:
        return self.inner.health()

    async def chat(self, request: Any, ctx: Any) -> Any:
        self.calls += 1
        self.requests.append(request.model_copy(deep=True))
        return await self.inner.chat(request, ctx)

    async def complete(self, request: Any, ctx: Any) -> Any:
        self.calls += 1
        self.requests.append(request.model_copy(deep=True))
        return await self.inner.complete(request, ctx)


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir: Path) -> tuple[Any, Any]:
    from distillscope.models import load_model

    return load_model(str(tiny_model_dir))


@pytest.fixture
def backend(tiny_model: tuple[Any, Any]) -> CountingBackend:
    from distillscope.server.backends.local import LocalBackend

    model, tokenizer = tiny_model
    return CountingBackend(LocalBackend(model, tokenizer, max_batch_size=8))


@contextlib.contextmanager
def serving(gateway: GuardGateway, backend: CountingBackend) -> Iterator[str]:
    with serve_backend(gateway, backend, MODEL) as base_url:
        yield base_url


def _gateway(db_url: str, policy: dict | None = None, **kwargs: Any) -> GuardGateway:
    return guard_gateway(db_url, policy or NO_RISK_ACTIONS, **kwargs)[0]


def _client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)


def _chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=4, **kwargs)


def _root(base_url: str) -> str:
    return base_url.removesuffix("/v1")


def _new_key(db_url: str, account: str, admin: bool = False) -> tuple[str, str]:
    store = KeyStore(db_url, load_server_secret())
    key, info = store.create_key(account, admin=admin)
    store.close()
    return key, info.key_id


def _logged(db_url: str) -> list[Exchange]:
    store = open_log_store(db_url)
    try:
        return list(store.iter_exchanges())
    finally:
        store.close()


# -- authentication ---------------------------------------------------------------------


def test_no_request_without_a_valid_key_reaches_the_backend(db_url: str, backend: CountingBackend) -> None:
    key, key_id = _new_key(db_url, "acme")
    with serving(_gateway(db_url), backend) as base_url:
        for bad in ("ds-not-a-real-key-000000000000", key + "x", "sk-" + key[3:], key.upper()):
            with pytest.raises(openai.AuthenticationError) as info:
                _chat(_client(base_url, bad))
            assert info.value.code == "invalid_api_key"
            assert key not in info.value.response.text
        for headers in ({}, {"Authorization": key}, {"Authorization": f"Basic {key}"}):
            answer = httpx.post(
                f"{base_url}/chat/completions", json={"model": MODEL, "messages": CHAT}, headers=headers
            )
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
        assert backend.calls == 0
        reply = _chat(_client(base_url, key))
        assert reply.choices[0].message.content is not None
        assert backend.calls == 1
    rows = _logged(db_url)
    refused = [r for r in rows if r.status == 401]
    assert len(refused) == 7 and {r.account for r in refused} == {"(unauthenticated)"}
    assert all(r.extra["decision"] == "unauthenticated" for r in refused)
    ok = [r for r in rows if r.status == 200]
    assert len(ok) == 1 and ok[0].account == "acme" and ok[0].key_id == key_id
    assert ok[0].extra["decision"] == "allow" and "risk_score" in ok[0].extra


def test_listing_models_needs_a_valid_key(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    with serving(_gateway(sqlite_url), backend) as base_url:
        with pytest.raises(openai.AuthenticationError) as info:
            _client(base_url, "ds-not-a-real-key-000000000000").models.list()
        assert info.value.code == "invalid_api_key"
        assert httpx.get(f"{base_url}/models/{MODEL}").status_code == 401
        assert [m.id for m in _client(base_url, key).models.list()] == [MODEL]
        assert _client(base_url, key).models.retrieve(MODEL).id == MODEL
    assert backend.calls == 0


def test_anonymous_refusals_are_logged_but_cannot_flood_the_log(
    sqlite_url: str, backend: CountingBackend
) -> None:
    _new_key(sqlite_url, "acme")
    huge = [{"role": "user", "content": "x" * 50_000}] * 40
    with serving(_gateway(sqlite_url), backend) as base_url:
        answer = httpx.post(
            f"{base_url}/chat/completions",
            json={"model": MODEL, "messages": huge, "junk": "y" * 10_000, "temperature": 0.5},
            headers={"Authorization": "Bearer ds-guessing-000000000000"},
        )
        assert answer.status_code == 401
    (row,) = _logged(sqlite_url)
    assert row.extra["truncated"] and len(row.messages or []) == 16
    assert all(len(m["content"]) == 2000 for m in row.messages or [])
    assert row.params == {"temperature": 0.5}  # unknown fields are not kept for refusals
    assert row.ip == "127.0.0.1" and backend.calls == 0


def test_revoked_key_stops_at_once(sqlite_url: str, backend: CountingBackend) -> None:
    key, key_id = _new_key(sqlite_url, "acme")
    admin_key, _ = _new_key(sqlite_url, "ops", admin=True)
    other_key, other_id = _new_key(sqlite_url, "beta")
    with serving(_gateway(sqlite_url), backend) as base_url:
        _chat(_client(base_url, key))
        # Revoked through the admin API ...
        answer = httpx.delete(
            f"{_root(base_url)}/admin/keys/{key_id}", headers={"Authorization": f"Bearer {admin_key}"}
        )
        assert answer.status_code == 200 and answer.json()["revoked"] is not None
        with pytest.raises(openai.AuthenticationError):
            _chat(_client(base_url, key))
        # ... and through another connection to the database, as `distillscope keys revoke` does.
        _chat(_client(base_url, other_key))
        cli_store = KeyStore(sqlite_url, load_server_secret())
        cli_store.revoke(other_id)
        cli_store.close()
        with pytest.raises(openai.AuthenticationError):
            _chat(_client(base_url, other_key))
        assert backend.calls == 2


def test_no_plaintext_key_in_the_sqlite_file_or_the_logs(
    sqlite_url: str, backend: CountingBackend, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    admin_key, _ = _new_key(sqlite_url, "ops", admin=True)
    with serving(_gateway(sqlite_url), backend) as base_url:
        _chat(_client(base_url, key))
        with pytest.raises(openai.AuthenticationError):
            _chat(_client(base_url, key + "typo"))
        created = httpx.post(
            f"{_root(base_url)}/admin/keys",
            json={"account": "newbie", "org": "Newbie Ltd", "payment_id": "card-4242-secret"},
            headers={"Authorization": f"Bearer {admin_key}"},
        ).json()
        assert created["org"] == "Newbie Ltd" and created["payment_id"].startswith("pay_")
        bad = httpx.post(
            f"{_root(base_url)}/admin/keys",
            json={"account": "x", "payment_id": 42},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "payment_id"
        _chat(_client(base_url, created["key"]))
        logging.getLogger("distillscope.test").warning("client sent Authorization: Bearer %s", key)
        logging.getLogger("uvicorn.error").error("bad key %s", admin_key)
    blob = b"".join(
        Path(p).read_bytes()
        for p in (sqlite_url, sqlite_url + "-wal", sqlite_url + "-shm")
        if os.path.exists(p)
    )
    assert b"acme" in blob and b"newbie" in blob  # the file holds the accounts and their exchanges
    assert b"card-4242-secret" not in blob  # the payment id only as a keyed hash
    for secret in (key, key + "typo", admin_key, created["key"]):
        assert secret.encode() not in blob
        assert secret[3:].encode() not in blob
        assert secret not in caplog.text
    err = capfd.readouterr().err
    assert "Bearer ***" in caplog.text and "bad key ds-***" in err and admin_key not in err


@pytest.mark.postgres
def test_postgres_gateway_end_to_end(pg_url: str, backend: CountingBackend) -> None:
    import psycopg

    key, key_id = _new_key(pg_url, "acme")
    with serving(_gateway(pg_url), backend) as base_url:
        client = _client(base_url, key)
        for _ in range(3):
            _chat(client)
        with pytest.raises(openai.AuthenticationError):
            _chat(_client(base_url, key + "x"))
        store = KeyStore(pg_url, load_server_secret())
        store.revoke(key_id)
        with pytest.raises(openai.AuthenticationError):
            _chat(client)
    rows = _logged(pg_url)
    assert [r.status for r in rows].count(200) == 3 and [r.status for r in rows].count(401) == 2
    with psycopg.connect(pg_url) as conn:
        dump = "".join(
            str(row)
            for table in ("ds_api_keys", "ds_accounts", "ds_meta", "ds_exchanges")
            for row in conn.execute(f"SELECT * FROM {table}").fetchall()
        )
    assert key_id in dump and key not in dump and key[3:] not in dump


# -- admin API -------------------------------------------------------------------------


def test_admin_isolation(sqlite_url: str, backend: CountingBackend) -> None:
    alice, alice_id = _new_key(sqlite_url, "alice")
    bob, _ = _new_key(sqlite_url, "bob")
    admin, _ = _new_key(sqlite_url, "ops", admin=True)
    with serving(_gateway(sqlite_url), backend) as base_url:
        root = _root(base_url)
        _chat(_client(base_url, alice), logprobs=True, top_logprobs=3)
        _chat(_client(base_url, bob))

        def get(path: str, key: str) -> httpx.Response:
            return httpx.get(root + path, headers={"Authorization": f"Bearer {key}"})

        assert get("/admin/keys", alice).status_code == 403
        assert get("/admin/keys", alice).json()["error"]["type"] == "permission_error"
        assert httpx.get(root + "/admin/accounts").status_code == 401
        mine = get("/admin/accounts", alice).json()["data"]
        assert [row["account"] for row in mine] == ["alice"]
        # Usage and limits only: a score a harvester can read is an oracle to tune against.
        assert mine[0]["requests"] == 1 and mine[0]["limits"] == {"rpm": 0, "tpm": 0}
        assert not {"score", "features", "reasons"} & set(mine[0])
        assert get("/admin/accounts/bob", alice).status_code == 404  # not even its existence
        assert get("/admin/accounts/nobody", alice).status_code == 404
        own = get("/admin/accounts/alice", alice).json()
        assert own["keys"][0]["key_id"] == alice_id and own["log"]["logged_requests"] >= 1
        assert not {"score", "features", "reasons"} & set(own)
        assert "/admin" not in httpx.get(root + "/openapi.json").text  # no map of the admin API
        assert "key_hmac" not in str(own) and alice not in str(own)
        create = httpx.post(
            root + "/admin/keys", json={"account": "x"}, headers={"Authorization": f"Bearer {bob}"}
        )
        assert create.status_code == 403
        revoke = httpx.delete(f"{root}/admin/keys/{alice_id}", headers={"Authorization": f"Bearer {bob}"})
        assert revoke.status_code == 403
        everyone = get("/admin/accounts", admin).json()["data"]
        assert {row["account"] for row in everyone} == {"alice", "bob", "ops"}
        alice_row = next(row for row in everyone if row["account"] == "alice")
        # one request is no evidence yet (the score is evidence-scaled); the signal is listed, at 0
        assert "logprobs" in alice_row["features"] and alice_row["requests"] == 1
        assert get("/admin/accounts/bob", admin).status_code == 200
        assert get("/admin/accounts/nobody", admin).status_code == 404
        listed = get("/admin/keys", admin).json()["data"]
        assert len(listed) == 3 and all("key" not in row and "key_hmac" not in row for row in listed)
        bad = httpx.post(root + "/admin/keys", content=b"{nope", headers={"Authorization": f"Bearer {admin}"})
        assert bad.status_code == 400
        bad = httpx.post(
            root + "/admin/keys", json={"account": "a b"}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert bad.status_code == 400 and "invalid account" in bad.json()["error"]["message"]
        assert (
            httpx.delete(
                root + "/admin/keys/key_nope", headers={"Authorization": f"Bearer {admin}"}
            ).status_code
            == 404
        )
    assert backend.calls == 2


# -- policy actions --------------------------------------------------------------------


def test_forced_block_is_a_403_and_logged_with_its_reason(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "mallory")
    policy = {"accounts": {"mallory": {"action": "block"}}}
    with serving(_gateway(sqlite_url, policy), backend) as base_url:
        with pytest.raises(openai.PermissionDeniedError) as info:
            _chat(_client(base_url, key))
        error = info.value.response.json()["error"]
        assert error["type"] == "permission_error" and error["code"] == "account_blocked"
        assert "policy" in error["message"] and "risk" not in error["message"]  # no hints for evasion
    assert backend.calls == 0
    (row,) = _logged(sqlite_url)
    assert row.status == 403 and row.extra["decision"] == "block"
    assert row.extra["decision_reasons"] == ["account blocked by policy"]


def test_risk_block_after_reasoning_harvesting(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "harvester")
    casual, _ = _new_key(sqlite_url, "casual")
    policy = {"risk": {"block": 0.1, "throttle": None, "strip_logprobs": None}}
    with serving(_gateway(sqlite_url, policy), backend) as base_url:
        client = _client(base_url, key)
        blocked_at = None
        for i in range(40):  # a harvest asks new questions (a re-asked one takes out nothing new)
            harvest = [{"role": "user", "content": f"Solve step by step, show your full reasoning: {i} + 2?"}]
            try:
                client.chat.completions.create(model=MODEL, messages=harvest, max_tokens=4)
            except openai.PermissionDeniedError:
                blocked_at = i
                break
        _chat(_client(base_url, casual))  # another account is not affected
    assert blocked_at is not None and blocked_at >= 1
    assert backend.calls == blocked_at + 1
    rows = _logged(sqlite_url)
    blocked = [r for r in rows if r.extra.get("decision") == "block"]
    assert len(blocked) == 1 and blocked[0].account == "harvester"
    assert "block threshold" in blocked[0].extra["decision_reasons"][0]
    assert any(reason.startswith("cot:") for reason in blocked[0].extra["decision_reasons"])


def test_strip_logprobs(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    policy = {"risk": {"strip_logprobs": 0.0, "throttle": None, "block": None}}
    with serving(_gateway(sqlite_url, policy), backend) as base_url:
        reply = _chat(_client(base_url, key), logprobs=True, top_logprobs=5)
        assert reply.choices[0].logprobs is None
        plain = _client(base_url, key).completions.create(model=MODEL, prompt="Hi", max_tokens=2, logprobs=3)
        assert plain.choices[0].logprobs is None
    assert backend.requests[0].logprobs is False and backend.requests[0].top_logprobs is None
    rows = [r for r in _logged(sqlite_url) if r.status == 200]
    assert rows and all(
        r.extra["decision"] == "strip_logprobs" and r.extra["logprobs_stripped"] for r in rows
    )
    assert "strip_logprobs threshold" in rows[0].extra["decision_reasons"][0]


def test_logprobs_pass_when_risk_is_below_the_threshold(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    policy = {"risk": {"strip_logprobs": 0.99, "throttle": None, "block": None}}
    with serving(_gateway(sqlite_url, policy), backend) as base_url:
        reply = _chat(_client(base_url, key), logprobs=True, top_logprobs=2)
    assert reply.choices[0].logprobs is not None  # the control: the strip above is the policy's doing


def test_throttle_delays_and_logs(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    policy = {"risk": {"throttle": 0.0, "throttle_delay_ms": 300, "strip_logprobs": None, "block": None}}
    with serving(_gateway(sqlite_url, policy), backend) as base_url:
        started = time.perf_counter()
        _chat(_client(base_url, key))
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.3  # a lower bound: the delay really happened
    (row,) = _logged(sqlite_url)
    assert row.extra["decision"] == "throttle" and "delayed 300 ms" in row.extra["decision_reasons"][0]


def test_rpm_limit_is_a_429_with_headers(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    other, _ = _new_key(sqlite_url, "beta")
    with serving(_gateway(sqlite_url, {"limits": {"rpm": 2}}), backend) as base_url:
        client = _client(base_url, key)
        _chat(client)
        _chat(client)
        with pytest.raises(openai.RateLimitError) as info:
            _chat(client)
        _chat(_client(base_url, other))  # per account
    headers = info.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert info.value.code == "rate_limit_exceeded"
    assert backend.calls == 3
    limited = [r for r in _logged(sqlite_url) if r.status == 429]
    assert len(limited) == 1 and limited[0].extra["decision"] == "rate_limited"
    assert "requests per minute limit 2" in limited[0].extra["decision_reasons"][0]


def test_successful_answers_carry_rate_limit_headers(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    with serving(_gateway(sqlite_url, {"limits": {"rpm": 5, "tpm": 10_000}}), backend) as base_url:
        client = _client(base_url, key)
        first = client.chat.completions.with_raw_response.create(model=MODEL, messages=CHAT, max_tokens=4)
        second = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=CHAT, max_tokens=4, stream=True
        )
        list(second.parse())  # the stream's headers came before its first byte
    assert first.headers["x-ratelimit-limit-requests"] == "5"
    assert first.headers["x-ratelimit-remaining-requests"] == "4"
    assert second.headers["x-ratelimit-remaining-requests"] == "3"
    assert first.headers["x-ratelimit-limit-tokens"] == "10000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 10_000
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")


def test_tpm_limit(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    with serving(_gateway(sqlite_url, {"limits": {"tpm": 40}}), backend) as base_url:
        client = _client(base_url, key)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=200)
        assert "x-ratelimit-limit-tokens" in info.value.response.headers
        _chat(client)  # a small request fits the same minute
    assert backend.calls == 1


# -- the log loses nothing --------------------------------------------------------------


def test_concurrent_requests_all_logged_after_clean_shutdown(db_url: str, backend: CountingBackend) -> None:
    keys = [_new_key(db_url, f"acct{i}")[0] for i in range(4)]
    n = 48
    errors: list[BaseException] = []
    with serving(_gateway(db_url), backend) as base_url:

        async def main() -> None:
            clients = [openai.AsyncOpenAI(base_url=base_url, api_key=k, max_retries=0) for k in keys]

            async def one(i: int) -> None:
                client = clients[i % len(clients)]
                if i % 3 == 0:
                    stream = await client.chat.completions.create(
                        model=MODEL,
                        messages=[{"role": "user", "content": f"q{i}"}],
                        max_tokens=3,
                        stream=True,
                    )
                    async for _ in stream:
                        pass
                else:
                    await client.completions.create(model=MODEL, prompt=f"q{i}", max_tokens=3)

            results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
            errors.extend(r for r in results if isinstance(r, BaseException))
            for client in clients:
                await client.close()

        asyncio.run(main())
    assert not errors
    rows = _logged(db_url)
    assert len(rows) == n and len({r.id for r in rows}) == n
    assert sorted(r.last_user_text for r in rows) == sorted(f"q{i}" for i in range(n))
    assert all(r.status == 200 and r.response_text is not None for r in rows)
    assert all(r.extra["decision"] == "allow" and "risk_score" in r.extra for r in rows)
    streamed = [r for r in rows if r.params.get("stream")]
    assert len(streamed) == n // 3 and all(r.completion_tokens for r in streamed)


# -- metrics, open mode, builder -------------------------------------------------------


def test_metrics(sqlite_url: str, backend: CountingBackend) -> None:
    key, _ = _new_key(sqlite_url, "acme")
    with serving(_gateway(sqlite_url, {"limits": {"rpm": 1}}), backend) as base_url:
        _chat(_client(base_url, key))
        with pytest.raises(openai.RateLimitError):
            _chat(_client(base_url, key))
        with pytest.raises(openai.AuthenticationError):
            _chat(_client(base_url, "ds-wrong-key-123456789"))
        deadline = time.monotonic() + 10
        while True:  # records are written from a background task
            text = httpx.get(_root(base_url) + "/metrics").text
            if 'distillscope_requests_total{endpoint="/v1/chat/completions",status="200"} 1.0' in text:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    assert 'distillscope_requests_total{endpoint="/v1/chat/completions",status="429"} 1.0' in text
    assert 'distillscope_guard_decisions_total{action="rate_limited"} 1.0' in text
    assert 'distillscope_guard_decisions_total{action="allow"} 1.0' in text
    assert "distillscope_guard_auth_failures_total 1.0" in text
    assert "distillscope_request_latency_seconds_bucket" in text
    assert "distillscope_guard_log_queue_depth" in text
    assert "acme" not in text and key not in text


def test_open_mode_needs_no_key_and_is_loopback_only(sqlite_url: str, backend: CountingBackend) -> None:
    gateway = build_gateway(sqlite_url, None, open_mode=True)
    with serving(gateway, backend) as base_url:
        reply = _chat(_client(base_url, "anything"))
        assert reply.choices
        accounts = httpx.get(_root(base_url) + "/admin/accounts").json()["data"]
        assert [row["account"] for row in accounts] == ["local"]
    (row,) = _logged(sqlite_url)
    assert row.account == "local" and row.key_id is None
    check_open_mode("127.0.0.1")
    with pytest.raises(ValueError, match="local use only"):
        check_open_mode("0.0.0.0")
    check_open_mode("0.0.0.0", force=True)


def test_build_gateway_reads_the_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[limits]\nrpm = 9\n[accounts.x]\naction = "block"\n')
    gateway = build_gateway(str(tmp_path / "g.db"), str(policy), open_mode=False)
    assert gateway.policy.config.limits.rpm == 9 and gateway.keys is not None
    policy.write_text("[limits]\nrpm = -3\n")
    with pytest.raises(ValueError, match="non-negative"):
        build_gateway(str(tmp_path / "g.db"), str(policy), open_mode=False)


def test_threads_share_nothing_unsafe(sqlite_url: str) -> None:
    """Key lookups from many threads at once (the server's loop and the admin API's workers)."""
    store = KeyStore(sqlite_url, load_server_secret())
    key, _ = store.create_key("acme")
    results: list[bool] = []

    def look() -> None:
        for _ in range(200):
            results.append(store.authenticate(key) is not None)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800 and all(results)


def test_open_mode_refuses_clients_off_loopback(sqlite_url: str) -> None:
    from starlette.requests import Request

    from distillscope.server.errors import APIError

    def request(host: str) -> Request:
        headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")]
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "client": (host, 5000)}
        return Request(scope)

    gateway = build_gateway(sqlite_url, None, open_mode=True)
    assert asyncio.run(gateway.authenticate(request("127.0.0.1"))).account == "local"
    assert asyncio.run(gateway.authenticate(request("::1"))).account == "local"
    with pytest.raises(APIError) as info:
        asyncio.run(gateway.authenticate(request("10.1.2.3")))
    assert info.value.status == 403 and info.value.code == "open_mode_loopback_only"
    gateway.allow_remote_open = True
    assert asyncio.run(gateway.authenticate(request("10.1.2.3"))).account == "local"


@pytest.mark.postgres
def test_key_store_outage_is_a_503_and_recovers(pg_url: str) -> None:
    from dataclasses import replace

    from starlette.requests import Request

    from distillscope.server.errors import APIError

    gateway = _gateway(pg_url)
    assert gateway.keys is not None
    key, _ = gateway.keys.create_key("acme")
    headers = [(b"authorization", f"Bearer {key}".encode())]
    request = Request(
        {"type": "http", "method": "POST", "path": "/", "headers": headers, "client": ("127.0.0.1", 1)}
    )
    gateway.keys._conn.close()  # the connection dropped: the next lookup reconnects
    assert asyncio.run(gateway.authenticate(request)).account == "acme"
    good = gateway.keys.db
    gateway.keys._conn.close()
    gateway.keys.db = replace(good, target="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(APIError) as info:
        asyncio.run(gateway.authenticate(request))
    assert info.value.status == 503 and info.value.headers["retry-after"] == "1"
    gateway.keys.db = good
    assert asyncio.run(gateway.authenticate(request)).account == "acme"


def test_risk_scores_survive_a_restart(sqlite_url: str, backend: CountingBackend, tiny_model) -> None:
    from distillscope.server.backends.local import LocalBackend

    key, _ = _new_key(sqlite_url, "harvester")
    admin, _ = _new_key(sqlite_url, "ops", admin=True)
    with serving(_gateway(sqlite_url), backend) as base_url:
        for i in range(12):  # new questions: a re-asked one is no harvest evidence
            harvest = [{"role": "user", "content": f"Solve step by step, show your full reasoning: {i} + 2?"}]
            _client(base_url, key).chat.completions.create(
                model=MODEL, messages=harvest, max_tokens=64, logprobs=True, top_logprobs=20
            )
        before = httpx.get(
            _root(base_url) + "/admin/accounts/harvester", headers={"Authorization": f"Bearer {admin}"}
        )
    again = CountingBackend(LocalBackend(*tiny_model, max_batch_size=2))
    with serving(_gateway(sqlite_url), again) as base_url:
        after = httpx.get(
            _root(base_url) + "/admin/accounts/harvester", headers={"Authorization": f"Bearer {admin}"}
        )
    assert before.json()["requests"] == after.json()["requests"] == 12
    assert after.json()["features"]["logprobs"] == before.json()["features"]["logprobs"] > 3
    assert after.json()["score"] == pytest.approx(before.json()["score"], abs=1e-3)
    assert after.json()["score"] > 0.1 and again.calls == 0


def test_failed_requests_give_their_tokens_back(sqlite_url: str) -> None:
    from starlette.requests import Request

    from distillscope.server.errors import APIError

    gateway = _gateway(sqlite_url, {"limits": {"tpm": 100}, "risk": {"throttle": None}})
    assert gateway.keys is not None
    key, _ = gateway.keys.create_key("acme")
    headers = [(b"authorization", f"Bearer {key}".encode())]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "client": ("127.0.0.1", 1)}
    body = {"model": "nope", "messages": CHAT, "max_tokens": 60}

    async def main() -> None:
        await gateway.startup()
        for _ in range(3):  # each would take 62 of the 100 tokens; failures give them back
            admission = await gateway.admit(Request(scope), "/v1/chat/completions", body)
            failed = Exchange(
                id=os.urandom(8).hex(), ts=time.time(), account=admission.account, messages=CHAT, status=404
            )
            await gateway.record(failed)
        await gateway.admit(Request(scope), "/v1/chat/completions", body)  # this one is not settled
        with pytest.raises(APIError) as info:
            await gateway.admit(Request(scope), "/v1/chat/completions", body)
        assert info.value.status == 429
        await gateway.shutdown()

    asyncio.run(main())
