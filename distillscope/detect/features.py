"""Per-account evidence: turn an engine's feature tables into named signals in 0..1 with reasons.

Every signal is a number in [0, 1] and, when it contributes, a sentence a
reviewer can check against the log ("62% of 1,840 requests ask for step-by-step
reasoning"). Volume is judged relative to the population of accounts in the
same log (robust z-score of log volume), the rest on absolute, documented
scales. This module is pure Python/numpy; it must not read logs or score groups.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from distillscope.detect.tables import FeatureTables

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def clip01(x: float) -> float:
    if x != x:  # NaN
        return 0.0
    return float(min(1.0, max(0.0, x)))


def noisy_or(values: list[float]) -> float:
    out = 1.0
    for v in values:
        out *= 1.0 - clip01(v)
    return 1.0 - out


@dataclass
class Signal:
    """One piece of evidence: its strength in 0..1 and the sentence that explains it."""

    name: str
    value: float
    reason: str


@dataclass
class Profile:
    """The signals of one account (or one group of accounts) and the raw numbers behind them."""

    key: str
    n: float
    signals: dict[str, Signal] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, value: float, reason: str) -> None:
        self.signals[name] = Signal(name, clip01(value), reason)

    def get(self, name: str) -> float:
        sig = self.signals.get(name)
        return sig.value if sig else 0.0

    def reasons(self, minimum: float = 0.25) -> list[str]:
        ranked = sorted(self.signals.values(), key=lambda s: (-s.value, s.name))
        return [s.reason for s in ranked if s.value >= minimum]


# -- population-relative volume ----------------------------------------------------------


@dataclass
class Population:
    """Robust location and scale of log volume across all accounts of a log."""

    median_log_n: float
    scale_log_n: float
    accounts: int

    @classmethod
    def of(cls, counts: np.ndarray) -> Population:
        if len(counts) == 0:
            return cls(0.0, 1.0, 0)
        logs = np.log1p(counts.astype(float))
        med = float(np.median(logs))
        mad = float(np.median(np.abs(logs - med))) * 1.4826
        return cls(med, max(mad, 0.5), len(counts))

    def volume_z(self, n: float) -> float:
        return (math.log1p(n) - self.median_log_n) / self.scale_log_n

    def volume_factor(self, n: float) -> float:
        """0 for ordinary volume, 1 for volume five robust deviations above the median (and >= 500)."""
        return clip01((self.volume_z(n) - 2.0) / 3.0) * clip01(n / 500.0)


# -- helpers over detail frames -------------------------------------------------------------


def hours_matrix(hours: pd.DataFrame) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for account, hod, cnt in hours[["account", "hod", "cnt"]].itertuples(index=False):
        vec = out.setdefault(account, np.zeros(24))
        vec[int(hod) % 24] += float(cnt)
    return out


def longest_quiet_run(vec: np.ndarray, floor_share: float = 0.005) -> int:
    """Longest circular run of hours-of-day with (almost) no activity: humans sleep, machines don't."""
    total = vec.sum()
    if total <= 0:
        return 24
    quiet = vec <= floor_share * total
    if quiet.all():
        return 24
    doubled = np.concatenate([quiet, quiet])
    best = run = 0
    for q in doubled:
        run = run + 1 if q else 0
        best = max(best, run)
    return min(best, 24)


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text or "")}


def mean_pairwise_jaccard(texts: list[str], limit: int = 10) -> float:
    """Mean word-set Jaccard over pairs of the first ``limit`` texts (NaN under two)."""
    sets = [s for s in (words(t) for t in texts[:limit]) if s]
    if len(sets) < 2:
        return float("nan")
    sims = [len(a & b) / len(a | b) for a, b in combinations(sets, 2)]
    return float(np.mean(sims))


def word_entropy(texts: list[str]) -> float:
    """Shannon entropy (bits) of the word distribution of the texts: lexical variety."""
    counts = Counter(w for t in texts for w in _WORD.findall((t or "").lower()))
    total = sum(counts.values())
    if total == 0:
        return 0.0
    p = np.fromiter(counts.values(), dtype=float) / total
    return float(-(p * np.log2(p)).sum())


ModelUse = tuple[str, float, float, float]  # (model, requests, first_ts, last_ts)


