"""The online decision for one request: features -> risk score -> watch list -> policy.

:func:`assess` is the one place where a request is scored and decided, called by
:meth:`distillscope.guard.gateway.GuardGateway.admit` for live traffic and by
:mod:`distillscope.guard.replay` for a logged stream, so that a replay decides
exactly what the gateway would have. It must not know about HTTP or stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from distillscope.guard.policy import Decision, PolicyEngine
from distillscope.guard.risk import (
    RequestFeatures,
    RiskScore,
    RiskTracker,
    TokenDecoder,
    body_of,
    request_features,
)
from distillscope.guard.watchlist import WatchEntry

#: The account name the gateway logs for requests without a valid key (never scored).
UNAUTHENTICATED = "(unauthenticated)"


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
    ``tracker.answered(account, features, prompt_tokens, completion_tokens, ts, finish_reason)``.
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
        asked_before=features.asked_before,
    )
    return features, score, decision


def warm_up(tracker: RiskTracker, exchanges: Iterable[Any], decode: TokenDecoder | None = None) -> int:
    """Feed logged exchanges into ``tracker`` as the gateway saw them (no decisions); how many.

    Each request is observed and each answered one (status below 400 or unknown)
    counted, so scores, shares and the question ledger are what a gateway that served
    this traffic would hold: the gateway's warm start after a restart, and
    ``guard replay --warm`` (the traffic before the replayed log). Unauthenticated
    rows are skipped, as the gateway never scores them.
    """
    count = 0
    for exchange in exchanges:
        if exchange.account == UNAUTHENTICATED:
            continue
        features = request_features(body_of(exchange), decode)
        tracker.observe(exchange.account, features, exchange.ts)
        if exchange.status is None or exchange.status < 400:
            tracker.answered(
                exchange.account,
                features,
                exchange.prompt_tokens,
                exchange.completion_tokens,
                exchange.ts,
                exchange.finish_reason,
            )
        count += 1
    return count


def load_token_decoder(path: str) -> TokenDecoder:
    """Token ids -> text with a local tokenizer (the served model's), for scoring token-id prompts.

    Read with ``local_files_only``: nothing is downloaded. A path that holds no
    tokenizer is a clear ``ValueError``.
    """
    target = Path(path).expanduser()
    if not target.exists():
        raise ValueError(f"scoring.tokenizer: {target} does not exist (a local tokenizer directory)")
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(target), local_files_only=True)
    except Exception as exc:  # transformers raises OSError/ValueError/... for a folder without one
        raise ValueError(f"scoring.tokenizer: no tokenizer could be read from {target} ({exc})") from None

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids)

    return decode
