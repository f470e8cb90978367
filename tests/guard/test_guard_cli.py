"""`distillscope keys ...` and `distillscope logs export` through the real typer app."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.secret import load_server_secret
from distillscope.records import Exchange, read_exchanges

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, " ".join(result.stderr.split())  # rich wraps lines


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "guard.db")
    code, out, err = _run("keys", "create", "--account", "alice", "--db", db)
    assert code == 0, err
    key = out.strip()
    assert key.startswith("ds-") and "\n" not in key and "shown once" in err
    code, out, _ = _run("keys", "create", "--account", "ops", "--admin", "--db", db)
    assert code == 0
    code, out, err = _run("keys", "list", "--json", "--db", db)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["account"], r["admin"], r["revoked"]) for r in rows] == [
        ("alice", False, None),
        ("ops", True, None),
    ]
    assert key not in out and key not in err
    code, _, err = _run("keys", "list", "--db", db)
    assert code == 0 and "alice" in err and key not in err and "2 active" in err
    store = KeyStore(db, load_server_secret())
    assert store.authenticate(key) is not None
    code, _, err = _run("keys", "revoke", rows[0]["key_id"], "--db", db)
    assert code == 0 and "revoked" in err
    assert store.authenticate(key) is None
    code, _, err = _run("keys", "revoke", "key_missing", "--db", db)
    assert code == 2 and "no key" in err
    code, _, err = _run("keys", "create", "--account", "no spaces", "--db", db)
    assert code == 2 and "invalid account" in err


def test_keys_default_db_and_secret_live_in_the_workdir(tmp_path: Path) -> None:
    code, out, _ = _run("keys", "create", "--account", "alice")
    assert code == 0
    home = tmp_path / "home"  # DISTILLSCOPE_HOME, set by the autouse fixture
    assert (home / "guard.db").is_file() and (home / "server.secret").stat().st_mode & 0o077 == 0
    assert (home / "guard.db").stat().st_mode & 0o077 == 0
    assert out.strip().encode() not in (home / "guard.db").read_bytes()


def test_wrong_secret_is_a_clear_cli_error(tmp_path: Path, monkeypatch) -> None:
    db = str(tmp_path / "guard.db")
    assert _run("keys", "create", "--account", "alice", "--db", db)[0] == 0
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", "another-secret-entirely-123")
    code, _, err = _run("keys", "list", "--db", db)
    assert code == 2 and "different server secret" in err


def test_logs_export_jsonl_and_parquet(tmp_path: Path) -> None:
    db = str(tmp_path / "guard.db")
    store = open_log_store(db, create=True)
    rows = [
        Exchange(
            id=f"x{i}",
            ts=1_700_000_000 + i,
            account="alice" if i % 2 else "bob",
            messages=[{"role": "user", "content": f"q{i}"}],
            params={"logit_bias": {"1": 5}},
            extra={"decision": "allow", "decision_reasons": [], "risk_score": 0.1},
        )
        for i in range(7)
    ]
    store.write_batch(rows)
    store.close()
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / f"log.{fmt}"
        code, _, err = _run("logs", "export", "--db", db, "--format", fmt, "--out", str(out))
        assert code == 0, err
        back = read_exchanges(out)
        assert [e.id for e in back] == [e.id for e in rows]
        assert back[3].params == {"logit_bias": {"1": 5}} and back[3].extra["decision"] == "allow"
        assert stat.S_IMODE(out.stat().st_mode) == 0o600  # users' prompts: the owner's only
    code, _, _ = _run("logs", "export", "--db", db, "--account", "alice", "--out", str(tmp_path / "a.jsonl"))
    assert code == 0 and {e.account for e in read_exchanges(tmp_path / "a.jsonl")} == {"alice"}
    code, _, err = _run(
        "logs", "export", "--db", str(tmp_path / "nope.db"), "--out", str(tmp_path / "x.jsonl")
    )
    assert code == 2 and "no such exchange log" in err
    code, _, err = _run("logs", "export", "--db", db, "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert code == 2 and "jsonl or parquet" in err
