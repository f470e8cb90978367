"""The online decision for one request: features -> risk score -> watch list -> policy.

:func:`assess` is the one place where a request is scored and decided, called by
:meth:`distillscope.guard.gateway.GuardGateway.admit` for live traffic and by
:mod:`distillscope.guard.replay` for a logged stream, so that a replay decides
exactly what the gateway would have. It must not know about HTTP or stores.
"""

from __future__ import annotations

from typing import Any

from distillscope.guard.policy import Decision, PolicyEngine
from distillscope.guard.risk import RequestFeatures, RiskScore, RiskTracker, TokenDecoder, request_features
from distillscope.guard.watchlist import WatchEntry


def assess(
    tracker: RiskTracker,
    policy: PolicyEngine,
    account: str,
    body: dict[str, Any],
    now: float,
    *,
    watch: WatchEntry | None = None,
    decode: TokenDecoder | None = None,
) -> tuple[RequestFeatures, RiskScore, Decision]:
    """Score one request of ``account`` at ``now`` and decide it (the policy's buckets are charged).

    The features come back too: once the request is answered, its usage goes to
    ``tracker.answered(account, features, prompt_tokens, completion_tokens, ts)``.
    """
    features = request_features(body, decode)
    score = tracker.observe(account, features, now)
    decision = policy.decide(
        account,
        score.score,
        score.reasons,
        body,
        now,
        strip_risk=score.strip_score,
        watched=watch.describe() if watch is not None and watch.active(now) else None,
    )
    return features, score, decision
