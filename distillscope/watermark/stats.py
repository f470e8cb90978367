"""The statistics of green-list detection: an exact one-sided binomial test and Holm's correction.

Under the null (text or model independent of the key) each distinct
(seed, token) pair is green with probability exactly ``p0 = int(gamma*V)/V``,
independently across distinct seeds, so the number of green pairs among ``n``
is Binomial(n, p0) — tokens that share a seed are drawn without replacement
from one green list, which only makes the test conservative. The p-value is
``P(X >= green) = binom.sf(green - 1, n, p0)``, exact, not a normal
approximation; the z-score is reported alongside for comparison with
transformers' ``WatermarkDetector``.

Below ``min_tokens`` distinct pairs no p-value is given at all: the result
says "too short to test" instead.

This module must not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class BinomialTest:
    """Green count of ``scored`` distinct pairs against the null rate ``p0``."""

    scored: int
    green: int
    p0: float
    min_tokens: int
    z_score: float | None = None
    p_value: float | None = None

    @property
    def too_short(self) -> bool:
        return self.scored < self.min_tokens

    @property
    def green_fraction(self) -> float | None:
        return self.green / self.scored if self.scored else None

    def verdict(self, alpha: float) -> str:
        if self.too_short:
            return (
                f"too short to test ({self.scored} distinct scored tokens; at least {self.min_tokens} needed)"
            )
        return "watermarked" if self.p_value is not None and self.p_value < alpha else "not detected"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["green_fraction"] = self.green_fraction
        data["too_short"] = self.too_short
        return data


def binomial_test(green: int, scored: int, p0: float, min_tokens: int = 1) -> BinomialTest:
    """Exact one-sided test that more than a fraction ``p0`` of ``scored`` pairs are green."""
    from scipy.stats import binom

    if not 0 <= green <= scored:
        raise ValueError("green must lie between 0 and scored")
    if not 0.0 < p0 < 1.0:
        raise ValueError("p0 must lie strictly between 0 and 1")
    test = BinomialTest(scored=scored, green=green, p0=p0, min_tokens=max(1, min_tokens))
    if test.too_short:
        return test
    test.z_score = (green - p0 * scored) / math.sqrt(scored * p0 * (1 - p0))
    test.p_value = float(binom.sf(green - 1, scored, p0))
    return test


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error control); ``None`` entries stay ``None``.

    Reject hypothesis ``i`` at level alpha when its adjusted p-value is below alpha.
    """
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def log10_p(p_value: float | None) -> float | None:
    """``-log10 p`` for plots and tables (a p-value that underflowed to 0 reads as 320)."""
    if p_value is None:
        return None
    return 320.0 if p_value <= 0 else -math.log10(p_value)
