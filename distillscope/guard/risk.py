"""Online distillation-risk score per account, from cheap streaming features, with reasons.

Each request updates its account's state in O(1) plus one MinHash and one LSH
query over that account's recent prompts:

- **rate**: requests per minute from an EWMA of inter-arrival gaps;
- **timing**: coefficient of variation (CV) of the gaps, EWMA mean and variance:
  machine-regular (CV well below 1) or bursty (CV well above 1) at volume;
- **template reuse**: share of recent prompts that are near-duplicates (MinHash
  Jaccard >= ``lsh_threshold`` after digits are masked) of another recent prompt
  without being the same text -- a template with its slots filled in;
- **coverage**: share of distinct recent prompts, weighted by volume -- many
  different questions is how a harvest covers a model's skills;
- **log-prob harvesting**: share of requests asking ``logprobs``/``top_logprobs``
  (more weight for wide ``top_logprobs``), and share with ``logit_bias``;
- **chain-of-thought elicitation**: share of prompts with phrases such as "step by
  step" or "show your reasoning".

Each feature is in 0..1; the score is a noisy-OR of the weighted features, scaled
by the evidence (``n / (n + prior_requests)``) so that one request never looks
like a campaign. Fractions are over the last ``window`` requests, so an account
that changes its behaviour changes its score.

This module keeps no raw prompt text (only MinHash signatures and text hashes) and
must not know about HTTP, keys or stores.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from datasketch import MinHash

_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"\w+", re.UNICODE)
COT_PATTERN = re.compile(
    r"step[- ]by[- ]step|let'?s think|think (it )?through|show (your|all|the) (work|working|reasoning|steps)"
    r"|explain (your|the) reasoning|chain[- ]of[- ]thought|reason(ing)? (carefully|out loud|aloud)"
    r"|walk me through|your (full |complete |detailed )?reasoning|<think>|reasoning trace",
    re.IGNORECASE,
)


@dataclass
class RiskConfig:
    """Tuning of the risk features; the defaults suit a small provider's traffic."""

    window: int = 128
    num_perm: int = 32
    lsh_threshold: float = 0.6
    ewma_alpha: float = 0.1
    rate_high_rpm: float = 120.0
    volume_high: int = 500
    prior_requests: int = 5
    max_accounts: int = 10_000
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "rate": 0.3,
            "timing": 0.2,
            "template": 0.5,
            "coverage": 0.3,
            "logprobs": 0.6,
            "logit_bias": 0.5,
            "cot": 0.4,
        }
    )

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError("RiskConfig.window must be at least 2")
        if not 0 < self.lsh_threshold < 1:
            raise ValueError("RiskConfig.lsh_threshold must be in (0, 1)")
        if not 0 < self.ewma_alpha <= 1:
            raise ValueError("RiskConfig.ewma_alpha must be in (0, 1]")
        if self.rate_high_rpm <= 0 or self.volume_high < 1 or self.prior_requests < 0:
            raise ValueError("RiskConfig.rate_high_rpm, volume_high must be positive, prior_requests >= 0")
        if self.max_accounts < 1:
            raise ValueError("RiskConfig.max_accounts must be at least 1")
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"RiskConfig.weights: unknown feature(s) {sorted(unknown)}; known: {FEATURES}")
        for name, weight in self.weights.items():
            if not 0 <= weight <= 1:
                raise ValueError(f"RiskConfig.weights[{name!r}] must be in 0..1")


FEATURES = ("rate", "timing", "template", "coverage", "logprobs", "logit_bias", "cot")


@dataclass
class RequestFeatures:
    """What one request contributes, extracted from its body."""

    text: str
    logprobs: bool = False
    top_logprobs: int = 0
    logit_bias: bool = False
    cot: bool = False


def request_features(body: dict[str, Any]) -> RequestFeatures:
    """The risk-relevant facts of a chat or completion request body (tolerant of bad input)."""
    text = _prompt_text(body)
    top = body.get("top_logprobs")
    logprobs = body.get("logprobs")
    # /v1/completions takes logprobs as an int (the number of alternatives).
    if isinstance(logprobs, int) and not isinstance(logprobs, bool):
        top = max(int(top or 0) if isinstance(top, int) else 0, logprobs)
        asked = logprobs > 0
    else:
        asked = bool(logprobs) or (isinstance(top, int) and top > 0)
    top_n = top if isinstance(top, int) and not isinstance(top, bool) and top > 0 else 0
    bias = body.get("logit_bias")
    return RequestFeatures(
        text=text,
        logprobs=asked,
        top_logprobs=min(top_n, 100),
        logit_bias=isinstance(bias, dict) and len(bias) > 0,
        cot=bool(COT_PATTERN.search(text)),
    )


def _prompt_text(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(p for p in prompt if isinstance(p, str))
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    parts = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("user", None):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


@dataclass
class RiskScore:
    """An account's score (0..1), its features and the reasons, most important first."""

    account: str
    score: float
    requests: int
    features: dict[str, float]
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "score": round(self.score, 4),
            "requests": self.requests,
            "features": {k: round(v, 4) for k, v in self.features.items()},
            "reasons": self.reasons,
        }


