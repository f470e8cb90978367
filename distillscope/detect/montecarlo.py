"""Sequential Monte Carlo p-values (Besag and Clifford 1991) from a generator seeded by account names.

The detector's group tests (a peeled topic group against random neighbourhoods, one playbook across
customers against random customer structures) draw null samples in batches and stop early once enough of
them are as extreme as what was observed. This module holds that stopping rule and the seeding that makes
the same log give the same p in every process; it must not know what is drawn or score anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def names_rng(names: Iterable[str]) -> np.random.Generator:
    """A generator seeded from the sorted names (SHA-256, independent of the process's hash seed)."""
    digest = hashlib.sha256("\n".join(sorted(names)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def sequential_p(batches: Iterable[np.ndarray], stop: int, limit: int) -> tuple[float, int, int]:
    """The p-value of batches of null draws, each a boolean array (True: as extreme as observed).

    Batches are taken while fewer than ``limit`` draws were made. Drawing stops at the draw that makes
    ``stop`` exceedances (p = stop / draws); otherwise p = (1 + exceedances) / (1 + draws). Returns
    (p, draws counted, exceedances).
    """
    hits, drawn = 0, 0
    source = iter(batches)
    while drawn < limit:
        alike = next(source)
        over = np.flatnonzero(alike)
        if hits + len(over) >= stop:
            drawn += int(over[stop - hits - 1]) + 1
            return stop / drawn, drawn, stop
        hits, drawn = hits + len(over), drawn + len(alike)
    return (1 + hits) / (1 + drawn), drawn, hits
