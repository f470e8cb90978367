"""Policy backtesting: a logged exchange stream through the online scorer and a policy, open loop.

:func:`replay_log` reads a log (JSONL or Parquet, :mod:`distillscope.records`
readers, malformed lines reported and skipped or fatal as asked) and sends each
exchange, in log order and with its own timestamp as the clock, through
:func:`distillscope.guard.online.assess` -- the very call the gateway's ``admit``
makes -- with a fresh :class:`~distillscope.guard.risk.RiskTracker`, the given
policy and, optionally, a watch list. Open loop: what the policy would have done
does not change the traffic (a throttled client would have slowed down, a blocked
one stopped; the log cannot say how). Rows of unauthenticated requests are
skipped, as the gateway never scores them.

It writes to ``out_dir``:

- ``accounts.jsonl``: the detection output format (``account``, ``score`` -- the
  highest online score seen --, ``flagged`` -- the policy acted on the account at
  least once (throttle, strip log-probs or block) --, ``campaign`` -- its watch-list
  campaign --, ``reasons``) plus ``requests``, ``decisions`` (counts per action),
  ``delayed``, ``first_action_request`` and ``max_strip_score``;
- ``scores.jsonl``: per account, the score over time as points
  ``[ts, request_number, score, strip_score, action]`` (at powers of two, at every
  change of action and at the end);
- ``decisions.json``: decision counts in total; ``errors.txt``: malformed lines;
- ``exchanges.jsonl`` (``per_exchange=True``): one line per scored exchange;
- with labels (the simulators' ``labels.jsonl``: ``{account, label, group, style}``):
  ``metrics.json`` and ``summary.md`` with the goals of issue 12 -- benign requests
  delayed, benign accounts throttled and blocked, campaign accounts acted on within
  their first ``first_n`` requests (per style; watched accounts counted from the
  request they were first seen watched) -- each with its denominator.

This module must not know about HTTP or stores; it decides nothing itself.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.guard.online import UNAUTHENTICATED, assess, load_token_decoder, warm_up
from distillscope.guard.policy import ACTIONS, PolicyEngine, PolicySettings
from distillscope.guard.risk import RiskSettings, RiskTracker, TokenDecoder, body_of
from distillscope.guard.watchlist import WatchList
from distillscope.records import ExchangeReader, MalformedLine, OnError, iter_jsonl, write_jsonl

#: Actions that count as "acted on" (a rate limit is a quota, not a risk action; a countermeasure
#: from defend/ changes what the account receives, so it counts).
ACTED = ("throttle", "strip_logprobs", "defend", "block")
#: Campaign styles the online score is not expected to see alone: acted on via the watch list.
WATCH_STYLES = ("hydra", "slow_and_low")
MAX_POINTS = 256

#: The goals of issue 12 for the online guard.
GOALS = {
    "campaign_acted_within_first": 0.9,
    "benign_accounts_throttled": 0.005,
    "benign_accounts_blocked": 0.0,
    "benign_requests_delayed": 0.01,
}


@dataclass
class _Account:
    """What the replay saw of one account."""

    requests: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    delayed: int = 0
    throttled: int = 0
    first_action: int | None = None
    first_watched: int | None = None
    campaign: str | None = None
    max_score: float = 0.0
    max_strip: float = 0.0
    reasons: list[str] = field(default_factory=list)
    last_action: str | None = None
    points: list[list[Any]] = field(default_factory=list)


@dataclass
class ReplayResult:
    """What a replay found and where it wrote it."""

    out_dir: Path
    exchanges: int
    skipped: int
    accounts: dict[str, _Account]
    decisions: Counter[str]
    errors: list[MalformedLine]
    out_of_order: int = 0
    metrics: dict[str, Any] | None = None
    warmed: int = 0  # exchanges of the ``warm`` log fed into the scorer first
    public_questions: int = 0  # registered public benchmark questions the scorer knew


def _used_tokens(exchange: Any) -> int | None:
    if exchange.prompt_tokens is None and exchange.completion_tokens is None:
        return None
    return int(exchange.prompt_tokens or 0) + int(exchange.completion_tokens or 0)


def replay_log(
    source: str | os.PathLike[str],
    policy: PolicySettings,
    out_dir: str | os.PathLike[str],
    *,
    labels: dict[str, dict[str, Any]] | None = None,
    watch: WatchList | None = None,
    risk: RiskSettings | None = None,
    decode: TokenDecoder | None = None,
    on_error: OnError = "skip",
    first_n: int = 200,
    per_exchange: bool = False,
    progress: Callable[[int], None] | None = None,
    warm: str | os.PathLike[str] | None = None,
    watch_ttl_s: float | None = None,
    public_questions: frozenset[int] | None = None,
) -> ReplayResult:
    """Replay ``source`` through the online scorer and ``policy``; write the outputs to ``out_dir``.

    ``warm``: an earlier log (the traffic before ``source``) fed into the scorer first,
    as a gateway that served it would hold it (:func:`~distillscope.guard.online.warm_up`:
    scores, shares, the question ledger); nothing of it is decided or counted.
    ``watch_ttl_s``: the watch list is loaded at the first replayed exchange and its
    entries expire this many seconds later (as ``guard watch load --ttl``); without
    it they are in force for the whole log. ``public_questions``: the question keys of
    registered public benchmarks (:func:`distillscope.guard.benchmarks.load_files`), as
    a gateway whose registry holds them would score them.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tracker, engine = RiskTracker(risk), PolicyEngine(policy)
    if public_questions:
        tracker.set_public_questions(public_questions)
    if decode is None and policy.scoring.tokenizer:
        decode = load_token_decoder(policy.scoring.tokenizer)
    warmed, warm_errors = 0, []
    if warm is not None:
        warm_reader = ExchangeReader(warm, on_error=on_error)
        warmed = warm_up(tracker, warm_reader, decode)
        warm_errors = warm_reader.errors
    reader = ExchangeReader(source, on_error=on_error)
    accounts: dict[str, _Account] = defaultdict(_Account)
    total: Counter[str] = Counter()
    count = skipped = out_of_order = 0
    last_ts = float("-inf")
    per_exchange_rows: list[dict[str, Any]] = []
    for exchange in reader:
        if exchange.account == UNAUTHENTICATED:
            skipped += 1
            continue
        ts = exchange.ts
        if watch is not None and watch_ttl_s is not None and count == 0:
            watch = watch.listed_at(ts, watch_ttl_s)
        if ts < last_ts:
            out_of_order += 1
        last_ts = max(last_ts, ts)
        entry = watch.lookup(exchange.account, ts) if watch is not None else None
        body = body_of(exchange)
        features, score, decision = assess(
            tracker, engine, exchange.account, body, ts, watch=entry, decode=decode
        )
        if decision.action not in ("block", "rate_limited"):
            engine.settle(exchange.account, decision.estimated_tokens, _used_tokens(exchange), ts)
            # open loop: the logged answer is counted as the gateway's record() counts it
            tracker.answered(
                exchange.account,
                features,
                exchange.prompt_tokens,
                exchange.completion_tokens,
                ts,
                exchange.finish_reason,
            )
        state = accounts[exchange.account]
        _note(state, ts, score.score, score.strip_score, score.reasons, decision, entry)
        total[decision.action] += 1
        count += 1
        if per_exchange:
            per_exchange_rows.append(
                {
                    "id": exchange.id,
                    "account": exchange.account,
                    "ts": ts,
                    "action": decision.action,
                    "risk_score": round(score.score, 4),
                    "strip_score": round(score.strip_score, 4),
                }
            )
        if progress is not None:
            progress(count)
    errors = [*warm_errors, *reader.errors]
    result = ReplayResult(
        out,
        count,
        skipped,
        dict(accounts),
        total,
        errors,
        out_of_order,
        warmed=warmed,
        public_questions=tracker.public_questions,
    )
    if labels is not None:
        result.metrics = goal_metrics(result.accounts, labels, first_n)
    _write(result, per_exchange_rows if per_exchange else None)
    return result


