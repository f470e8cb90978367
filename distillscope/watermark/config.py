"""Watermark settings: a validated, immutable dataclass loadable from TOML or JSON.

The settings name the green-list scheme (gamma, delta, context width, seeding
scheme: exactly transformers' ``WatermarkingConfig`` family) and where the key
comes from. In ``per-account`` mode every account gets its own key, derived
from a master secret and the account id (see :mod:`distillscope.watermark.keys`);
in ``global`` mode one key serves everyone.

The master secret is read from an environment variable or from a file named
here, never from the config itself: a config file is something people paste
into tickets. Only ``hashing_key`` (transformers' plain integer key, for the
global mode and interoperability) may sit in the file, and its use is flagged.

This module must not import torch or transformers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from distillscope.errors import ConfigError
from distillscope.watermark.keys import GLOBAL_ACCOUNT, MAX_KEY, derive_key

SCHEMES = ("lefthash", "selfhash")
MODES = ("per-account", "global")
#: transformers' default ``hashing_key`` (the millionth prime).
TRANSFORMERS_DEFAULT_KEY = 15485863
MIN_SECRET_BYTES = 16
DEFAULT_SECRET_ENV = "DISTILLSCOPE_WATERMARK_SECRET"


class WatermarkConfigError(ConfigError):
    """Invalid watermark settings, or a master secret that cannot be read."""


@dataclass(frozen=True)
class WatermarkSettings:
    """How outputs are watermarked and how keys are found.

    - ``gamma``: fraction of the vocabulary in each green list (transformers' ``greenlist_ratio``).
    - ``delta``: logit bias added to green tokens (transformers' ``bias``).
    - ``context_width`` and ``seeding_scheme`` (``lefthash`` or ``selfhash``): as in transformers.
    - ``mode``: ``per-account`` (key = HMAC(master secret, account)) or ``global``.
    - ``secret_env`` / ``secret_file``: where the master secret lives (file wins when set).
    - ``hashing_key``: global mode only, an explicit transformers integer key instead of a secret.
    - ``key_label``: part of the HMAC message; change it to rotate every key at once.
    - ``exempt_accounts``: accounts served without a watermark (internal evaluation, say).
    - ``min_tokens``: the detector answers "too short" below this many distinct scored tokens.
    - ``vocab_size``: size of the permuted vocabulary; ``None`` means the model's logits width
      (transformers uses ``model.config.vocab_size``, which is the same number).
    """

    mode: str = "per-account"
    gamma: float = 0.25
    delta: float = 2.0
    context_width: int = 1
    seeding_scheme: str = "lefthash"
    secret_env: str = DEFAULT_SECRET_ENV
    secret_file: str | None = None
    hashing_key: int | None = None
    key_label: str = "v1"
    exempt_accounts: tuple[str, ...] = field(default_factory=tuple)
    min_tokens: int = 20
    vocab_size: int | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise WatermarkConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.seeding_scheme not in SCHEMES:
            raise WatermarkConfigError(
                f"seeding_scheme must be one of {', '.join(SCHEMES)}, got {self.seeding_scheme!r}"
            )
        _check_number("gamma", self.gamma)
        if not 0.0 < self.gamma < 1.0:
            raise WatermarkConfigError(f"gamma must be strictly between 0 and 1, got {self.gamma}")
        _check_number("delta", self.delta)
        if not math.isfinite(self.delta) or self.delta < 0:
            raise WatermarkConfigError(f"delta must be a finite number >= 0, got {self.delta}")
        _check_int("context_width", self.context_width, 1, 64)
        _check_int("min_tokens", self.min_tokens, 1, 10**9)
        if self.vocab_size is not None:
            _check_int("vocab_size", self.vocab_size, 2, 10**8)
            if int(self.vocab_size * self.gamma) < 1:
                raise WatermarkConfigError("gamma * vocab_size must leave at least one green token")
        if self.hashing_key is not None:
            if self.mode != "global":
                raise WatermarkConfigError(
                    "hashing_key is only for mode = 'global'; per-account keys come from the master secret"
                )
            _check_int("hashing_key", self.hashing_key, 1, MAX_KEY)
        if not isinstance(self.secret_env, str) or not self.secret_env:
            raise WatermarkConfigError("secret_env must name an environment variable")
        if self.secret_file is not None and not isinstance(self.secret_file, str):
            raise WatermarkConfigError("secret_file must be a path string")
        if not isinstance(self.key_label, str) or not self.key_label:
            raise WatermarkConfigError("key_label must be a non-empty string")
        exempt = self.exempt_accounts
        if isinstance(exempt, str) or not all(isinstance(a, str) for a in exempt):
            raise WatermarkConfigError("exempt_accounts must be a list of account names")
        object.__setattr__(self, "exempt_accounts", tuple(exempt))
        if not isinstance(self.enabled, bool):
            raise WatermarkConfigError("enabled must be true or false")

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], base_dir: str | os.PathLike[str] | None = None
    ) -> WatermarkSettings:
        """Build from a parsed mapping; a ``[watermark]`` table is unwrapped; unknown keys are errors.

        A relative ``secret_file`` is resolved against ``base_dir`` (the config file's folder).
        """
        if not isinstance(data, dict):
            raise WatermarkConfigError("a watermark config must be a table/object")
        if isinstance(data.get("watermark"), dict) and len(data) == 1:
            data = data["watermark"]
        if "secret" in data or "master_secret" in data:
            raise WatermarkConfigError(
                "do not put the master secret in the config; set secret_env (an environment "
                "variable, default DISTILLSCOPE_WATERMARK_SECRET) or secret_file (a file with mode 600)"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WatermarkConfigError(
                f"unknown watermark setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        values = dict(data)
        if "exempt_accounts" in values and isinstance(values["exempt_accounts"], list):
            values["exempt_accounts"] = tuple(values["exempt_accounts"])
        secret_file = values.get("secret_file")
        if isinstance(secret_file, str) and base_dir is not None and not os.path.isabs(secret_file):
            values["secret_file"] = str((Path(base_dir) / secret_file).resolve())
        try:
            return cls(**values)
        except TypeError as exc:  # a wrongly typed value that a comparison tripped over
            raise WatermarkConfigError(str(exc)) from exc

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> WatermarkSettings:
        """Load from a ``.toml`` or ``.json`` file (the server's ``--watermark PATH``)."""
        source = Path(path)
        if not source.is_file():
            raise WatermarkConfigError(f"{source}: no such watermark config file")
        text = source.read_text(encoding="utf-8")
        if source.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise WatermarkConfigError(
                    f"{source}: invalid JSON ({exc.msg} at line {exc.lineno})"
                ) from exc
        elif source.suffix.lower() == ".toml":
            import tomllib

            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise WatermarkConfigError(f"{source}: invalid TOML ({exc})") from exc
        else:
            raise WatermarkConfigError(f"{source}: use a .toml or .json watermark config")
        return cls.from_dict(data, base_dir=source.parent)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (never holds the master secret, which is not stored here)."""
        data = asdict(self)
        data["exempt_accounts"] = list(self.exempt_accounts)
        return {k: v for k, v in data.items() if v is not None}

    # -- keys ------------------------------------------------------------------------

    @property
    def needs_secret(self) -> bool:
        return not (self.mode == "global" and self.hashing_key is not None)

    def master_secret(self) -> bytes:
        """The master secret, from ``secret_file`` if set, else from ``$secret_env``."""
        if self.secret_file is not None:
            path = Path(self.secret_file).expanduser()
            try:
                secret = path.read_bytes().strip()
            except OSError as exc:
                raise WatermarkConfigError(f"cannot read the watermark secret file {path}: {exc}") from exc
            where = f"the secret file {path}"
        else:
            secret = os.environ.get(self.secret_env, "").strip().encode()
            where = f"${self.secret_env}"
            if not secret:
                raise WatermarkConfigError(
                    f"the watermark master secret is not set: export {self.secret_env}=... "
                    "(at least 16 random bytes, e.g. `distillscope watermark new-secret`) or set secret_file"
                )
        if len(secret) < MIN_SECRET_BYTES:
            raise WatermarkConfigError(
                f"the watermark master secret in {where} is too short "
                f"({len(secret)} bytes; need at least {MIN_SECRET_BYTES})"
            )
        return secret

    def key_for(self, account: str) -> int:
        """The integer ``hashing_key`` that watermarks ``account``'s answers."""
        if self.mode == "global":
            if self.hashing_key is not None:
                return self.hashing_key
            return derive_key(self.master_secret(), GLOBAL_ACCOUNT, self.key_label)
        if not isinstance(account, str) or not account:
            raise WatermarkConfigError("an account id is needed to derive a per-account key")
        return derive_key(self.master_secret(), account, self.key_label)

    def is_exempt(self, account: str) -> bool:
        return not self.enabled or account in self.exempt_accounts


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WatermarkConfigError(f"{name} must be a number, got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WatermarkConfigError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise WatermarkConfigError(f"{name} must be between {low} and {high}, got {value}")
