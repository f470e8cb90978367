"""Identity leakage: ask a model who it is and who trained it; flag names it should not say.

A student distilled from a teacher's answers tends to repeat the teacher's
self-description ("I am SmolLM, trained by Hugging Face"). The probe asks a few
phrasings greedily and reports every watched name found in the answers. It must
not judge who really trained the model: a hit is evidence, not proof.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from distillscope.probe.endpoint import Endpoint, api_call, run_all

QUESTIONS = (
    "Who are you?",
    "Which company trained you?",
    "What is your name, and who created you?",
    "What model are you, exactly?",
    "Who are your developers?",
)

#: Names that give away the embedded teacher (SmolLM2 by Hugging Face).
DEFAULT_WATCH_NAMES = ("Hugging Face", "SmolLM")


def _pattern(name: str) -> re.Pattern[str]:
    # "Hugging Face", "HuggingFace", "hugging-face" and "SmolLM2" all match their watched name.
    words = [re.escape(w) for w in re.split(r"[\s_\-]+", name.strip()) if w]
    if not words:
        raise ValueError("watched names must not be empty")
    return re.compile(r"(?<![A-Za-z0-9])" + r"[\s_\-]*".join(words), re.IGNORECASE)


def find_names(text: str, names: tuple[str, ...] | list[str]) -> list[str]:
    """The watched names that occur in ``text`` (case, spacing and hyphens ignored)."""
    return [name for name in names if _pattern(name).search(text or "")]


@dataclass
class IdentityAnswer:
    model: str
    question: str
    answer: str
    hits: list[str]


@dataclass
class IdentityResult:
    endpoint: str
    watch_names: list[str]
    answers: list[IdentityAnswer] = field(default_factory=list)

    @property
    def leaked(self) -> bool:
        return any(a.hits for a in self.answers)

    @property
    def leak_rate(self) -> float:
        return sum(1 for a in self.answers if a.hits) / len(self.answers) if self.answers else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "watch_names": self.watch_names,
            "leak_rate": self.leak_rate,
            "answers": [asdict(a) for a in self.answers],
        }


def probe_identity(
    endpoint: Endpoint,
    *,
    watch_names: tuple[str, ...] | list[str] = DEFAULT_WATCH_NAMES,
    questions: tuple[str, ...] | list[str] = QUESTIONS,
    label: str | None = None,
    max_tokens: int = 48,
    concurrency: int = 4,
) -> IdentityResult:
    """Ask every question greedily (temperature 0) and flag the watched names in the answers."""
    names = [n for n in watch_names if n.strip()]
    for name in names:
        _pattern(name)
    if not questions:
        raise ValueError("at least one question is needed")
    client = endpoint.client()
    model = endpoint.resolve_model(client)

    def ask(question: str) -> IdentityAnswer:
        answer = api_call(
            lambda: client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": question}],
                temperature=0,
                max_tokens=max_tokens,
            ),
            f"asking {question!r}",
        )
        text = answer.choices[0].message.content or ""
        return IdentityAnswer(label or model, question, text, find_names(text, names))

    return IdentityResult(endpoint.label(), names, run_all(ask, questions, concurrency))
