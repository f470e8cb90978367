"""Policies: per-account RPM/TPM limits (token buckets) and actions by risk score.

A policy file (TOML, or YAML by suffix) looks like::

    [limits]                 # defaults for every account; 0 means unlimited
    rpm = 600
    tpm = 200000

    [risk]                   # actions by the account's online risk score (0..1)
    throttle = 0.5           # delay requests by throttle_delay_ms
    throttle_delay_ms = 250
    throttle_asked_before = false  # also delay questions asked before (by the account or another)
    strip_logprobs = 0.25    # answer without logprobs/top_logprobs (on the strip score)
    block = 0.95             # 403 permission_error (off unless set)
    defend = 0.4             # serve with the server's countermeasures (`serve --defend-scope flagged`)

    [watch]                  # accounts on the watch list (fed by `distillscope detect`)
    strip_logprobs = true
    throttle = true
    throttle_greedy_reruns = false  # also delay greedy (temperature 0) re-asks of known questions
    block = false
    defend = true            # countermeasures for watched accounts

    [scoring]                # how requests are read for the risk score
    tokenizer = "/models/served-model"   # a local tokenizer: token-id prompts score like text

    [accounts.mallory]
    action = "block"         # always block ("allow" exempts an account from risk actions;
                             # "defend" always serves it with the countermeasures)
    [accounts.batch-team]
    rpm = 60
    tpm = 20000

:class:`PolicyEngine.decide` returns a :class:`Decision` (the action, its reasons
and rate-limit headers); it is pure bookkeeping and must not know about HTTP or
stores. Tokens are estimated at admission (prompt characters / 4 + ``max_tokens``
times ``n``) and settled against the real usage when the exchange is recorded.
"""

from __future__ import annotations

import math
import os
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACTIONS = ("allow", "throttle", "strip_logprobs", "defend", "rate_limited", "block")
_FORCED = ("allow", "block", "defend")


@dataclass
class Limits:
    """Requests and tokens per minute; 0 means unlimited."""

    rpm: int = 0
    tpm: int = 0

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"limits.{name} must be a non-negative integer, got {value!r}")


@dataclass
class RiskActions:
    """Risk thresholds (0..1) at which each action starts; None disables it."""

    throttle: float | None = 0.5
    throttle_delay_ms: int = 250
    # A question asked before takes out no new answer: by default the score does not delay it.
    throttle_asked_before: bool = False
    strip_logprobs: float | None = 0.25
    block: float | None = None  # off by default: see docs/guard.md "Why the default does not block"
    defend: float | None = None  # countermeasures (log-prob defences, antidistillation, watermark dial)

    def __post_init__(self) -> None:
        for name in ("throttle", "strip_logprobs", "block", "defend"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"risk.{name} must be a number in 0..1, got {value!r}")
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"risk.{name} must be in 0..1, got {value!r}")
        if not isinstance(self.throttle_asked_before, bool):
            raise ValueError(
                f"risk.throttle_asked_before must be true or false, got {self.throttle_asked_before!r}"
            )
        delay = self.throttle_delay_ms
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 60_000:
            raise ValueError(f"risk.throttle_delay_ms must be an integer in 0..60000, got {delay!r}")


@dataclass
class WatchActions:
    """What happens to an account on the watch list (see :mod:`distillscope.guard.watchlist`)."""

    strip_logprobs: bool = True
    throttle: bool = True
    # A greedy (temperature 0) re-ask of a question asked before takes out nothing new.
    throttle_greedy_reruns: bool = False
    block: bool = False
    defend: bool = False

    def __post_init__(self) -> None:
        for name in ("strip_logprobs", "throttle", "throttle_greedy_reruns", "block", "defend"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"watch.{name} must be true or false, got {getattr(self, name)!r}")


@dataclass
class ScoringSettings:
    """How requests are read for the risk score."""

    tokenizer: str | None = None  # a local tokenizer directory; never downloaded

    def __post_init__(self) -> None:
        if self.tokenizer is not None and (not isinstance(self.tokenizer, str) or not self.tokenizer.strip()):
            raise ValueError(f"scoring.tokenizer must be a path to a local tokenizer, got {self.tokenizer!r}")


