"""`distillscope keys ...` (create, list, revoke) and `distillscope logs export`.

The key printed by ``keys create`` goes to stdout once (so it can be piped into a
secret store) and is never shown again; everything else goes to stderr. Imports
of the stores happen inside the commands to keep ``distillscope --help`` fast.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from distillscope.clitools import console, fail

keys_app = typer.Typer(help="API keys of the guard: create (shown once), list, revoke.", no_args_is_help=True)
logs_app = typer.Typer(help="The guard's exchange log.", no_args_is_help=True)

_DB_HELP = "Guard database: a SQLite path, sqlite:///path or postgresql://... (default: <workdir>/guard.db)."


def _keystore(db: str | None):  # noqa: ANN202 - lazy import of the store type
    from distillscope.guard.db import default_db_url
    from distillscope.guard.keys import KeyStore, KeyStoreError
    from distillscope.guard.secret import SecretError, load_server_secret

    try:
        return KeyStore(db or default_db_url(), load_server_secret())
    except (KeyStoreError, SecretError, ValueError, ConnectionError) as exc:
        fail(str(exc))


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@keys_app.command("create")
def create(
    account: str = typer.Option(..., "--account", help="Account the key belongs to (created if new)."),
    admin: bool = typer.Option(False, "--admin", help="May use the admin API (all accounts' data)."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Create an API key. The key is printed once, on stdout; only its HMAC is stored."""
    from distillscope.guard.keys import KeyStoreError

    store = _keystore(db)
    try:
        key, info = store.create_key(account, admin=admin)
    except KeyStoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    console.print(
        f"created {'admin ' if admin else ''}key [bold]{info.key_id}[/] for account [bold]{account}[/]; "
        "it is shown once, below — store it now.",
        highlight=False,
    )
    typer.echo(key)


@keys_app.command("list")
def list_keys(
    account: str | None = typer.Option(None, "--account", help="Only this account's keys."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout instead of a table."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """List key ids, accounts, creation and revocation times (never the keys)."""
    from rich.table import Table

    store = _keystore(db)
    try:
        keys = store.list_keys(account)
    finally:
        store.close()
    if as_json:
        for info in keys:
            typer.echo(json.dumps(info.to_dict()))
        return
    table = Table("key id", "account", "admin", "created (UTC)", "revoked (UTC)")
    for info in keys:
        table.add_row(
            info.key_id, info.account, "yes" if info.admin else "", _when(info.created), _when(info.revoked)
        )
    console.print(table)
    console.print(f"{len(keys)} key(s), {sum(k.active for k in keys)} active")


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key id (key_...) from `keys list`."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Revoke a key: it stops working at the next request, also on running servers."""
    from distillscope.guard.keys import KeyStoreError

    store = _keystore(db)
    try:
        info = store.revoke(key_id)
    except KeyStoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    console.print(
        f"revoked {info.key_id} (account {info.account}) at {_when(info.revoked)} UTC", highlight=False
    )


@logs_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="Output file."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    account: str | None = typer.Option(None, "--account", help="Only this account's exchanges."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Export the exchange log (DESIGN.md's exchange format) as JSONL or Parquet."""
    from distillscope.guard.db import default_db_url
    from distillscope.guard.logstore import open_log_store
    from distillscope.records import write_jsonl, write_parquet

    if fmt not in ("jsonl", "parquet"):
        fail(f"--format must be jsonl or parquet, not {fmt!r}")
    try:
        store = open_log_store(db or default_db_url())
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        fail(str(exc))
    try:
        total = store.count(account)
        with console.status(f"exporting {total} exchange(s)"):
            writer = write_parquet if fmt == "parquet" else write_jsonl
            count = writer(store.iter_exchanges(account=account), out)
    finally:
        store.close()
    console.print(f"exported {count} exchange(s) -> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(logs_app, name="logs")
