"""The server secret that keys are hashed with (HMAC-SHA256).

Taken from ``$DISTILLSCOPE_SERVER_SECRET`` when set (what several server
processes sharing one PostgreSQL store should use), otherwise from the file
``<workdir>/server.secret``, created on first use with 32 random bytes and 0600
permissions. A secret file readable by others is refused.

This module never prints or logs the secret.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from distillscope.config import work_dir
from distillscope.errors import DistillscopeError

SECRET_ENV = "DISTILLSCOPE_SERVER_SECRET"
SECRET_FILE = "server.secret"
MIN_SECRET_BYTES = 16


class SecretError(DistillscopeError, RuntimeError):
    """The server secret is missing, too short or not private."""


def secret_path() -> Path:
    """Where the secret file lives: ``<workdir>/server.secret``."""
    return work_dir() / SECRET_FILE


def load_server_secret(path: str | os.PathLike[str] | None = None) -> bytes:
    """The secret from the environment, else from ``path`` (created with 0600 if missing)."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        value = from_env.encode("utf-8")
        if len(value) < MIN_SECRET_BYTES:
            raise SecretError(f"${SECRET_ENV} is shorter than {MIN_SECRET_BYTES} bytes")
        return value
    target = Path(path) if path is not None else secret_path()
    if not target.exists():
        _create_secret_file(target)
    mode = stat.S_IMODE(target.stat().st_mode)
    if mode & 0o077:
        raise SecretError(
            f"{target} is readable by other users (mode {mode:o}); run `chmod 600 {target}` first"
        )
    value = target.read_bytes().strip()
    if len(value) < MIN_SECRET_BYTES:
        raise SecretError(f"{target} holds fewer than {MIN_SECRET_BYTES} bytes")
    return value


def _create_secret_file(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not write two different secrets.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
