"""Fixtures of the guard tests: a real PostgreSQL server, a server secret, fresh stores.

PostgreSQL comes from, in order: ``$DISTILLSCOPE_TEST_PG_DSN``; the DSN that
``scripts/ci-services.sh`` writes to ``/tmp/distillscope-ci/pg.env`` after starting
the system cluster; or a temporary cluster this fixture creates itself with
``initdb``/``pg_ctl`` (as the ``postgres`` user when running as root) on a free
port. Tests marked ``postgres`` skip only when no PostgreSQL binaries exist at all.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CI_DSN_FILE = Path("/tmp/distillscope-ci/pg.env")


@pytest.fixture(autouse=True)
def _guard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own work dir, and no secret leaks in from the environment."""
    monkeypatch.setenv("DISTILLSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISTILLSCOPE_SERVER_SECRET", raising=False)


def _connectable(dsn: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _dsn_from_ci_file() -> str | None:
    if not CI_DSN_FILE.is_file():
        return None
    for line in CI_DSN_FILE.read_text().splitlines():
        if line.startswith("DISTILLSCOPE_TEST_PG_DSN="):
            return line.split("=", 1)[1].strip().strip("'\"")
    return None


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN of a running PostgreSQL server whose role may create databases."""
    for dsn in (os.environ.get("DISTILLSCOPE_TEST_PG_DSN"), _dsn_from_ci_file()):
        if dsn and _connectable(dsn):
            yield dsn
            return
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb) found and no DISTILLSCOPE_TEST_PG_DSN given")
    root = os.geteuid() == 0
    data = Path(tempfile.mkdtemp(prefix="ds-pg-"))
    as_user: list[str] = []
    if root:
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    pgdata = data / "data"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(pgdata),
            "-o",
            options,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped afterwards)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = "ds_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(pg_server)
    params["dbname"] = name
    user = params.get("user", "")
    password = params.get("password")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    yield f"postgresql://{auth}{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "guard.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both stores: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "guard.db")
    return request.getfixturevalue("pg_url")
