"""Watermark keys: per-account integer keys derived with HMAC-SHA256, and public fingerprints.

A key is transformers' ``hashing_key``: a positive integer below 2**63 (the
selfhash scheme multiplies it with int64 tensors). The per-account key is the
first 8 bytes of ``HMAC-SHA256(master_secret, "distillscope-watermark/<label>/account/<id>")``
with the sign bit cleared, so

- the same secret and account always give the same key (a later detection can
  re-derive every account's key from the secret and the list of account ids);
- keys of different accounts are unrelated without the secret;
- ``WatermarkingConfig(hashing_key=key_for(account))`` in plain transformers
  watermarks exactly like the server does for that account.

A fingerprint (``kid-`` + 10 hex digits of SHA-256 of the key) names a key in
reports without revealing it. This module must not log or print keys, and must not
import the rest of the watermark package (`config` imports it, never the reverse).
"""

from __future__ import annotations

import hashlib
import hmac
import random

#: Keys are positive int64 values (the selfhash scheme multiplies them with int64 tensors).
MAX_KEY = (1 << 63) - 1

#: The pseudo-account whose key serves everyone in ``global`` mode.
GLOBAL_ACCOUNT = "*global*"


def derive_key(secret: bytes, account: str, label: str = "v1") -> int:
    """The integer watermark key of ``account`` under ``secret`` (deterministic, in [1, 2**63))."""
    if not secret:
        raise ValueError("the master secret must not be empty")
    message = f"distillscope-watermark/{label}/account/{account}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    key = int.from_bytes(digest[:8], "big") & MAX_KEY
    return key or 1  # a zero key would seed every green list alike


def fingerprint(key: int) -> str:
    """A public name for a key: enough to tell keys apart, useless to rebuild them."""
    return "kid-" + hashlib.sha256(f"distillscope-key:{key}".encode()).hexdigest()[:10]


def control_keys(count: int, seed: int = 0) -> list[int]:
    """``count`` keys that no account uses, for negative controls (reproducible from ``seed``).

    They are drawn from a 63-bit space, so a clash with a real account key has
    probability ~count * accounts / 2**63.
    """
    rng = random.Random(f"distillscope-control-keys:{seed}")
    return [rng.randrange(1, MAX_KEY + 1) for _ in range(count)]
