"""Account metadata on every logged exchange, and the watch list acted on from the next request.

Both through the real server on loopback (upstream: the wire-format test server),
driven by the official openai client, on SQLite and PostgreSQL; the CLI commands
(`keys create --org --payment-id`, `guard watch load|list|remove`) are run as a
user would run them.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.guard.keys import KeyStore, KeyStoreError, payment_hash
from distillscope.guard.logstore import open_log_store
from distillscope.guard.secret import load_server_secret
from distillscope.guard.watchlist import WatchEntry, WatchStore, entries_from_detection, parse_ttl
from distillscope.records import Exchange
from distillscope.testing.wire_server import WireServer

from .stack import guard_gateway, relay

MODEL = "wire-model"
CHAT = [{"role": "user", "content": "Say hi."}]
RUNNER = CliRunner()


@pytest.fixture(scope="module")
def wire() -> Iterator[WireServer]:
    with WireServer(model=MODEL) as server:
        yield server


@contextlib.contextmanager
def _serving(db_url: str, wire: WireServer, policy: dict[str, Any] | None = None) -> Iterator[str]:
    gateway, _ = guard_gateway(db_url, policy)
    with relay(gateway, wire.base_url, MODEL) as base_url:
        yield base_url


def _client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def _logged(db_url: str) -> list[Exchange]:
    store = open_log_store(db_url)
    try:
        return sorted(store.iter_exchanges(), key=lambda e: e.ts)
    finally:
        store.close()


def _cli(*args: str) -> Any:
    result = RUNNER.invoke(app, list(args))
    return result


def _create_key(db_url: str, *args: str) -> str:
    result = _cli("keys", "create", "--db", db_url, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


# -- metadata ------------------------------------------------------------------------------


def test_every_exchange_carries_org_and_the_hashed_payment_id(db_url: str, wire: WireServer) -> None:
    alice = _create_key(
        db_url, "--account", "alice", "--org", "Acme Corp", "--payment-id", "card-4242-secret"
    )
    bob = _create_key(db_url, "--account", "bob", "--org", "Acme Corp", "--payment-id", "card-4242-secret")
    carol = _create_key(db_url, "--account", "carol")  # no metadata: the fields stay empty
    policy = {"accounts": {"bob": {"action": "block"}}, "risk": {"throttle": None, "block": None}}
    with _serving(db_url, wire, policy) as base_url:
        _client(base_url, alice).chat.completions.create(model=MODEL, messages=CHAT, max_tokens=4)
        _client(base_url, alice).chat.completions.create(
            model=MODEL, messages=CHAT, max_tokens=4, stream=True
        )
        with pytest.raises(openai.PermissionDeniedError):
            _client(base_url, bob).chat.completions.create(model=MODEL, messages=CHAT, max_tokens=4)
        _client(base_url, carol).chat.completions.create(model=MODEL, messages=CHAT, max_tokens=4)
    rows = _logged(db_url)
    expected = payment_hash(load_server_secret(), "card-4242-secret")
    by_account: dict[str, list[Exchange]] = {}
    for row in rows:
        by_account.setdefault(row.account, []).append(row)
    assert len(by_account["alice"]) == 2 and len(by_account["bob"]) == 1
    for row in by_account["alice"] + by_account["bob"]:  # answered, streamed and refused alike
        assert row.org == "Acme Corp" and row.payment_id == expected
    assert by_account["bob"][0].status == 403  # the guard's own refusal row carries them too
    assert by_account["carol"][0].org is None and by_account["carol"][0].payment_id is None
    assert expected.startswith("pay_") and "4242" not in expected
    # the payment id itself is nowhere: not in the log rows, not in the key store
    assert all("card-4242" not in json.dumps(r.to_dict()) for r in rows)
    if not db_url.startswith("postgresql"):
        assert b"card-4242" not in Path(db_url).read_bytes()
    listed = _cli("keys", "list", "--db", db_url, "--json")
    assert listed.exit_code == 0 and "card-4242" not in listed.output
    metas = {json.loads(line)["account"]: json.loads(line) for line in listed.stdout.splitlines()}
    assert metas["alice"]["payment_id"] == metas["bob"]["payment_id"] == expected
    assert metas["alice"]["org"] == "Acme Corp" and metas["carol"]["org"] is None


def test_bad_metadata_is_a_clear_error(sqlite_url: str) -> None:
    result = _cli("keys", "create", "--db", sqlite_url, "--account", "a", "--org", "bad\x00org")
    assert result.exit_code == 2 and "invalid organisation" in result.output
    store = KeyStore(sqlite_url, load_server_secret())
    try:
        with pytest.raises(KeyStoreError, match="payment id"):
            store.create_key("a", payment_id="   ")
        assert store.list_keys() == []  # nothing half-created
    finally:
        store.close()


# -- watch list ------------------------------------------------------------------------------


def _detections(folder: Path) -> Path:
    """A `distillscope detect` output folder in DESIGN.md's format."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts = [
        {"account": "ringleader", "score": 0.97, "flagged": True, "campaign": "c-hydra", "reasons": ["r"]},
        {"account": "quiet-1", "score": 0.2, "flagged": False, "campaign": "c-hydra", "reasons": []},
        {"account": "bystander", "score": 0.1, "flagged": False, "campaign": None, "reasons": []},
    ]
    campaigns = [{"campaign": "c-hydra", "accounts": ["ringleader", "quiet-1"], "evidence": {}}]
    (folder / "accounts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in accounts))
    (folder / "campaigns.jsonl").write_text("".join(json.dumps(r) + "\n" for r in campaigns))
    return folder


def _ask(base_url: str, key: str) -> Any:
    return _client(base_url, key).chat.completions.create(
        model=MODEL, messages=CHAT, max_tokens=32, logprobs=True, top_logprobs=3
    )


def test_watched_campaign_members_are_acted_on_from_their_next_request(
    db_url: str, wire: WireServer, tmp_path: Path
) -> None:
    quiet = _create_key(db_url, "--account", "quiet-1")
    other = _create_key(db_url, "--account", "bystander")
    policy = {"risk": {"throttle_delay_ms": 20}}
    with _serving(db_url, wire, policy) as base_url:
        assert _ask(base_url, quiet).choices[0].logprobs is not None  # not known yet: served as asked
        loaded = _cli(
            "guard", "watch", "load", str(_detections(tmp_path / "det")), "--db", db_url, "--ttl", "7d"
        )
        assert loaded.exit_code == 0, loaded.output
        assert "2 account(s)" in loaded.output
        assert _ask(base_url, quiet).choices[0].logprobs is None  # the very next request: stripped
        assert _ask(base_url, other).choices[0].logprobs is not None  # not a member: untouched
        removed = _cli("guard", "watch", "remove", "quiet-1", "--db", db_url)
        assert removed.exit_code == 0, removed.output
        assert _ask(base_url, quiet).choices[0].logprobs is not None  # off the list: served again
    rows = [r for r in _logged(db_url) if r.account == "quiet-1"]
    assert [r.extra["decision"] for r in rows] == ["allow", "strip_logprobs", "allow"]
    reasons = rows[1].extra["decision_reasons"]
    assert any("watch list: campaign c-hydra" in reason for reason in reasons)
    assert any(reason.startswith("watched: delayed 20 ms") for reason in reasons)
    assert rows[1].extra.get("logprobs_stripped") is True


def test_expired_entries_are_not_acted_on_and_listing_shows_expiry(
    sqlite_url: str, wire: WireServer, tmp_path: Path
) -> None:
    key = _create_key(sqlite_url, "--account", "quiet-1")
    store = WatchStore(sqlite_url)
    now = time.time()
    store.add([WatchEntry("quiet-1", "old news", "c-old", "test", now - 100, now - 10)])
    store.close()
    with _serving(sqlite_url, wire) as base_url:
        assert _ask(base_url, key).choices[0].logprobs is not None
    (row,) = _logged(sqlite_url)
    assert row.extra["decision"] == "allow"
    listed = _cli("guard", "watch", "list", "--db", sqlite_url, "--json")
    assert listed.exit_code == 0 and listed.stdout.strip() == ""
    expired = _cli("guard", "watch", "list", "--db", sqlite_url, "--json", "--expired")
    assert json.loads(expired.stdout)["campaign"] == "c-old"


def test_entries_from_detection_and_ttl(tmp_path: Path) -> None:
    entries = entries_from_detection(_detections(tmp_path / "det"), ttl_s=parse_ttl("2d"), now=1000.0)
    by_account = {e.account: e for e in entries}
    assert set(by_account) == {"ringleader", "quiet-1"}  # the unflagged member comes in via its campaign
    assert by_account["quiet-1"].campaign == "c-hydra" and by_account["quiet-1"].expires == 1000.0 + 2 * 86400
    assert "score 0.97" in by_account["ringleader"].reason
    assert parse_ttl("90s") == 90 and parse_ttl("1.5h") == 5400 and parse_ttl("2w") == 14 * 86400
    for bad in ("soon", "-1d", "0"):
        with pytest.raises(ValueError):
            parse_ttl(bad)
    with pytest.raises(ValueError, match="accounts.jsonl"):
        entries_from_detection(tmp_path / "nothing-here", ttl_s=1.0)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "accounts.jsonl").write_text('{"account": "x", "flagged": true}\n{not json\n')
    with pytest.raises(ValueError, match="accounts.jsonl:2"):
        entries_from_detection(broken, ttl_s=1.0)
    (broken / "accounts.jsonl").write_text('{"account": "x", "flagged": true}\n"x"\n')
    with pytest.raises(ValueError, match="accounts.jsonl:2: expected a JSON object, got string"):
        entries_from_detection(broken, ttl_s=1.0)
    (broken / "accounts.jsonl").write_text('{"account": "x", "flagged": true}\n{not json\n')
    result = _cli("guard", "watch", "load", str(broken), "--db", str(tmp_path / "g.db"))
    assert result.exit_code == 2 and "accounts.jsonl:2" in result.output
