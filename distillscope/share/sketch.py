"""Privacy-preserving fingerprints: keyed MinHash of normalised prompts, salted infrastructure hashes.

A prompt is normalised (lower case, numbers and quoted strings replaced by
placeholders, whitespace collapsed) and cut into word shingles; each shingle is
hashed with HMAC-SHA256 under the salt both peers share out of band, and the
MinHash signature is built over those keyed hashes. Without the salt, nobody can
test guesses of prompt text against a signature, and infrastructure hashes
(HMAC of ``kind:value``) cannot be reversed by enumerating the IPv4 space.

This module must never return or store raw text or raw infrastructure values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Any

from distillscope.errors import ConfigError

NUM_PERM = 128
#: datasketch's 32-bit affine permutations (its default, and the only scheme before 2.0).
SCHEME = "affine32"
SHINGLE = 3
NORMALISER_VERSION = 1
MIN_SALT_BYTES = 16
SALT_ENV = "DISTILLSCOPE_SHARE_SALT"

#: Infrastructure fields of an exchange that are shared (hashed).
INFRA_FIELDS = ("ip", "user_agent", "payment_id", "org")

_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
_QUOTED = re.compile(r"\"[^\"]{0,200}\"|'[^']{0,200}'")
_WORD = re.compile(r"<num>|<str>|\w+|[^\w\s]")


class SaltError(ConfigError):
    """No usable salt, or a bundle made with another one."""


def load_salt(salt_file: str | os.PathLike[str] | None = None, env: str = SALT_ENV) -> bytes:
    """The shared salt, from a file or an environment variable; at least 16 bytes."""
    if salt_file is not None:
        path = Path(salt_file)
        if not path.exists():
            raise SaltError(f"{path}: no such salt file")
        salt = path.read_bytes().strip()
    else:
        salt = os.environ.get(env, "").encode()
        if not salt:
            raise SaltError(f"no salt: set ${env} or pass --salt-file (share it with the peer out of band)")
    if len(salt) < MIN_SALT_BYTES:
        raise SaltError(f"the salt must be at least {MIN_SALT_BYTES} bytes, got {len(salt)}")
    return salt


def salt_check(salt: bytes) -> str:
    """A public fingerprint of the salt, so a peer can tell it holds the right one (reveals nothing)."""
    return hmac.new(salt, b"distillscope-share-salt-check", hashlib.sha256).hexdigest()[:16]


def normalise(text: str) -> str:
    """Lower-case, placeholders for numbers and quoted strings, collapsed whitespace."""
    text = _QUOTED.sub(" <str> ", text.lower())
    text = _NUMBER.sub(" <num> ", text)
    return " ".join(_WORD.findall(text))


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    """Word ``size``-grams of the normalised text (the whole text when shorter)."""
    words = normalise(text).split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def _keyed_hash(salt: bytes) -> Any:
    def hashfunc(data: bytes) -> int:
        return int.from_bytes(hmac.new(salt, data, hashlib.sha256).digest()[:4], "little")

    return hashfunc


def minhash_of(parts: set[str], salt: bytes, num_perm: int = NUM_PERM) -> Any:
    """A datasketch MinHash of a shingle set, with shingles hashed under the salt."""
    from datasketch import MinHash

    sketch = MinHash(num_perm=num_perm, seed=1, hashfunc=_keyed_hash(salt), **_scheme())
    sketch.update_batch([p.encode("utf-8") for p in sorted(parts)])
    return sketch


def minhash_from_values(values: list[int]) -> Any:
    """Rebuild a MinHash (for Jaccard estimates) from exported hash values."""
    import numpy as np
    from datasketch import MinHash

    return MinHash(num_perm=len(values), seed=1, hashvalues=np.array(values, dtype=np.uint64), **_scheme())


def _scheme() -> dict[str, str]:
    """datasketch >= 2 names its permutation scheme; pin it so signatures compare across versions."""
    import inspect

    from datasketch import MinHash

    return {"scheme": SCHEME} if "scheme" in inspect.signature(MinHash.__init__).parameters else {}


def infra_hash(kind: str, value: str, salt: bytes) -> str:
    """HMAC-SHA256 of ``kind:value`` under the salt (hex)."""
    if kind not in INFRA_FIELDS:
        raise ValueError(f"unknown infrastructure kind {kind!r}; one of {INFRA_FIELDS}")
    return hmac.new(salt, f"{kind}:{value.strip().lower()}".encode(), hashlib.sha256).hexdigest()
