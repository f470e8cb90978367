"""Fidelity of a student to its teacher on held-out prompts, teacher-forced on the teacher's greedy answers.

Per answer token (micro-averaged over all of them):

- ``agreement``: the student's top-1 next token equals the teacher's top-1 (the
  token the greedy teacher wrote, so it needs no teacher distribution);
- ``kl``: forward KL(teacher || student) over the full vocabulary (local
  teacher with the same vocabulary only; otherwise ``None``);
- ``student_ce`` / ``teacher_ce``: cross-entropy of the teacher's tokens under
  each model (nats per token);
- ``exact_match``: share of prompts whose greedy answers are identical strings.

A model compared with itself scores agreement 1, KL 0, exact match 1. Both
models are read with :func:`distillscope.models.generate.teacher_force`.

This module must not load a model or hold a generation or teacher-forcing loop of its own: the
models are handed to it, and both loops are :mod:`distillscope.models.generate`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from distillscope.evaluate.generate import generate_answers
from distillscope.evaluate.teachers import Continuation
from distillscope.models.generate import Forced, teacher_force
from distillscope.models.runtime import prompt_ids


def same_vocabulary(a: Any, b: Any) -> bool:
    return a is b or (len(a) == len(b) and a.get_vocab() == b.get_vocab())


def _answer_ids(tokenizer: Any, cont: Continuation, teacher_ids_ok: bool) -> list[int]:
    ids = list(cont.ids) if teacher_ids_ok and cont.ids is not None else None
    if ids is None:
        ids = tokenizer.encode(cont.text, add_special_tokens=False)
    if cont.finish_reason == "stop" and tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return ids


def fidelity(
    student: Any,
    student_tokenizer: Any,
    conversations: Sequence[list[dict[str, Any]]],
    continuations: Sequence[Continuation],
    teacher: Any = None,
    teacher_tokenizer: Any = None,
    student_answers: Sequence[str] | None = None,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Token-level fidelity and exact match (see the module doc); ``teacher=None`` for text-only."""
    shared = teacher is not None and same_vocabulary(student_tokenizer, teacher_tokenizer)
    pad = student_tokenizer.pad_token_id or 0
    pairs = [
        (prompt_ids(student_tokenizer, conversation), _answer_ids(student_tokenizer, cont, shared))
        for conversation, cont in zip(conversations, continuations, strict=True)
    ]
    force = {"batch_size": batch_size, "max_length": None, "pad_id": pad, "keep_dist": True}
    totals = {"tokens": 0, "agree": 0, "kl": 0.0, "student_ce": 0.0, "teacher_ce": 0.0}
    for start in range(0, len(pairs), batch_size):  # one batch of full distributions in memory at a time
        chunk = pairs[start : start + batch_size]
        on_student = teacher_force(student, chunk, **force)
        on_teacher = teacher_force(teacher, chunk, **force) if shared else [None] * len(chunk)
        for s, t in zip(on_student, on_teacher, strict=True):
            if s.dist is not None:
                _add(totals, s, t)
    n = max(totals["tokens"], 1)
    result: dict[str, Any] = {
        "prompts": len(conversations),
        "tokens": totals["tokens"],
        "agreement": totals["agree"] / n,
        "kl": totals["kl"] / n if shared else None,
        "student_ce": totals["student_ce"] / n,
        "teacher_ce": totals["teacher_ce"] / n if shared else None,
    }
    if student_answers is not None:
        same = sum(a.strip() == c.text.strip() for a, c in zip(student_answers, continuations, strict=True))
        result["exact_match"] = same / max(len(continuations), 1)
    return result


def _add(totals: dict[str, Any], s: Forced, t: Forced | None) -> None:
    """One answer's tokens into the running sums (teacher ``t`` only with a shared vocabulary)."""
    target = torch.tensor(s.ids[s.start :])
    s_log = s.dist
    totals["tokens"] += len(target)
    totals["student_ce"] += float(-s_log.gather(1, target[:, None]).sum())
    if t is not None:
        t_log = t.dist
        totals["kl"] += float((t_log.exp() * (t_log - s_log)).sum())
        totals["teacher_ce"] += float(-t_log.gather(1, target[:, None]).sum())
        totals["agree"] += int((s_log.argmax(-1) == t_log.argmax(-1)).sum())
    else:
        totals["agree"] += int((s_log.argmax(-1) == target).sum())


def student_greedy(
    model: Any, tokenizer: Any, conversations: Sequence[list[dict[str, Any]]], max_new_tokens: int
) -> list[str]:
    return [g.text for g in generate_answers(model, tokenizer, conversations, max_new_tokens)]
