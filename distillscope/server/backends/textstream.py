"""Incremental detokenisation with stop strings.

:class:`TextStream` turns one row's generated token ids into text deltas that are
safe to send: it holds back an incomplete UTF-8 character and any tail that could
still become a stop string, and reports when a stop string completed (the text is
cut before it). The text and bytes of single tokens (``logprobs``) are
:class:`distillscope.models.tokens.TokenTexts`. This module must not touch the model.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


class TextStream:
    """One row's text as tokens arrive: safe deltas, stop strings, final text."""

    def __init__(self, tokenizer: Any, stop: tuple[str, ...] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = tuple(s for s in stop if s)
        self.ids: list[int] = []
        self.emitted = 0  # characters of the text already handed out
        self.text = ""
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add a token; return the new text that is safe to send (maybe empty)."""
        self.ids.append(token_id)
        full = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if self.stop:
            start = max(0, self.emitted - max(len(s) for s in self.stop))
            cut = _first_stop(full, self.stop, start)
            if cut is not None:
                self.stopped = True
                self.text = full[:cut]
                return self._release(len(self.text))
        self.text = full
        safe = len(full)
        while safe > self.emitted and full[safe - 1] == REPLACEMENT:
            safe -= 1
        safe -= _held_back(full[:safe], self.stop)
        return self._release(safe)

    def flush(self) -> str:
        """All text not yet handed out (at the end of generation)."""
        return self._release(len(self.text))

    def _release(self, end: int) -> str:
        if end <= self.emitted:
            return ""
        delta = self.text[self.emitted : end]
        self.emitted = end
        return delta


def _first_stop(text: str, stops: tuple[str, ...], start: int) -> int | None:
    hits = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(hits) if hits else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest
