"""Per-signal tail probabilities calibrated on the log's own population, and their combination.

Each signal is a number per account, oriented so that larger is more
suspicious. Its tail probability is the upper normal tail of a robust z-score
(median and 1.4826 x MAD, with a per-signal floor on the scale so a signal that
is zero for most accounts does not turn every non-zero value into an outlier)
against a *reference population*:

- banded signals (rates, lengths, prompt diversity) are compared with accounts
  of similar volume: bands of log10(requests), widened to neighbouring bands
  until they hold at least :data:`MIN_REFERENCE` accounts, so a 50-request
  account is judged against its peers and a heavy API customer against heavy
  customers;
- volume-like signals (harvested tokens) against every account of the log.

Tails are combined by evidence *family* with a Bonferroni minimum (the signals
of a family are dependent), and families by an intersection-union test (the
maximum of the family p-values): an account is extraordinary only when all the
families of a playbook are. Under the null of "an ordinary member of this log"
each combined value is a valid (conservative) p-value, which is what lets a
threshold be set for a target false-positive rate.

This module is pure numpy/pandas/scipy; it must not read logs or know labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Edges of the volume bands, in log10(requests): <20, 20-200, 200-2,000, >=2,000.
BAND_EDGES = (1.3, 2.3, 3.3)
MIN_REFERENCE = 40
#: Smallest p-value reported (a z-score of about 8.3): beyond it, tails are model, not data.
P_FLOOR = 1e-16
#: Decades of p-value that span the 0..1 score.
SCORE_DECADES = 6.0
#: One-sided signals (:attr:`SignalSpec.one_sided`) are located and scaled from the values below this
#: many scales above the location (see :func:`lower_location_scale`).
TRUNCATE_AT = 1.5
#: Levels of the benign normal whose quantiles the one-sided fit matches (the lower half).
LOWER_LEVELS = np.linspace(0.05, 0.5, 10)
TRUNCATE_ROUNDS = 100
MIN_KEPT = 20


@dataclass(frozen=True)
class SignalSpec:
    """How one signal is calibrated: its column, the floor on its robust scale, banded or global."""

    column: str
    scale_floor: float
    banded: bool = True
    #: The upper tail may hold many of the log's accounts (campaigns): locate and scale it from below.
    one_sided: bool = False


def bands(n: np.ndarray) -> np.ndarray:
    """Volume band index of each account."""
    return np.searchsorted(np.array(BAND_EDGES), np.log10(np.maximum(n, 1.0)), side="right")


def reference_masks(band: np.ndarray, minimum: int = MIN_REFERENCE) -> dict[int, np.ndarray]:
    """For each band, the accounts it is compared with: itself, widened to neighbours until ``minimum``."""
    out = {}
    top = int(band.max()) if len(band) else 0
    for b in range(top + 1):
        lo = hi = b
        mask = band == b
        while mask.sum() < minimum and (lo > 0 or hi < top):
            # widen towards the lower (more numerous, more ordinary) bands first
            if lo > 0:
                lo -= 1
            elif hi < top:
                hi += 1
            mask = (band >= lo) & (band <= hi)
        out[b] = mask
    return out


def median_mad(ref: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826 x MAD (the normal's sigma) of the reference values."""
    med = float(np.median(ref))
    return med, 1.4826 * float(np.median(np.abs(ref - med)))


def lower_location_scale(ref: np.ndarray, scale_floor: float) -> tuple[float, float]:
    """Location and scale of the reference's bulk, fitted to its values at or below a cut above it.

    Fixed point from the median and MAD: keep the values at or below ``m + TRUNCATE_AT x s``; were they
    a normal truncated there, the kept values' quantile at level ``q / Phi(TRUNCATE_AT)`` would be the
    normal's quantile ``q``, so a straight line through those quantiles against ``Phi^-1(q)`` for the
    levels :data:`LOWER_LEVELS` (a normal quantile plot of the lower half) gives the next ``m``
    (intercept) and ``s`` (slope). Accounts above the cut (campaigns collecting far more than the bulk)
    never enter the estimate; with none there it converges to a normal's location and scale, and a
    heavy lower tail widens ``s`` (read as a heavy upper one too). See :data:`TRUNCATE_AT`.
    """
    m, s = median_mad(ref)
    z = norm.ppf(LOWER_LEVELS)
    top = float(norm.cdf(TRUNCATE_AT))
    for _ in range(TRUNCATE_ROUNDS):
        kept = ref[ref <= m + TRUNCATE_AT * max(s, scale_floor)]
        if len(kept) < MIN_KEPT:
            break
        slope, intercept = np.polyfit(z, np.quantile(kept, LOWER_LEVELS / top), 1)
        done = abs(intercept - m) < 1e-9 and abs(slope - s) < 1e-9
        m, s = float(intercept), float(slope)
        if done:
            break
    return m, s


def robust_tail(
    values: np.ndarray, reference: np.ndarray, scale_floor: float, one_sided: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores of ``values`` against the finite reference values, and their upper normal tails."""
    ref = reference[np.isfinite(reference)]
    if len(ref) == 0:
        z = np.zeros_like(values, dtype=float)
    else:
        med, mad = lower_location_scale(ref, scale_floor) if one_sided else median_mad(ref)
        z = (values - med) / max(mad, scale_floor)
    z = np.where(np.isfinite(values), z, 0.0)
    return z, np.clip(norm.sf(z), P_FLOOR, 1.0)


def calibrate(table: pd.DataFrame, specs: list[SignalSpec]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Robust z-scores and tail p-values of every signal (columns named after the signals)."""
    band = bands(table["n"].to_numpy(dtype=float))
    masks = reference_masks(band)
    zs = pd.DataFrame(index=table.index)
    ps = pd.DataFrame(index=table.index)
    for spec in specs:
        values = table[spec.column].to_numpy(dtype=float)
        z = np.zeros(len(values))
        p = np.ones(len(values))
        if spec.banded:
            for b, mask in masks.items():
                rows = band == b
                if rows.any():
                    z[rows], p[rows] = robust_tail(
                        values[rows], values[mask], spec.scale_floor, spec.one_sided
                    )
        else:
            z, p = robust_tail(values, values, spec.scale_floor, spec.one_sided)
        zs[spec.column], ps[spec.column] = z, p
    return zs, ps


def family_p(ps: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Bonferroni minimum over a family of dependent signals: min(p) x k, capped at 1."""
    cols = [c for c in columns if c in ps]
    if not cols:
        return np.ones(len(ps))
    return np.minimum(1.0, ps[cols].min(axis=1).to_numpy() * len(cols))


def score_of(p: np.ndarray | float) -> np.ndarray | float:
    """The 0..1 score written to accounts.jsonl: -log10(p) / 6 (p = 1e-3 gives 0.5, 1e-6 or less gives 1)."""
    return np.clip(-np.log10(np.maximum(p, P_FLOOR)) / SCORE_DECADES, 0.0, 1.0)


def p_of_score(score: float) -> float:
    """The p-value a score stands for (the inverse of :func:`score_of`)."""
    return float(10 ** (-SCORE_DECADES * score))


def threshold_for_fpr(target_fpr: float) -> float:
    """The score threshold whose p-value is ``target_fpr`` (valid when tails are calibrated; see docs)."""
    return float(score_of(target_fpr))
