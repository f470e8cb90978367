"""Keys and the exchange log on both stores (SQLite and a real PostgreSQL server)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from distillscope.guard.keys import KeyStore, KeyStoreError
from distillscope.guard.logstore import open_log_store
from distillscope.guard.secret import SecretError, load_server_secret
from distillscope.records import Exchange

SECRET = b"test-secret-0123456789abcdef-guard"


def _exchange(i: int, account: str = "acme", **extra: object) -> Exchange:
    return Exchange(
        id=f"ex-{i}",
        ts=1_700_000_000 + i,
        account=account,
        messages=[{"role": "user", "content": f"question {i}"}],
        params={"temperature": 0.0, "logit_bias": {"42": -100}},
        response_text=f"answer {i}",
        status=200,
        extra=dict(extra),
    )


def test_key_lifecycle(db_url: str) -> None:
    store = KeyStore(db_url, SECRET)
    key, info = store.create_key("acme")
    assert key.startswith("ds-") and len(key) > 40
    assert store.authenticate(key) == info
    assert store.authenticate(key + "x") is None
    assert store.authenticate("not-a-key") is None
    _, admin = store.create_key("ops", admin=True)
    assert [k.key_id for k in store.list_keys()] == [info.key_id, admin.key_id]
    assert [k.key_id for k in store.list_keys("ops")] == [admin.key_id]
    revoked = store.revoke(info.key_id)
    assert revoked.revoked is not None
    assert store.authenticate(key) is None
    assert store.revoke(info.key_id).revoked == revoked.revoked  # idempotent
    with pytest.raises(KeyStoreError, match="no key"):
        store.revoke("key_missing")
    assert store.accounts() == ["acme", "ops"]
    store.close()


def test_revocation_is_seen_by_another_connection(db_url: str) -> None:
    server_side, cli_side = KeyStore(db_url, SECRET), KeyStore(db_url, SECRET)
    key, info = cli_side.create_key("acme")
    assert server_side.authenticate(key) is not None
    cli_side.revoke(info.key_id)
    assert server_side.authenticate(key) is None


def test_wrong_secret_is_a_clear_error(db_url: str) -> None:
    KeyStore(db_url, SECRET).create_key("acme")
    with pytest.raises(KeyStoreError, match="different server secret"):
        KeyStore(db_url, b"another-secret-0123456789")


@pytest.mark.parametrize("bad", ["", "has space", "x" * 200, "../etc", "-lead"])
def test_bad_account_names(sqlite_url: str, bad: str) -> None:
    with pytest.raises(KeyStoreError, match="invalid account"):
        KeyStore(sqlite_url, SECRET).create_key(bad)


def test_sqlite_file_holds_no_plaintext_key(sqlite_url: str) -> None:
    store = KeyStore(sqlite_url, SECRET)
    keys = [store.create_key(f"acct{i}")[0] for i in range(5)]
    store.close()
    blob = b"".join(Path(p).read_bytes() for p in (sqlite_url, sqlite_url + "-wal") if os.path.exists(p))
    assert blob  # the file was really written
    for key in keys:
        assert key.encode() not in blob
        assert key[3:].encode() not in blob  # not even without its prefix


@pytest.mark.postgres
def test_postgres_holds_no_plaintext_key(pg_url: str) -> None:
    import psycopg

    store = KeyStore(pg_url, SECRET)
    key, _ = store.create_key("acme")
    with psycopg.connect(pg_url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
        assert "ds_api_keys" in tables
        dump = "".join(
            str(row) for table in tables for row in conn.execute(f"SELECT * FROM {table}").fetchall()
        )
    assert "acme" in dump
    assert key not in dump and key[3:] not in dump


def test_secret_file_is_private_and_stable(tmp_path, monkeypatch) -> None:
    path = tmp_path / "server.secret"
    first = load_server_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_server_secret(path) == first
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        load_server_secret(path)
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", "short")
    with pytest.raises(SecretError, match="shorter"):
        load_server_secret(path)
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", "a-long-enough-secret-from-env")
    assert load_server_secret(path) == b"a-long-enough-secret-from-env"


def test_log_store_roundtrip_and_idempotence(db_url: str) -> None:
    store = open_log_store(db_url, create=True)
    batch = [_exchange(i, decision="allow", decision_reasons=[]) for i in range(10)]
    store.write_batch(batch)
    store.write_batch(batch[:3])  # a retried batch must not duplicate
    assert store.count() == 10
    back = list(store.iter_exchanges())
    assert [e.id for e in back] == [e.id for e in batch]
    assert back[0].params["logit_bias"] == {"42": -100}
    assert back[0].extra["decision"] == "allow"
    store.write_batch([_exchange(99, account="other")])
    assert [e.id for e in store.iter_exchanges(account="other")] == ["ex-99"]
    summary = store.account_summary("acme")
    assert summary["logged_requests"] == 10 and summary["by_status"] == {"200": 10}
    store.close()


def test_iter_reads_in_chunks(sqlite_url: str) -> None:
    store = open_log_store(sqlite_url, create=True)
    store.write_batch([_exchange(i) for i in range(25)])
    assert len(list(store.iter_exchanges(chunk=7))) == 25


def test_open_log_store_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        open_log_store(str(tmp_path / "missing.db"))
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not an SQLite database"):
        open_log_store(str(bad))
    with pytest.raises(ValueError, match="unsupported"):
        open_log_store("mysql://x")
    with pytest.raises(ConnectionError, match="cannot connect"):
        open_log_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_row_json_matches_the_record_format() -> None:
    import json

    from distillscope.guard.logstore import exchange_json

    exchange = _exchange(1, decision="allow", nested={"a": [1, {"b": None}]})
    exchange.logprobs = [{"token": "x", "logprob": -0.1, "top_logprobs": []}]
    assert json.loads(exchange_json(exchange)) == exchange.to_dict()


def test_every_record_is_storable(db_url: str) -> None:
    """Lone surrogates (no driver encodes them), NULs (PostgreSQL refuses them), NaN (JSONB
    refuses it) and deep nesting are replaced, and the record says so; nothing is refused."""
    deep: object = "bottom"
    for _ in range(200):
        deep = [deep]
    odd = Exchange(
        id="odd-\x00",
        ts=1_700_000_000,
        account="acme",
        messages=[{"role": "user", "content": "lone \ud800 and nul \x00 here"}],
        params={"temperature": float("nan"), "top_p": float("inf"), "stop": deep},
        extra={"weird\ud83d": "x"},
    )
    store = open_log_store(db_url, create=True)
    store.write_batch([_exchange(1), odd, _exchange(2)])
    back = {e.id: e for e in store.iter_exchanges()}
    assert set(back) == {"ex-1", "odd-\ufffd", "ex-2"}
    stored = back["odd-\ufffd"]
    assert stored.messages == [{"role": "user", "content": "lone \ufffd and nul \ufffd here"}]
    assert stored.params["temperature"] == "nan" and stored.params["top_p"] == "inf"
    assert stored.extra["weird\ufffd"] == "x"
    replaced = stored.extra["storage_replaced"]
    assert replaced["lone_surrogate"] == 2 and replaced["nul"] == 2  # the id and the content
    assert replaced["non_finite_number"] == 2 and replaced["too_deep"] == 1
    assert "storage_replaced" not in back["ex-1"].extra  # clean records are untouched
    store.close()
