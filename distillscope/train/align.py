"""Align a teacher's per-token ``logprobs`` with the student's tokenization of the answer.

Two cases:

- **same tokens**: every sampled teacher token string maps *exactly* to one
  student id and together they spell the answer: the student is trained on the
  teacher's own token sequence, and position ``j``'s ``top_logprobs`` is the
  target for student token ``j``.
- **different tokens**: the student tokenizes the answer text itself; a student
  token gets the teacher distribution of the teacher position that starts at
  the same byte offset (same text prefix, so the same next-token question);
  student tokens that start inside a teacher token get no KD target (skipped,
  and counted).

This module must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distillscope.train.vocab import TokenMapper, merge_top_logprobs, token_text


@dataclass
class AlignedAnswer:
    """The student's completion ids and, per id, a KD target ``(ids, logprobs)`` or ``None``."""

    ids: list[int]
    targets: list[tuple[list[int], list[float]] | None]
    same_tokens: bool
    stats: dict[str, int] = field(default_factory=dict)


def _answer_text(exchange_text: str | None, content: list[dict[str, Any]]) -> str:
    if exchange_text is not None:
        return exchange_text
    return b"".join(token_text(str(t.get("token", "")), t.get("bytes"))[1] for t in content).decode(
        "utf-8", errors="replace"
    )


def align_answer(
    response_text: str | None,
    content: list[dict[str, Any]] | None,
    tokenizer: Any,
    mapper: TokenMapper,
) -> AlignedAnswer:
    """Student ids for the answer and the aligned top-k targets (``None`` where unaligned)."""
    if not content:
        ids = tokenizer.encode(response_text or "", add_special_tokens=False)
        return AlignedAnswer(ids, [None] * len(ids), False, {"positions": len(ids), "aligned": 0})
    text = _answer_text(response_text, content)
    mapped = [mapper.map(str(t.get("token", "")), t.get("bytes")) for t in content]
    spelled = b"".join(token_text(str(t.get("token", "")), t.get("bytes"))[1] for t in content)
    if all(m.exact and m.id is not None for m in mapped) and spelled == text.encode("utf-8"):
        targets = [_target(mapper, t) for t in content]
        ids = [m.id for m in mapped if m.id is not None]
        return AlignedAnswer(ids, targets, True, _stats(targets))
    return _align_by_offsets(text, content, tokenizer, mapper)


def _target(mapper: TokenMapper, entry: dict[str, Any]) -> tuple[list[int], list[float]] | None:
    top = entry.get("top_logprobs") or []
    if not top:
        return None
    ids, logprobs, _ = merge_top_logprobs(mapper, top)
    return (ids, logprobs) if ids else None


def _stats(targets: list[Any]) -> dict[str, int]:
    return {"positions": len(targets), "aligned": sum(t is not None for t in targets)}


def _align_by_offsets(
    text: str, content: list[dict[str, Any]], tokenizer: Any, mapper: TokenMapper
) -> AlignedAnswer:
    starts: dict[int, dict[str, Any]] = {}
    offset = 0
    for entry in content:
        starts.setdefault(offset, entry)
        offset += len(token_text(str(entry.get("token", "")), entry.get("bytes"))[1])
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    targets: list[tuple[list[int], list[float]] | None] = []
    previous_end = 0
    for start_char, end_char in encoded["offset_mapping"]:
        entry = _teacher_entry_at(text, start_char, previous_end, starts)
        targets.append(_target(mapper, entry) if entry is not None else None)
        previous_end = max(previous_end, end_char)
    return AlignedAnswer(ids, targets, False, _stats(targets))


def _teacher_entry_at(
    text: str, start_char: int, previous_end: int, starts: dict[int, dict[str, Any]]
) -> dict[str, Any] | None:
    """The teacher position starting where this student token starts.

    Tokenizers that strip spaces from offsets (word-level, some SentencePiece)
    start a token after the space the teacher's token began with: whitespace
    between the previous student token and this one counts as the same start.
    """
    first = start_char
    while first > previous_end and text[first - 1].isspace():
        first -= 1
    for char in range(first, start_char + 1):
        entry = starts.get(len(text[:char].encode("utf-8")))
        if entry is not None:
            return entry
    return None
