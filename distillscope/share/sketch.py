"""Privacy-preserving fingerprints: keyed MinHash of normalised prompts, salted infrastructure hashes.

A prompt is normalised and cut into word shingles exactly as the detector does
(:mod:`distillscope.textsig`: slots for quoted spans, numbers and names, lower
case, letters only, word 3-grams); each shingle is hashed with HMAC-SHA256 under
the salt both peers share out of band, and the MinHash signature (textsig's
permutations and settings) is built over those keyed hashes. Without the salt, nobody can
test guesses of prompt text against a signature, and infrastructure hashes
(HMAC of ``kind:value``) cannot be reversed by enumerating the IPv4 space.

This module must never return or store raw text or raw infrastructure values.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import numpy as np

from distillscope import textsig
from distillscope.errors import ConfigError

NUM_PERM = textsig.NUM_PERM
#: The permutation scheme of textsig's signatures (datasketch's name for it).
SCHEME = "legacy"
SHINGLE = textsig.SHINGLE
#: 2: textsig's normalisation (1 was a share-only normaliser with <num>/<str> placeholders).
NORMALISER_VERSION = 2
MIN_SALT_BYTES = 16
SALT_ENV = "DISTILLSCOPE_SHARE_SALT"

#: Infrastructure fields of an exchange that are shared (hashed).
INFRA_FIELDS = ("ip", "user_agent", "payment_id", "org")


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
    """The prompt's template, as the detector computes it (:func:`distillscope.textsig.normalise_prompt`)."""
    return textsig.normalise_prompt(text)


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    """Word ``size``-grams of the normalised text (the whole text when shorter)."""
    return set(textsig.shingles(normalise(text), size))


def _keyed_hashes(parts: list[str], salt: bytes) -> np.ndarray:
    """32-bit HMAC-SHA256 hashes of the shingles under the salt."""
    digests = (hmac.new(salt, p.encode("utf-8"), hashlib.sha256).digest()[:4] for p in parts)
    return np.array([int.from_bytes(d, "little") for d in digests], dtype=np.uint64)


def minhash_of(parts: set[str], salt: bytes, num_perm: int = NUM_PERM) -> Any:
    """A datasketch MinHash of a shingle set, with shingles hashed under the salt."""
    return textsig.as_datasketch(textsig.minhash_of_hashes(_keyed_hashes(sorted(parts), salt), num_perm))


def minhash_from_values(values: list[int]) -> Any:
    """Rebuild a MinHash (for Jaccard estimates) from exported hash values."""
    return textsig.as_datasketch(np.array(values, dtype=np.uint64))


def infra_hash(kind: str, value: str, salt: bytes) -> str:
    """HMAC-SHA256 of ``kind:value`` under the salt (hex)."""
    if kind not in INFRA_FIELDS:
        raise ValueError(f"unknown infrastructure kind {kind!r}; one of {INFRA_FIELDS}")
    return hmac.new(salt, f"{kind}:{value.strip().lower()}".encode(), hashlib.sha256).hexdigest()
