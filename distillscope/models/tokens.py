"""Byte-level BPE token strings: GPT-2's reversible byte <-> printable-unicode table.

Used wherever a token string from an API (``top_logprobs``) or a vocabulary must be
turned back into bytes or matched across tokenizers. Pure Python; no model loading.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-unicode table used by byte-level BPE vocabularies."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """The reverse table: a byte-level BPE character -> its byte."""
    return {char: byte for byte, char in bytes_to_unicode().items()}


def is_byte_level(tokenizer: Any) -> bool:
    """Whether a (fast) tokenizer uses a byte-level pre-tokenizer or decoder."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    parts = [backend.pre_tokenizer, backend.decoder]
    return any("ByteLevel" in repr(part) for part in parts if part is not None)
