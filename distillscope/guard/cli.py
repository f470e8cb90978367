"""`distillscope keys ...`, `distillscope logs export` and `distillscope guard replay|watch|benchmarks ...`.

The key printed by ``keys create`` goes to stdout once (so it can be piped into a
secret store) and is never shown again; everything else goes to stderr. Imports
of the stores happen inside the commands to keep ``distillscope --help`` fast.
The commands only parse options and report; the work is in the guard's modules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from distillscope.clitools import console, fail

keys_app = typer.Typer(help="API keys of the guard: create (shown once), list, revoke.", no_args_is_help=True)
logs_app = typer.Typer(help="The guard's exchange log.", no_args_is_help=True)
guard_app = typer.Typer(
    help="Backtest a policy on a logged stream (replay); manage the watch list fed by `detect` and the "
    "registered public benchmarks.",
    no_args_is_help=True,
)
benchmarks_app = typer.Typer(
    help="Public benchmarks whose questions the online score treats as asked before (no harvest evidence).",
    no_args_is_help=True,
)
watch_app = typer.Typer(
    help="The watch list: accounts and campaigns found offline, acted on online until they expire.",
    no_args_is_help=True,
)

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
    org: str | None = typer.Option(
        None, "--org", help="The customer's organisation; logged with every exchange of this key."
    ),
    payment_id: str | None = typer.Option(
        None,
        "--payment-id",
        help="An opaque payment-instrument id; stored and logged only as a keyed hash (pay_...).",
    ),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Create an API key. The key is printed once, on stdout; only its HMAC is stored."""
    from distillscope.guard.keys import KeyStoreError

    store = _keystore(db)
    try:
        key, info = store.create_key(account, admin=admin, org=org, payment_id=payment_id)
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
    table = Table("key id", "account", "admin", "org", "payment (hashed)", "created (UTC)", "revoked (UTC)")
    for info in keys:
        table.add_row(
            info.key_id,
            info.account,
            "yes" if info.admin else "",
            info.org or "",
            info.payment_id or "",
            _when(info.created),
            _when(info.revoked),
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
            count = writer(store.iter_exchanges(account=account), out, private=True)  # mode 0600
    finally:
        store.close()
    console.print(f"exported {count} exchange(s) -> {out}", highlight=False)


@guard_app.command("replay")
def replay(
    log: Path = typer.Argument(..., help="Exchange log: JSONL or Parquet (e.g. from `logs export`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for accounts.jsonl, scores.jsonl, ..."),
    policy: Path | None = typer.Option(
        None, "--policy", help="Policy file (TOML/YAML); default: the default."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="labels.jsonl of a simulated log (default: next to LOG, if there)."
    ),
    watch: Path | None = typer.Option(
        None, "--watch", help="A `distillscope detect` output folder to use as the watch list."
    ),
    watch_ttl: str | None = typer.Option(
        None,
        "--watch-ttl",
        help="Load the watch list at the log's first exchange with this expiry (7d, 12h, ...), "
        "as `guard watch load --ttl` would; default: in force for the whole log.",
    ),
    first_n: int = typer.Option(
        200, "--first-n", min=1, help="Campaign goal: acted on within this many requests."
    ),
    per_exchange: bool = typer.Option(False, "--per-exchange", help="Also write one line per exchange."),
    on_error: str = typer.Option("skip", help="Malformed log lines: skip (report and go on) or stop."),
    warm: Path | None = typer.Option(
        None,
        "--warm",
        help="An earlier log (the traffic before LOG) fed into the scorer first, undecided and "
        "uncounted: the state a gateway that served it would hold (scores, questions asked).",
    ),
    benchmarks: list[Path] = typer.Option(
        [],
        "--benchmarks",
        metavar="FILE",
        help="A public benchmark file (as `guard benchmarks add` reads) or a folder of them; repeatable. "
        "Its questions count as registered, as in a gateway whose registry holds them.",
    ),
) -> None:
    """Backtest a policy: replay a logged stream through the online scorer, open loop.

    Each exchange's timestamp is the clock; the decisions are those the gateway's
    admission would have made (the same code). With labels, prints the online goals.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from distillscope.guard.benchmarks import load_files
    from distillscope.guard.policy import PolicySettings
    from distillscope.guard.replay import load_labels, replay_log
    from distillscope.guard.watchlist import WatchList, entries_from_detection, parse_ttl
    from distillscope.records import LogFormatError

    if on_error not in ("skip", "stop"):
        fail(f"--on-error must be skip or stop, not {on_error!r}")
    if watch_ttl is not None and watch is None:
        fail("--watch-ttl needs --watch (a `distillscope detect` output folder)")
    if not log.exists():
        fail(f"{log}: no such file")
    if warm is not None and not warm.exists():
        fail(f"{warm}: no such file (--warm)")
    try:
        config = PolicySettings.from_file(policy) if policy is not None else PolicySettings()
        label_path = labels if labels is not None else log.parent / "labels.jsonl"
        if labels is not None and not labels.is_file():
            fail(f"{labels}: no such labels file")
        label_rows = load_labels(label_path) if label_path.is_file() else None
        watch_list = None
        watch_ttl_s = parse_ttl(watch_ttl) if watch_ttl is not None else None
        if watch is not None:
            # Listed from the start of the log: the offline run is assumed to have come first.
            watch_list = WatchList(entries_from_detection(watch, ttl_s=float("inf"), now=float("-inf")))
        public, read = load_files(list(benchmarks)) if benchmarks else (None, [])
    except ValueError as exc:
        fail(str(exc))
    for bench in read:
        console.print(
            f"benchmark {bench.name}: {len(bench.keys)} question(s) from {bench.source}", highlight=False
        )
    if label_rows is not None:
        console.print(f"labels: {label_path} ({len(label_rows)} accounts)", highlight=False)
    if watch_list is not None:
        console.print(f"watch list: {len(watch_list)} account(s) from {watch}", highlight=False)
    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("replay", total=None)

            def tick(count: int) -> None:
                if count % 2000 == 0:
                    bar.update(task, completed=count)

            result = replay_log(
                log,
                config,
                out,
                labels=label_rows,
                watch=watch_list,
                on_error="raise" if on_error == "stop" else "skip",
                first_n=first_n,
                per_exchange=per_exchange,
                progress=tick,
                warm=warm,
                watch_ttl_s=watch_ttl_s,
                public_questions=public,
            )
    except (LogFormatError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; the replay is cheap to rerun from the start (nothing was written)", code=130)
    for error in result.errors[:10]:
        console.print(f"[yellow]malformed:[/] {error}", highlight=False)
    if len(result.errors) > 10:
        console.print(f"[yellow]... {len(result.errors) - 10} more listed in {out / 'errors.txt'}[/]")
    _print_replay(result)
    typer.echo(
        json.dumps(
            {
                "exchanges": result.exchanges,
                "accounts": len(result.accounts),
                "decisions": dict(result.decisions),
                "acted_on_accounts": sum(a.first_action is not None for a in result.accounts.values()),
                "malformed": len(result.errors),
                "warmed": result.warmed,
                "public_benchmark_questions": result.public_questions,
                "goals": result.metrics["goals"] if result.metrics else None,
                "out": str(out),
            }
        )
    )


def _print_replay(result) -> None:  # noqa: ANN001 - ReplayResult, imported lazily
    from rich.table import Table

    table = Table(
        "decision", "requests", title=f"{result.exchanges} exchanges, {len(result.accounts)} accounts"
    )
    for action, count in sorted(result.decisions.items()):
        table.add_row(action, str(count))
    console.print(table)
    if result.metrics is None:
        return
    goals = Table("goal", "value", "target", "met", title="online goals (issue 12)")
    for name, row in result.metrics["goals"].items():
        value = "-" if row["value"] is None else f"{row['value']:.4f}"
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[row["met"]]
        goals.add_row(name, value, str(row["target"]), met)
    console.print(goals)
    console.print(f"details: {result.out_dir / 'summary.md'}", highlight=False)


def _watch_store(db: str | None):  # noqa: ANN202 - lazy import of the store type
    from distillscope.guard.db import default_db_url
    from distillscope.guard.watchlist import WatchStore

    try:
        return WatchStore(db or default_db_url())
    except (ValueError, ConnectionError) as exc:
        fail(str(exc))


@watch_app.command("load")
def watch_load(
    detections: Path = typer.Argument(
        ..., help="A `distillscope detect` output folder (accounts/campaigns.jsonl)."
    ),
    ttl: str = typer.Option("7d", "--ttl", help="How long the entries stay: 7d, 12h, 30m, 2w or seconds."),
    min_score: float = typer.Option(
        0.0, "--min-score", min=0.0, max=1.0, help="Only flagged accounts scoring this."
    ),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Put flagged accounts and every member of a flagged campaign on the watch list.

    Running servers act on them from their next request (the policy's [watch]
    section: strip log-probs and throttle by default), until the entries expire.
    """
    from distillscope.guard.watchlist import entries_from_detection, parse_ttl

    try:
        entries = entries_from_detection(detections, ttl_s=parse_ttl(ttl), min_score=min_score)
    except ValueError as exc:
        fail(str(exc))
    store = _watch_store(db)
    try:
        count = store.add(entries)
    finally:
        store.close()
    campaigns = len({e.campaign for e in entries if e.campaign})
    console.print(
        f"watching {count} account(s) ({campaigns} campaign(s)) for {ttl}, from {detections}", highlight=False
    )


@watch_app.command("list")
def watch_list(
    expired: bool = typer.Option(False, "--expired", help="Include expired entries."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout instead of a table."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """List watched accounts, their campaigns, reasons and expiry."""
    from rich.table import Table

    store = _watch_store(db)
    try:
        entries = store.entries(include_expired=expired)
    finally:
        store.close()
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry.to_dict()))
        return
    table = Table("account", "campaign", "reason", "added (UTC)", "expires (UTC)")
    for e in entries:
        table.add_row(e.account, e.campaign or "", e.reason, _when(e.added), _when(e.expires))
    console.print(table)
    console.print(f"{len(entries)} watched account(s)")


@watch_app.command("remove")
def watch_remove(
    account: str = typer.Argument(..., help="The account to take off the watch list."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Take one account off the watch list (from its next request on)."""
    store = _watch_store(db)
    try:
        found = store.remove(account)
    finally:
        store.close()
    if not found:
        fail(f"{account!r} is not on the watch list")
    console.print(f"removed {account} from the watch list", highlight=False)


@watch_app.command("clear")
def watch_clear(
    expired_only: bool = typer.Option(False, "--expired", help="Only drop expired entries."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Empty the watch list (or drop its expired entries)."""
    store = _watch_store(db)
    try:
        store.clear(expired_only=expired_only)
    finally:
        store.close()
    console.print("expired entries dropped" if expired_only else "watch list cleared")


def _benchmark_store(db: str | None):  # noqa: ANN202 - lazy import of the store type
    from distillscope.guard.benchmarks import BenchmarkStore
    from distillscope.guard.db import default_db_url

    try:
        return BenchmarkStore(db or default_db_url())
    except (ValueError, ConnectionError) as exc:
        fail(str(exc))


@benchmarks_app.command("add")
def benchmarks_add(
    file: Path = typer.Argument(
        ...,
        help="The benchmark's questions: plain text, one a line; or JSONL, one a line as a JSON string or "
        "an object with messages, prompt, question, text, input or problem (answers are never read).",
    ),
    name: str | None = typer.Option(None, "--name", help="The benchmark's name (default: the file's name)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a benchmark of the same name."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Register a public benchmark: its questions are no harvest evidence for the online score.

    An evaluation's first run of it is then treated like a re-run (not counted as
    reasoning or answers taken out), while an account the score already throttles
    for new questions is still delayed on it. Questions are matched as the question
    ledger keys a live request: the whole prompt (every message), lower-cased, with
    punctuation and whitespace folded and reasoning requests ("Let's think step by
    step.") taken out -- so register the prompts as your harness sends them. Only
    64-bit keys are stored. Running servers pick the change up within 30 seconds.
    """
    from distillscope.guard.benchmarks import BenchmarkError, read_benchmark

    try:
        with console.status(f"reading {file}"):
            bench = read_benchmark(file, name)
    except BenchmarkError as exc:
        fail(f"{exc}; nothing was registered")
    store = _benchmark_store(db)
    try:
        store.add(bench, replace=replace)
    except BenchmarkError as exc:
        fail(f"{exc}; nothing was registered")
    finally:
        store.close()
    dupes = f" ({bench.duplicates} duplicate line(s) counted once)" if bench.duplicates else ""
    console.print(
        f"registered benchmark [bold]{bench.name}[/]: {len(bench.keys)} question(s) from {file}{dupes}",
        highlight=False,
    )


@benchmarks_app.command("list")
def benchmarks_list(
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout instead of a table."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """List registered benchmarks: name, questions, source file and its sha256, when added."""
    from rich.table import Table

    store = _benchmark_store(db)
    try:
        infos = store.list()
    finally:
        store.close()
    if as_json:
        for info in infos:
            typer.echo(json.dumps(info.to_dict()))
        return
    table = Table("name", "questions", "source", "sha256", "added (UTC)", "in use")
    for info in infos:
        table.add_row(
            info.name,
            str(info.questions),
            info.source or "",
            (info.sha256 or "")[:12],
            _when(info.added),
            "yes" if info.current else "[red]no[/]",
        )
    console.print(table)
    console.print(f"{len(infos)} benchmark(s), {sum(i.questions for i in infos)} question(s)")
    for info in infos:
        if not info.current:
            console.print(
                f"[red]{info.name}: keyed by an older version of distillscope, so not used; add it again "
                f"(guard benchmarks add FILE --name {info.name} --replace)[/]",
                highlight=False,
            )


@benchmarks_app.command("remove")
def benchmarks_remove(
    name: str = typer.Argument(..., help="The benchmark to unregister."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Unregister a benchmark (running servers stop using it within 30 seconds)."""
    store = _benchmark_store(db)
    try:
        found = store.remove(name)
    finally:
        store.close()
    if not found:
        fail(f"no benchmark named {name!r} is registered")
    console.print(f"removed benchmark {name}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(logs_app, name="logs")
    guard_app.add_typer(watch_app, name="watch")
    guard_app.add_typer(benchmarks_app, name="benchmarks")
    app.add_typer(guard_app, name="guard")