def _note(
    state: _Account,
    ts: float,
    score: float,
    strip: float,
    reasons: list[str],
    decision: Any,
    entry: Any,
) -> None:
    state.requests += 1
    n = state.requests
    action = decision.action
    state.decisions[action] += 1
    if decision.delay_s > 0:
        state.throttled += 1
    if decision.delay_s > 0 or action in ("block", "rate_limited"):
        state.delayed += 1
    if entry is not None:
        if state.first_watched is None:
            state.first_watched = n
        state.campaign = entry.campaign
    if action in ACTED and state.first_action is None:
        state.first_action = n
        state.reasons = list(decision.reasons)
    if score > state.max_score:
        state.max_score = score
        if state.first_action is None:
            state.reasons = list(reasons)
    state.max_strip = max(state.max_strip, strip)
    if (action != state.last_action or n & (n - 1) == 0) and len(state.points) < MAX_POINTS:
        state.points.append([round(ts, 3), n, round(score, 4), round(strip, 4), action])
    state.last_action = action


def _write(result: ReplayResult, per_exchange: list[dict[str, Any]] | None) -> None:
    out = result.out_dir
    rows, series = [], []
    for name in sorted(result.accounts):
        state = result.accounts[name]
        rows.append(
            {
                "account": name,
                "score": round(state.max_score, 4),
                "flagged": state.first_action is not None,
                "campaign": state.campaign,
                "reasons": state.reasons,
                "requests": state.requests,
                "decisions": {a: state.decisions[a] for a in ACTIONS if state.decisions[a]},
                "delayed": state.delayed,
                "throttled": state.throttled,
                "first_action_request": state.first_action,
                "max_strip_score": round(state.max_strip, 4),
            }
        )
        points = list(state.points)
        if points and points[-1][1] != state.requests:
            points.append([None, state.requests, None, None, state.last_action])
        series.append({"account": name, "points": points})
    write_jsonl(rows, out / "accounts.jsonl")
    write_jsonl(series, out / "scores.jsonl")
    summary = {
        "exchanges": result.exchanges,
        "accounts": len(result.accounts),
        "skipped_unauthenticated": result.skipped,
        "out_of_order": result.out_of_order,
        "malformed": len(result.errors),
        "public_benchmark_questions": result.public_questions,
        "decisions": {a: result.decisions[a] for a in ACTIONS},
    }
    (out / "decisions.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if per_exchange is not None:
        write_jsonl(per_exchange, out / "exchanges.jsonl")
    errors = out / "errors.txt"
    if result.errors:
        errors.write_text("".join(f"{e}\n" for e in result.errors), encoding="utf-8")
    elif errors.exists():
        errors.unlink()
    if result.metrics is not None:
        (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n", encoding="utf-8")
        (out / "summary.md").write_text(metrics_markdown(result.metrics), encoding="utf-8")


# -- goals against labels -------------------------------------------------------------------


def _rate(hits: int, total: int) -> dict[str, Any]:
    return {"count": hits, "of": total, "rate": hits / total if total else None}


def goal_metrics(
    accounts: dict[str, _Account], labels: dict[str, dict[str, Any]], first_n: int = 200
) -> dict[str, Any]:
    """Issue 12's online goals from a replay and the simulator's labels (every rate with its denominator)."""
    seen = {a: s for a, s in accounts.items() if a in labels}
    benign = {a: s for a, s in seen.items() if labels[a].get("label") != "campaign"}
    campaign = {a: s for a, s in seen.items() if labels[a].get("label") == "campaign"}
    benign_requests = sum(s.requests for s in benign.values())
    delayed = sum(s.delayed for s in benign.values())
    throttled = [a for a, s in benign.items() if s.throttled]
    blocked = [a for a, s in benign.items() if s.decisions["block"]]
    stripped = [a for a, s in benign.items() if s.decisions["strip_logprobs"]]

    def acted_early(state: _Account) -> bool:
        if state.first_action is None:
            return False
        start = state.first_watched if state.first_watched is not None else 1
        return state.first_action - start < first_n

    by_style: dict[str, list[_Account]] = defaultdict(list)
    for a, s in campaign.items():
        by_style[str(labels[a].get("style") or "?")].append(s)
    per_style = {
        style: {
            "acted_within_first": _rate(sum(acted_early(s) for s in states), len(states)),
            "ever_acted": _rate(sum(s.first_action is not None for s in states), len(states)),
            "ever_watched": sum(s.first_watched is not None for s in states),
            "median_first_action_request": _median([s.first_action for s in states if s.first_action]),
        }
        for style, states in sorted(by_style.items())
    }
    solo = [s for st, states in by_style.items() if st not in WATCH_STYLES for s in states]
    quiet = [s for st, states in by_style.items() if st in WATCH_STYLES for s in states]
    benign_groups: dict[str, list[_Account]] = defaultdict(list)
    for a, s in benign.items():
        benign_groups[str(labels[a].get("style") or labels[a].get("group") or "?")].append(s)
    per_group = {
        group: {
            "accounts_throttled": _rate(sum(bool(s.throttled) for s in states), len(states)),
            "accounts_stripped": _rate(sum(bool(s.decisions["strip_logprobs"]) for s in states), len(states)),
            "requests_delayed": _rate(sum(s.delayed for s in states), sum(s.requests for s in states)),
        }
        for group, states in sorted(benign_groups.items())
    }
    metrics = {
        "first_n": first_n,
        "campaign_acted_within_first": _rate(sum(acted_early(s) for s in campaign.values()), len(campaign)),
        "campaign_acted_within_first_online_styles": _rate(sum(acted_early(s) for s in solo), len(solo)),
        "campaign_acted_within_first_watch_styles": _rate(sum(acted_early(s) for s in quiet), len(quiet)),
        "campaign_ever_throttled": _rate(sum(bool(s.throttled) for s in campaign.values()), len(campaign)),
        "campaign_ever_blocked": _rate(
            sum(bool(s.decisions["block"]) for s in campaign.values()), len(campaign)
        ),
        "benign_accounts_throttled": _rate(len(throttled), len(benign)),
        "benign_accounts_blocked": _rate(len(blocked), len(benign)),
        "benign_accounts_stripped": _rate(len(stripped), len(benign)),
        "benign_requests_delayed": _rate(delayed, benign_requests),
        "campaign_by_style": per_style,
        "benign_by_group": per_group,
        "benign_throttled_accounts": sorted(throttled)[:50],
        "labelled_accounts_missing_from_log": sum(1 for a in labels if a not in accounts),
    }
    metrics["goals"] = _goals(metrics)
    return metrics


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _goals(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, target in GOALS.items():
        key = "campaign_acted_within_first_online_styles" if name == "campaign_acted_within_first" else name
        value = metrics[key]["rate"]
        met = None if value is None else (value >= target if name.startswith("campaign") else value <= target)
        out[name] = {"value": value, "target": target, "met": met}
    return out


def metrics_markdown(metrics: dict[str, Any]) -> str:
    """The goals table and the per-style/per-group breakdown, as Markdown."""

    def fmt(rate: dict[str, Any]) -> str:
        value = rate["rate"]
        return f"{'-' if value is None else f'{value:.4f}'} ({rate['count']}/{rate['of']})"

    n = metrics["first_n"]
    lines = [
        "# guard replay: online goals (issue 12)",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| campaign accounts acted on within their first {n} requests (online styles) | "
        f"{fmt(metrics['campaign_acted_within_first_online_styles'])} | >= 0.9 |",
        f"| hydra / slow-and-low acted on within {n} requests of being watched | "
        f"{fmt(metrics['campaign_acted_within_first_watch_styles'])} | >= 0.9 once known |",
        f"| campaign accounts ever throttled / blocked | {fmt(metrics['campaign_ever_throttled'])} / "
        f"{fmt(metrics['campaign_ever_blocked'])} | |",
        f"| benign accounts ever throttled | {fmt(metrics['benign_accounts_throttled'])} | <= 0.005 |",
        f"| benign accounts ever blocked | {fmt(metrics['benign_accounts_blocked'])} | 0 |",
        f"| benign accounts with log-probs stripped | {fmt(metrics['benign_accounts_stripped'])} | |",
        f"| benign requests delayed | {fmt(metrics['benign_requests_delayed'])} | <= 0.01 |",
        "",
        "| campaign style | acted within first | ever acted | watched | median first action |",
        "|---|---|---|---|---|",
    ]
    for style, row in metrics["campaign_by_style"].items():
        lines.append(
            f"| {style} | {fmt(row['acted_within_first'])} | {fmt(row['ever_acted'])} | "
            f"{row['ever_watched']} | {row['median_first_action_request']} |"
        )
    lines += [
        "",
        "| benign group | accounts throttled | accounts stripped | requests delayed |",
        "|---|---|---|---|",
    ]
    for group, row in metrics["benign_by_group"].items():
        lines.append(
            f"| {group} | {fmt(row['accounts_throttled'])} | {fmt(row['accounts_stripped'])} | "
            f"{fmt(row['requests_delayed'])} |"
        )
    return "\n".join(lines) + "\n"


def load_labels(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """A simulator's ``labels.jsonl`` (``{account, label, group, style}`` per line), by account."""
    labels: dict[str, dict[str, Any]] = {}
    for number, row, error in iter_jsonl(path):
        if error is not None:
            raise ValueError(f"{path}:{number}: {error}")
        if not isinstance(row, dict) or not isinstance(row.get("account"), str):
            raise ValueError(f"{path}:{number}: a label needs an 'account'")
        labels[row["account"]] = row
    return labels