@dataclass
class AccountPolicy:
    """Overrides for one account: its own limits and an optional forced action."""

    rpm: int | None = None
    tpm: int | None = None
    action: str | None = None

    def __post_init__(self) -> None:
        if self.action is not None and self.action not in _FORCED:
            raise ValueError(f"accounts.*.action must be one of {_FORCED}, got {self.action!r}")
        Limits(self.rpm or 0, self.tpm or 0)


@dataclass
class PolicySettings:
    """A whole policy file."""

    limits: Limits = field(default_factory=Limits)
    risk: RiskActions = field(default_factory=RiskActions)
    accounts: dict[str, AccountPolicy] = field(default_factory=dict)
    watch: WatchActions = field(default_factory=WatchActions)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.limits, Limits):
            raise ValueError("limits must be a table")
        if not isinstance(self.risk, RiskActions):
            raise ValueError("risk must be a table")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicySettings:
        if not isinstance(data, dict):
            raise ValueError("a policy file must hold a table/mapping at the top level")
        unknown = set(data) - {"limits", "risk", "accounts", "watch", "scoring"}
        if unknown:
            raise ValueError(
                f"unknown policy section(s) {sorted(unknown)}; known: limits, risk, accounts, watch, scoring"
            )
        accounts = data.get("accounts") or {}
        if not isinstance(accounts, dict):
            raise ValueError("accounts must be a table of account names")
        return cls(
            limits=_build(Limits, data.get("limits") or {}, "limits"),
            risk=_build(RiskActions, data.get("risk") or {}, "risk"),
            accounts={str(k): _build(AccountPolicy, v or {}, f"accounts.{k}") for k, v in accounts.items()},
            watch=_build(WatchActions, data.get("watch") or {}, "watch"),
            scoring=_build(ScoringSettings, data.get("scoring") or {}, "scoring"),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PolicySettings:
        """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) policy file."""
        target = Path(path)
        if not target.is_file():
            raise ValueError(f"{target}: no such policy file")
        text = target.read_text(encoding="utf-8")
        try:
            if target.suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                data = tomllib.loads(text)
        except Exception as exc:  # tomllib and yaml raise their own error types
            raise ValueError(f"{target}: cannot parse the policy file ({exc})") from exc
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{target}: {exc}") from exc

    def limits_for(self, account: str) -> Limits:
        override = self.accounts.get(account)
        if override is None:
            return self.limits
        return Limits(
            self.limits.rpm if override.rpm is None else override.rpm,
            self.limits.tpm if override.tpm is None else override.tpm,
        )


def _build(kind: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a table")
    try:
        return kind(**data)
    except TypeError as exc:
        names = ", ".join(kind.__dataclass_fields__)
        raise ValueError(f"{where}: unknown setting in {sorted(data)}; known: {names}") from exc


class TokenBucket:
    """``capacity`` per minute, refilled continuously; starts full."""

    def __init__(self, capacity: float, now: float) -> None:
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.updated = now

    def _refill(self, now: float) -> None:
        rate = self.capacity / 60.0
        self.tokens = min(self.capacity, self.tokens + max(now - self.updated, 0.0) * rate)
        self.updated = max(now, self.updated)

    def try_take(self, amount: float, now: float) -> float:
        """Take ``amount`` if available: 0.0; otherwise the seconds until it will be."""
        self._refill(now)
        need = min(amount, self.capacity)  # larger than a minute's budget: waits for a full bucket
        if self.tokens >= need:
            self.tokens -= amount
            return 0.0
        return (need - self.tokens) / (self.capacity / 60.0)

    def give(self, amount: float, now: float) -> None:
        """Return (or, negative, charge) tokens after the fact."""
        self._refill(now)
        self.tokens = min(self.capacity, self.tokens + amount)

    def reset_seconds(self, now: float) -> float:
        self._refill(now)
        return max(self.capacity - self.tokens, 0.0) / (self.capacity / 60.0)


def estimate_tokens(body: dict[str, Any]) -> int:
    """A cheap upper-ish estimate of a request's tokens: prompt chars / 4 + max_tokens * n."""
    chars = ids = 0
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        chars = len(prompt)
    elif isinstance(prompt, list):
        chars = sum(len(p) for p in prompt if isinstance(p, str))
        # Token-id prompts count their ids as tokens (one prompt of ids, or a batch of them).
        ids = sum(len(p) for p in prompt if isinstance(p, list)) or sum(isinstance(p, int) for p in prompt)
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                chars += len(message["content"])
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        max_tokens = 16 if isinstance(prompt, str | list) else 256
    n = body.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        n = 1
    # Every prompt of a batched completions request is answered n times.
    return math.ceil(chars / 4) + ids + min(max_tokens, 1_000_000) * min(n, 128) * prompt_count(body)


def prompt_count(body: dict[str, Any]) -> int:
    """How many prompts a request holds: a completions batch (strings or id lists) counts each one."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and all(isinstance(p, str | list) for p in prompt):
        return len(prompt)
    return 1


@dataclass
class Decision:
    """What the policy decided for one request."""

    action: str
    reasons: list[str]
    risk: float
    delay_s: float = 0.0
    strip_logprobs: bool = False
    defend: bool = False  # serve with the server's countermeasures
    retry_after_s: float = 0.0
    estimated_tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class PolicyEngine:
    """Applies a :class:`PolicySettings` to requests: buckets per account, actions by risk."""

    def __init__(self, config: PolicySettings | None = None) -> None:
        self.config = config or PolicySettings()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, account: str, kind: str, capacity: int, now: float) -> TokenBucket:
        bucket = self._buckets.get((account, kind))
        if bucket is None or bucket.capacity != capacity:
            bucket = TokenBucket(capacity, now)
            self._buckets[(account, kind)] = bucket
        return bucket

    def decide(
        self,
        account: str,
        risk: float,
        risk_reasons: list[str],
        body: dict[str, Any],
        now: float,
        *,
        strip_risk: float | None = None,
        watched: str | None = None,
        asked_before: bool = False,
    ) -> Decision:
        """The decision for one request of ``account`` (buckets are charged).

        ``risk`` drives throttling and blocking, ``strip_risk`` (default: ``risk``)
        stripping log-probs; ``watched`` is why the account is on the watch list, if it is.
        ``asked_before``: the request's question was asked before (by this account or
        another; :attr:`RequestFeatures.asked_before`): the score does not delay it unless
        ``risk.throttle_asked_before`` (it takes out no new answer: a re-run, a public
        benchmark). Stripping, blocking and the watch list's actions still apply, except
        that a watched account's *greedy* re-ask (temperature 0) of a question asked before
        is not delayed unless ``watch.throttle_greedy_reruns``: its answer is the one
        already served, so it takes out nothing new (an evaluation harness's launch-day
        re-run); a sampled re-ask (temperature above 0) draws a new answer and is delayed.
        """
        override = self.config.accounts.get(account)
        estimate = estimate_tokens(body)
        if override is not None and override.action == "block":
            return Decision("block", ["account blocked by policy"], risk, estimated_tokens=estimate)
        actions, watch = self.config.risk, self.config.watch
        exempt = override is not None and override.action == "allow"
        strip_risk = risk if strip_risk is None else max(strip_risk, risk)
        if not exempt and actions.block is not None and risk >= actions.block:
            return Decision(
                "block", [f"risk {risk:.2f} >= block threshold {actions.block}", *risk_reasons], risk, 0.0
            )
        if not exempt and watched and watch.block:
            return Decision("block", [f"watch list: {watched}"], risk, 0.0)
        with self._lock:
            limited, headers = self._charge(account, estimate, now, prompt_count(body))
        if limited is not None:
            retry, why = limited
            decision = Decision("rate_limited", [why], risk, retry_after_s=retry, headers=headers)
            return decision
        decision = Decision("allow", [], risk, estimated_tokens=estimate, headers=headers)
        if exempt:
            decision.reasons.append("account exempt from risk actions by policy")
            return decision
        if watched:
            decision.reasons.append(f"watch list: {watched}")
        self._defend(decision, risk, override, watched)
        wants_logprobs = _wants_logprobs(body)
        strip = actions.strip_logprobs is not None and strip_risk >= actions.strip_logprobs
        if wants_logprobs and (strip or (watched and watch.strip_logprobs)):
            decision.action = "strip_logprobs"
            decision.strip_logprobs = True
            if strip:
                decision.reasons.append(
                    f"risk {strip_risk:.2f} >= strip_logprobs threshold {actions.strip_logprobs}"
                )
        throttle = (
            actions.throttle is not None
            and risk >= actions.throttle
            and (actions.throttle_asked_before or not asked_before)
        )
        watch_throttle = (
            watched
            and watch.throttle
            and (watch.throttle_greedy_reruns or not (asked_before and _greedy(body)))
        )
        if (throttle or watch_throttle) and actions.throttle_delay_ms > 0:
            decision.delay_s = actions.throttle_delay_ms / 1000.0
            if decision.action == "allow":
                decision.action = "throttle"
            delay_ms = actions.throttle_delay_ms
            why = f"risk {risk:.2f} >= throttle threshold {actions.throttle}" if throttle else "watched"
            decision.reasons.append(f"{why}: delayed {delay_ms} ms")
        if decision.action != "allow":
            decision.reasons.extend(risk_reasons)
        return decision

    def _defend(
        self, decision: Decision, risk: float, override: AccountPolicy | None, watched: str | None
    ) -> None:
        threshold = self.config.risk.defend
        by_risk = threshold is not None and risk >= threshold
        if (
            by_risk
            or (override is not None and override.action == "defend")
            or (watched and self.config.watch.defend)
        ):
            decision.defend = True
            decision.action = "defend"
            if by_risk:
                decision.reasons.append(f"risk {risk:.2f} >= defend threshold {threshold}")
            elif not watched:
                decision.reasons.append("account defended by policy")

    def _charge(
        self, account: str, estimate: int, now: float, requests: int = 1
    ) -> tuple[tuple[float, str] | None, dict[str, str]]:
        limits = self.config.limits_for(account)
        headers: dict[str, str] = {}
        buckets = []
        if limits.rpm:  # a batch of k prompts is k requests
            buckets.append(("requests", self._bucket(account, "rpm", limits.rpm, now), requests, limits.rpm))
        if limits.tpm:
            buckets.append(("tokens", self._bucket(account, "tpm", limits.tpm, now), estimate, limits.tpm))
        # Check every bucket before charging any, so a 429 on tokens does not eat a request.
        for kind, bucket, amount, limit in buckets:
            if amount > limit:
                headers.update(_headers(buckets, now))
                unit = "requests (prompts)" if kind == "requests" else "tokens"
                return (
                    60.0,
                    f"request too large: about {amount} {unit} for a limit of {limit} {unit} per minute",
                ), headers
            bucket._refill(now)
            if bucket.tokens < min(amount, bucket.capacity):
                wait = (min(amount, bucket.capacity) - bucket.tokens) / (bucket.capacity / 60.0)
                headers.update(_headers(buckets, now))
                unit = "requests" if kind == "requests" else "tokens"
                return (wait, f"{unit} per minute limit {limit} reached"), headers
        for _, bucket, amount, _ in buckets:
            bucket.try_take(amount, now)
        headers.update(_headers(buckets, now))
        return None, headers

    def settle(self, account: str, estimated: int, actual: int | None, now: float) -> None:
        """Correct the token bucket once the real usage of a request is known."""
        if actual is None:
            return
        with self._lock:
            bucket = self._buckets.get((account, "tpm"))
            if bucket is not None:
                bucket.give(estimated - actual, now)


def _greedy(body: dict[str, Any]) -> bool:
    """Whether the request asks for greedy decoding (``temperature`` 0; unset means 1)."""
    temperature = body.get("temperature")
    return isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0


def _wants_logprobs(body: dict[str, Any]) -> bool:
    """Whether a request asks for any form of log-prob output (``logprobs: 0`` included)."""
    logprobs = body.get("logprobs")
    if isinstance(logprobs, int) and not isinstance(logprobs, bool):
        return logprobs >= 0
    return bool(logprobs) or bool(body.get("top_logprobs"))


def _headers(buckets: list[tuple[str, TokenBucket, int, int]], now: float) -> dict[str, str]:
    headers = {}
    for kind, bucket, _, limit in buckets:
        headers[f"x-ratelimit-limit-{kind}"] = str(limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(max(int(bucket.tokens), 0))
        headers[f"x-ratelimit-reset-{kind}"] = f"{bucket.reset_seconds(now):.3f}s"
    return headers
