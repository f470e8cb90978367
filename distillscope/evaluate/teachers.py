"""Teachers to compare a student with: a local model (full distributions) or an OpenAI-compatible URL (text).

A local teacher gives greedy continuations *and* its next-token distributions,
so fidelity can report KL; a URL teacher gives text only (greedy via
``temperature=0``), so the metrics that need the teacher's distribution are
reported as unavailable rather than guessed.

This module must not score: it only returns continuations, which
:mod:`~distillscope.evaluate.fidelity` and :mod:`~distillscope.evaluate.tasks` score; a URL teacher
must never be sampled (it is asked at ``temperature=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distillscope.evaluate.generate import generate_answers


@dataclass
class Continuation:
    text: str
    ids: list[int] | None  # teacher token ids (local teachers only)
    finish_reason: str


class LocalTeacher:
    """A local Hugging Face causal LM (the embedded teacher or a directory)."""

    kind = "local"

    def __init__(self, name_or_path: str | None = None, model: Any = None, tokenizer: Any = None) -> None:
        if model is None:
            from distillscope.models import load_model

            model, tokenizer = load_model(name_or_path)
        self.model, self.tokenizer = model, tokenizer
        self.name = str(name_or_path or "smollm2-135m-instruct")

    def complete(
        self, conversations: Sequence[list[dict[str, Any]]], max_new_tokens: int, progress: Any = None
    ) -> list[Continuation]:
        out = generate_answers(self.model, self.tokenizer, conversations, max_new_tokens, progress=progress)
        return [Continuation(g.text, g.ids, g.finish_reason) for g in out]


class RemoteTeacher:
    """Any OpenAI-compatible ``/v1`` URL, asked with ``temperature=0`` (text-only metrics)."""

    kind = "remote"
    model = None
    tokenizer = None

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=3)
        self.name, self.model_name = f"{model} @ {base_url}", model

    def complete(
        self, conversations: Sequence[list[dict[str, Any]]], max_new_tokens: int, progress: Any = None
    ) -> list[Continuation]:
        out = []
        for messages in conversations:
            answer = self.client.chat.completions.create(
                model=self.model_name, messages=messages, temperature=0, max_tokens=max_new_tokens, seed=0
            )
            choice = answer.choices[0]
            out.append(Continuation(choice.message.content or "", None, choice.finish_reason or "stop"))
            if progress is not None:
                progress(1)
        return out


def make_teacher(teacher: str, api_key: str | None = None, model: str | None = None) -> Any:
    """``http(s)://...`` -> :class:`RemoteTeacher` (``model`` names it); otherwise a local teacher."""
    if teacher.startswith(("http://", "https://")):
        return RemoteTeacher(teacher, model or "default", api_key)
    return LocalTeacher(teacher)