def model_uses(models: pd.DataFrame) -> dict[str, list[ModelUse]]:
    """Per account, the models it used with their volume and first/last use."""
    out: dict[str, list[ModelUse]] = {}
    cols = ["account", "model", "cnt", "first_ts", "last_ts"]
    for account, model, cnt, first, last in models[cols].itertuples(index=False):
        out.setdefault(account, []).append((str(model), float(cnt), float(first), float(last)))
    return out


def merge_model_uses(uses: list[ModelUse]) -> list[ModelUse]:
    """Pool the model uses of several accounts (a group) per model."""
    pooled: dict[str, list[float]] = {}
    for model, cnt, first, last in uses:
        cur = pooled.setdefault(model, [0.0, first, last])
        cur[0] += cnt
        cur[1], cur[2] = min(cur[1], first), max(cur[2], last)
    return [(m, c, f, la) for m, (c, f, la) in pooled.items()]


def model_switch(uses: list[ModelUse]) -> tuple[bool, str]:
    """Whether traffic moved wholesale from one model to another (disjoint periods, both substantial)."""
    if len(uses) < 2:
        return False, ""
    total = sum(u[1] for u in uses)
    big = sorted((u for u in uses if u[1] >= 0.1 * total), key=lambda u: (u[2], u[0]))
    for old, new in zip(big, big[1:], strict=False):
        # the old model is abandoned within 6 hours of the new one's first use
        if old[3] <= new[2] + 6 * 3600 and new[3] > old[3]:
            return True, f"moved traffic from model {old[0]!r} to {new[0]!r} (no overlap beyond 6 h)"
    return False, ""


# -- the signals ------------------------------------------------------------------------------


def output_length(stats: dict[str, float]) -> float:
    """0..1: how long the answers asked for are (max_tokens or completion tokens).

    Unknown (neither logged) counts as 0.75: a log without lengths must not hide a
    chain-of-thought harvest, whose answers are long by construction.
    """
    lengths = [x for x in (stats.get("mean_max_tokens"), stats.get("mean_comp_tokens")) if x == x and x]
    if not lengths:
        return 0.75
    return clip01((max(lengths) - 32.0) / 224.0)


def base_stats(row: Mapping[str, Any]) -> dict[str, float]:
    """Rates and means from the additive per-account (or per-group) sums."""
    n = float(row["n"])

    def div(a: str, b: str | float) -> float:
        den = float(row[b]) if isinstance(b, str) else b
        num = row.get(a)
        if num is None or num != num or not den or den != den:
            return float("nan")
        return float(num) / den

    return {
        "n": n,
        "cot_rate": div("n_cot", n),
        "lp_rate": div("n_lp", n),
        "mean_top_lp": div("sum_top_lp", "n_lp") if float(row["n_lp"] or 0) else 0.0,
        "bias_rate": div("n_bias", n),
        "distinct_bias_ids": float(row.get("distinct_bias_ids", 0) or 0),
        "mean_max_tokens": div("sum_max_tokens", "n_max_tokens"),
        "mean_comp_tokens": div("sum_comp_tokens", "n_comp_tokens"),
        "long_rate": div("n_long", n),
        "rate_429": div("n_429", n),
        "multi_rate": div("n_multi", n),
        "distinct_template_ratio": div("n_templates", n),
    }


def extraction_signals(p: Profile, st: dict[str, float], vol: float) -> None:
    """What a distiller needs from answers: reasoning traces, log-probs, logits, long outputs."""
    n = st["n"]
    h = output_length(st)
    p.stats["output_length"] = h
    size = clip01(n / 20.0)
    cot = st["cot_rate"]
    if cot == cot and cot > 0:
        p.add(
            "cot",
            clip01((cot - 0.15) / 0.45) * size * (0.3 + 0.7 * h),
            f"chain-of-thought elicitation in {cot:.0%} of {n:,.0f} requests",
        )
    lp, top = st["lp_rate"], st["mean_top_lp"]
    if lp == lp and lp > 0:
        lp_part = clip01((lp - 0.2) / 0.6) * size
        p.add(
            "logprob_harvest",
            lp_part * clip01((top + 1) / 6) * h,
            f"log-probs requested in {lp:.0%} of requests (mean top_logprobs {top:.1f}) with long answers",
        )
        p.add(
            "logprob_next_token",
            0.6 * lp_part * clip01((top - 5) / 10) * vol,
            f"next-token distributions harvested at volume (top_logprobs {top:.1f})",
        )
    ids = st["distinct_bias_ids"]
    if ids > 0:
        p.add(
            "logit_bias_sweep",
            clip01((ids - 10) / 90),
            f"logit_bias over {ids:,.0f} distinct token ids ({st['bias_rate']:.0%} of requests)",
        )
    lr = st["long_rate"]
    if lr == lr and lr > 0:
        p.add(
            "long_outputs",
            clip01((lr - 0.3) / 0.5) * size,
            f"{lr:.0%} of requests ask for >= 1024 tokens or hit the length limit",
        )
    r429 = st["rate_429"]
    if r429 == r429 and r429 > 0:
        p.add(
            "rate_limited",
            clip01((r429 - 0.05) / 0.25) * size,
            f"{r429:.0%} of requests hit rate limits (429)",
        )
    mr = st["multi_rate"]
    if mr == mr and mr > 0:
        p.add("multi_sample", clip01((mr - 0.3) / 0.5) * size * h, f"n > 1 samples in {mr:.0%} of requests")


