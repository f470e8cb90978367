"""Map the token *strings* an API returns (``top_logprobs``) to a student's vocabulary ids.

An OpenAI-style API gives each token as its decoded text (``" hello"``) and
usually its UTF-8 ``bytes``; some servers give the raw vocabulary form
(``"Ġhello"``). The policy, in order (the first that applies wins):

1. **exact, byte-level**: for a byte-level BPE student (GPT-2, Llama-3, SmolLM),
   the token's bytes (or the UTF-8 of its text) rewritten in the byte-to-unicode
   alphabet is a vocabulary entry;
2. **exact, raw form**: the string itself is a vocabulary entry (raw forms and
   special tokens such as ``<|im_end|>``); a string that is both a text and
   a raw form (``"è"``) is read as text (rule 1 first);
3. **exact, SentencePiece form**: spaces written as ``▁``, checked by round trip;
4. **exact, single token**: the student encodes the text as exactly one id that
   decodes back to the same text;
5. **approximate, first token**: otherwise the student's *first* token of its
   encoding of the text stands for the string (``exact=False``); the mass of
   several strings that land on one id is merged (summed) by :func:`merge_top_logprobs`;
6. **unmappable**: an empty encoding or the unknown token: the string's mass is
   left to the tail bucket of the KD loss.

This module must not import torch: it works on token strings and ids only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from distillscope.models.tokens import bytes_to_unicode, is_byte_level


@dataclass(frozen=True)
class TokenMapping:
    """Where one teacher token string lands in the student's vocabulary."""

    id: int | None  # None: unmappable (its mass goes to the tail)
    exact: bool
    rule: str  # which rule of the policy decided


def token_text(token: str, token_bytes: list[int] | None) -> tuple[str, bytes]:
    """The text and bytes of an API token; ``bytes`` win when given (partial UTF-8 survives)."""
    if token_bytes:
        raw = bytes(token_bytes)
        return raw.decode("utf-8", errors="replace"), raw
    return token, token.encode("utf-8")


class TokenMapper:
    """Maps API token strings to one student's ids, with a cache (strings repeat a lot)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.vocab: dict[str, int] = tokenizer.get_vocab()
        self.byte_level = is_byte_level(tokenizer)
        self.unk_id = tokenizer.unk_token_id
        self._cache: dict[tuple[str, tuple[int, ...] | None], TokenMapping] = {}

    def map(self, token: str, token_bytes: list[int] | None = None) -> TokenMapping:
        key = (token, tuple(token_bytes) if token_bytes else None)
        found = self._cache.get(key)
        if found is None:
            found = self._map(token, token_bytes)
            self._cache[key] = found
        return found

    def _decode(self, token_id: int) -> str:
        tokenizer = self.tokenizer
        return tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _map(self, token: str, token_bytes: list[int] | None) -> TokenMapping:
        text, raw = token_text(token, token_bytes)
        if self.byte_level and raw:
            table = bytes_to_unicode()
            form = "".join(table[b] for b in raw)
            if form in self.vocab:
                return TokenMapping(self.vocab[form], True, "byte-level")
        if token in self.vocab:
            return TokenMapping(self.vocab[token], True, "raw-form")
        spm = text.replace(" ", "▁")
        if spm in self.vocab and self._decode(self.vocab[spm]).strip() == text.strip() and text.strip():
            return TokenMapping(self.vocab[spm], True, "sentencepiece")
        if not text:
            return TokenMapping(None, False, "empty")
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 and ids[0] != self.unk_id and self._decode(ids[0]) == text:
            return TokenMapping(ids[0], True, "single-token")
        if not ids or ids[0] == self.unk_id:
            return TokenMapping(None, False, "unmappable")
        return TokenMapping(ids[0], False, "first-token")


def merge_top_logprobs(
    mapper: TokenMapper, top_logprobs: list[dict[str, Any]]
) -> tuple[list[int], list[float], bool]:
    """Student ids and merged log-probabilities for one position's ``top_logprobs``.

    Strings that map to the same id have their probabilities summed (log-sum-exp);
    unmappable strings are dropped (their mass stays in the tail). Returns
    ``(ids, logprobs, all_exact)``.
    """
    merged: dict[int, float] = {}
    all_exact = True
    for entry in top_logprobs:
        logprob = float(entry.get("logprob", -math.inf))
        if not math.isfinite(logprob):
            continue
        mapping = mapper.map(str(entry.get("token", "")), entry.get("bytes"))
        all_exact = all_exact and mapping.exact
        if mapping.id is None:
            continue
        if mapping.id in merged:
            high, low = max(merged[mapping.id], logprob), min(merged[mapping.id], logprob)
            merged[mapping.id] = high + math.log1p(math.exp(low - high))
        else:
            merged[mapping.id] = logprob
    ids = list(merged)
    return ids, [min(merged[i], 0.0) for i in ids], all_exact
