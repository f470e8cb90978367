"""Token strings and bytes: GPT-2's reversible byte <-> printable-unicode table, and each token's
display text and raw bytes as OpenAI's ``logprobs`` show them (:class:`TokenTexts`).

Used wherever a token string from an API (``top_logprobs``) or a vocabulary must be
turned back into bytes or matched across tokenizers, and wherever log-probs are
written in the wire format (the server, local teacher exchanges). Pure Python; no model loading.

This module must not import torch or transformers, nor load a tokenizer: one is handed to it.
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


class TokenTexts:
    """Display string and raw bytes of token ids (cached), for ``logprobs`` answers.

    The text is ``tokenizer.decode([id])``; the bytes of a byte-level BPE token are
    its vocabulary bytes (a partial UTF-8 sequence stays exact), otherwise the UTF-8
    of its text (special tokens, SentencePiece and other vocabularies)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.byte_level = is_byte_level(tokenizer)
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self._text: dict[int, str] = {}
        self._bytes: dict[int, list[int]] = {}

    def text(self, token_id: int) -> str:
        found = self._text.get(token_id)
        if found is None:
            found = self.tokenizer.decode([token_id], skip_special_tokens=False)
            self._text[token_id] = found
        return found

    def bytes(self, token_id: int) -> list[int]:
        found = self._bytes.get(token_id)
        if found is None:
            found = self._raw_bytes(token_id)
            self._bytes[token_id] = found
        return found

    def entry(self, token_id: int, logprob: float) -> dict[str, Any]:
        """One ``logprobs.content`` entry (without ``top_logprobs``)."""
        return {"token": self.text(token_id), "logprob": logprob, "bytes": self.bytes(token_id)}

    def _raw_bytes(self, token_id: int) -> list[int]:
        if self.byte_level and token_id not in self.special:
            piece = self.tokenizer.convert_ids_to_tokens(token_id)
            decoder = unicode_to_bytes()
            if isinstance(piece, str) and all(ch in decoder for ch in piece):
                return [decoder[ch] for ch in piece]
        return list(self.text(token_id).encode("utf-8"))