def _bands_for(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows) whose LSH threshold (1/b)^(1/r) is closest to ``threshold``."""
    best = (num_perm, 1)
    best_error = float("inf")
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        bands = num_perm // rows
        error = abs((1 / bands) ** (1 / rows) - threshold)
        if error < best_error:
            best, best_error = (bands, rows), error
    return best


class _BandIndex:
    """MinHash LSH over one account's recent prompts, answering only what the risk needs.

    Each band's bucket counts the text hashes in it, so "is there a near-duplicate
    with a different text?" is one dictionary look-up per band (datasketch's
    ``MinHashLSH.query`` returns every candidate, which costs O(window) when an
    account repeats a template -- exactly the case that matters here).
    """

    def __init__(self, bands: int, rows: int) -> None:
        self.bands, self.rows = bands, rows
        self.tables: list[dict[bytes, dict[str, int]]] = [{} for _ in range(bands)]

    def keys(self, sketch: MinHash) -> list[bytes]:
        values = sketch.hashvalues
        return [values[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]

    def has_other(self, keys: list[bytes], text_hash: str) -> bool:
        for table, key in zip(self.tables, keys, strict=True):
            bucket = table.get(key)
            if bucket and (len(bucket) > 1 or text_hash not in bucket):
                return True
        return False

    def add(self, keys: list[bytes], text_hash: str) -> None:
        for table, key in zip(self.tables, keys, strict=True):
            bucket = table.setdefault(key, {})
            bucket[text_hash] = bucket.get(text_hash, 0) + 1

    def remove(self, keys: list[bytes], text_hash: str) -> None:
        for table, key in zip(self.tables, keys, strict=True):
            bucket = table[key]
            bucket[text_hash] -= 1
            if not bucket[text_hash]:
                del bucket[text_hash]
                if not bucket:
                    del table[key]


def _hash32(shingle: str) -> int:
    return hash(shingle) & 0xFFFFFFFF


class _AccountState:
    """Streaming state of one account; all fractions are over the last ``window`` requests."""

    def __init__(self, config: RiskConfig) -> None:
        self.n = 0
        self.last_ts: float | None = None
        self.gap_mean: float | None = None
        self.gap_var = 0.0
        self.flags: deque[tuple[bool, int, bool, bool, bool]] = deque()
        self.sums = [0, 0, 0, 0]  # logprobs, logit_bias, cot, template
        self.top_counts: dict[int, int] = {}  # top_logprobs values in the window -> how often
        self.recent: deque[tuple[list[bytes] | None, str]] = deque()  # (band keys, text hash)
        self.hash_counts: dict[str, int] = {}
        self.index = _BandIndex(*_bands_for(config.num_perm, config.lsh_threshold))


class RiskTracker:
    """Per-account streaming risk state (thread-safe; LRU-bounded to ``max_accounts``)."""

    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()
        self._accounts: OrderedDict[str, _AccountState] = OrderedDict()
        self._lock = threading.Lock()
        # One sketch, cleared and refilled per request (under the lock): building a MinHash
        # costs more than filling one. Signatures never leave the process, so Python's
        # own (per-process salted) hash of the shingle is enough and much cheaper than SHA-1.
        self._sketch = MinHash(num_perm=self.config.num_perm, seed=7, hashfunc=_hash32)

    def _band_keys(self, state: _AccountState, text: str) -> list[bytes] | None:
        if not text:
            return None
        words = _WORDS.findall(_DIGITS.sub("0", text.lower()))
        shingles = [" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))] or [""]
        self._sketch.clear()
        self._sketch.update_batch(shingles)
        return state.index.keys(self._sketch)

    def observe(self, account: str, features: RequestFeatures, ts: float) -> RiskScore:
        """Update ``account`` with one request at time ``ts``; returns the new score."""
        text_hash = hashlib.blake2b(
            features.text.strip().lower().encode("utf-8", "surrogatepass"), digest_size=8
        ).hexdigest()
        with self._lock:
            state = self._state(account)
            self._update_timing(state, ts)
            keys = self._band_keys(state, features.text)
            template = self._update_prompts(state, keys, text_hash)
            self._push_flags(state, features, template)
            return self._score(account, state, ts)

    def score(self, account: str, now: float) -> RiskScore:
        with self._lock:
            state = self._accounts.get(account)
            if state is None:
                return RiskScore(account, 0.0, 0, dict.fromkeys(FEATURES, 0.0), [])
            return self._score(account, state, now)

    def accounts(self) -> list[str]:
        with self._lock:
            return list(self._accounts)

    # -- updates -------------------------------------------------------------------------

    def _state(self, account: str) -> _AccountState:
        state = self._accounts.get(account)
        if state is None:
            state = _AccountState(self.config)
            self._accounts[account] = state
            while len(self._accounts) > self.config.max_accounts:
                self._accounts.popitem(last=False)
        else:
            self._accounts.move_to_end(account)
        return state

    def _update_timing(self, state: _AccountState, ts: float) -> None:
        state.n += 1
        if state.last_ts is not None:
            gap = max(ts - state.last_ts, 1e-4)
            if state.gap_mean is None:
                state.gap_mean = gap
            else:
                alpha = self.config.ewma_alpha
                diff = gap - state.gap_mean
                # West's EWMA of mean and variance.
                state.gap_mean += alpha * diff
                state.gap_var = (1 - alpha) * (state.gap_var + alpha * diff * diff)
        state.last_ts = ts if state.last_ts is None else max(state.last_ts, ts)

    def _update_prompts(self, state: _AccountState, keys: list[bytes] | None, text_hash: str) -> bool:
        template = keys is not None and state.index.has_other(keys, text_hash)
        if keys is not None:
            state.index.add(keys, text_hash)
        state.recent.append((keys, text_hash))
        state.hash_counts[text_hash] = state.hash_counts.get(text_hash, 0) + 1
        if len(state.recent) > self.config.window:
            old_keys, old_hash = state.recent.popleft()
            if old_keys is not None:
                state.index.remove(old_keys, old_hash)
            state.hash_counts[old_hash] -= 1
            if not state.hash_counts[old_hash]:
                del state.hash_counts[old_hash]
        return template

    def _push_flags(self, state: _AccountState, features: RequestFeatures, template: bool) -> None:
        flags = (features.logprobs, features.top_logprobs, features.logit_bias, features.cot, template)
        state.flags.append(flags)
        state.top_counts[flags[1]] = state.top_counts.get(flags[1], 0) + 1
        for i, value in enumerate((flags[0], flags[2], flags[3], flags[4])):
            state.sums[i] += int(value)
        if len(state.flags) > self.config.window:
            old = state.flags.popleft()
            state.top_counts[old[1]] -= 1
            if not state.top_counts[old[1]]:
                del state.top_counts[old[1]]
            for i, value in enumerate((old[0], old[2], old[3], old[4])):
                state.sums[i] -= int(value)

    # -- scoring -------------------------------------------------------------------------

    def _score(self, account: str, state: _AccountState, now: float) -> RiskScore:
        cfg = self.config
        window = max(len(state.flags), 1)
        lp, bias, cot, template = (s / window for s in state.sums)
        top = max(state.top_counts, default=0)
        rate = timing = 0.0
        rpm, cv = 0.0, 0.0
        if state.gap_mean is not None:
            idle = max(now - (state.last_ts or now), 0.0)
            rpm = 60.0 / max(state.gap_mean, idle, 1e-3)
            rate = min(1.0, rpm / cfg.rate_high_rpm)
            cv = math.sqrt(state.gap_var) / state.gap_mean if state.gap_mean > 0 else 0.0
            if state.n >= 10:
                shape = max(0.0, 1.0 - cv / 0.5) if cv < 0.5 else min(1.0, max(0.0, (cv - 2.0) / 2.0))
                timing = shape * rate
        distinct = len(state.hash_counts) / max(len(state.recent), 1)
        features = {
            "rate": rate,
            "timing": timing,
            "template": template,
            "coverage": distinct * min(1.0, state.n / cfg.volume_high),
            "logprobs": lp * (0.6 + 0.4 * min(1.0, top / 20)),
            "logit_bias": bias,
            "cot": cot,
        }
        keep = 1.0
        contributing: list[tuple[float, str]] = []
        for name in FEATURES:
            contribution = cfg.weights.get(name, 0.0) * features[name]
            keep *= 1.0 - contribution
            if contribution >= 0.05:
                contributing.append((contribution, name))
        # Reasons are formatted only for the features that count (this runs on every request).
        facts = {"rpm": rpm, "cv": cv, "window": window, "n": state.n, "distinct": distinct, "top": top}
        reasons = [_reason(name, features, facts) for _, name in sorted(contributing, reverse=True)]
        evidence = state.n / (state.n + cfg.prior_requests) if state.n else 0.0
        score = (1.0 - keep) * evidence
        return RiskScore(account, min(max(score, 0.0), 1.0), state.n, features, reasons)


def _reason(name: str, features: dict[str, float], facts: dict[str, float]) -> str:
    window = int(facts["window"])
    if name == "rate":
        text = f"about {facts['rpm']:.0f} requests/min"
    elif name == "timing":
        text = f"inter-arrival CV {facts['cv']:.2f} ({'machine-regular' if facts['cv'] < 0.5 else 'bursty'})"
    elif name == "template":
        text = f"{features['template']:.0%} of the last {window} prompts reuse a template (MinHash near-dups)"
    elif name == "coverage":
        n = int(facts["n"])
        text = f"{facts['distinct']:.0%} distinct prompts over {n} requests (broad coverage at volume)"
    elif name == "logprobs":
        share = features["logprobs"] / (0.6 + 0.4 * min(1.0, facts["top"] / 20))
        top = int(facts["top"])
        text = f"log-probs asked on {share:.0%} of the last {window} requests (top_logprobs <= {top})"
    elif name == "logit_bias":
        text = f"logit_bias used on {features['logit_bias']:.0%} of the last {window} requests"
    else:
        text = f"chain-of-thought elicitation in {features['cot']:.0%} of the last {window} prompts"
    return f"{name}: {text}"