def timing_signals(p: Profile, row: Mapping[str, Any], hours: np.ndarray | None) -> None:
    """Machine timing: no sleep, metronome-regular gaps, rapid fire, sessions that never end."""
    n = float(row["n"])
    span_h = (float(row["last_ts"]) - float(row["first_ts"])) / 3600.0
    p.stats["span_h"] = span_h
    if hours is not None and n >= 100 and span_h >= 36:
        quiet = longest_quiet_run(hours)
        p.stats["quiet_hours"] = quiet
        p.add(
            "no_sleep",
            clip01((6 - quiet) / 4.0),
            f"active around the clock: longest quiet stretch {quiet} h of 24 over {span_h / 24:.1f} days",
        )
    gaps = float(row.get("n_gaps_in") or 0)
    mean, std = row.get("gap_mean"), row.get("gap_std")
    if gaps >= 30 and mean == mean and std == std and mean and mean > 0:
        cv = float(std) / float(mean)
        p.stats["gap_cv"] = cv
        p.add(
            "regular_gaps",
            clip01((0.6 - cv) / 0.4),
            f"metronome-regular request gaps (CV {cv:.2f} over {gaps:,.0f} gaps)",
        )
    if gaps >= 50:
        fast = float(row.get("n_fast_gaps") or 0) / gaps
        p.add(
            "rapid_fire", clip01((fast - 0.2) / 0.5), f"{fast:.0%} of requests follow the previous within 2 s"
        )
    max_s, max_n = float(row.get("max_session_s") or 0), float(row.get("max_session_n") or 0)
    if max_n >= 200:
        p.add(
            "endless_session",
            clip01((max_s / 3600.0 - 4.0) / 8.0),
            f"a session of {max_n:,.0f} requests over {max_s / 3600:.1f} h without a 30-min break",
        )


def automation(p: Profile) -> float:
    return max(p.get("no_sleep"), p.get("regular_gaps"), p.get("rapid_fire"), p.get("endless_session"))


def coverage_signal(p: Profile, samples: list[str], embed_cov: float | None = None) -> float:
    """Broad coverage of topics: low overlap between sampled prompts (1 - mean word Jaccard)."""
    jac = mean_pairwise_jaccard(samples)
    if jac != jac or len(samples) < 6:
        return 0.0
    p.stats["sample_jaccard"] = jac
    p.stats["word_entropy"] = word_entropy(samples)
    cov = clip01((0.6 - jac) / 0.5)
    if embed_cov is not None:
        p.stats["embedding_spread"] = embed_cov
        cov = 0.5 * cov + 0.5 * embed_cov
    return cov


def account_frame(tables: FeatureTables) -> pd.DataFrame:
    """The accounts frame joined with the small per-account extras (bias ids, template stats)."""
    acc = tables["accounts"].copy()
    if acc.empty:
        return acc
    acc = acc.merge(tables["template_stats"], on="account", how="left")
    acc = acc.merge(tables["bias"], on="account", how="left")
    acc["distinct_bias_ids"] = acc["distinct_bias_ids"].fillna(0)
    if "shared_prompts" in tables.frames:
        acc = acc.merge(tables["shared_prompts"], on="account", how="left")
        acc["n_shared_prompts"] = acc["n_shared_prompts"].fillna(0)
    for col in acc.columns:
        if col != "account":
            acc[col] = pd.to_numeric(acc[col], errors="coerce").astype(float)
    return acc.sort_values("account").reset_index(drop=True)
