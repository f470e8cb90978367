"""The pre-flight estimate of a harvest (``--dry-run``): what round 0 would send, and what it may cost.

Plans the strategy's first round exactly as a run would (same bodies, same
cache keys), counts what the cache already holds, and bounds tokens and cost
with the budget's own worst case. Sends nothing, starts no teacher, writes
nothing. Adaptive strategies are asked with a teacher that answers nothing, so
only their first round is known. With ``batch``, costs are at the batch price
(half the list price) and the synchronous cost is shown beside it; duplicate
queries (asked once) are counted.

This module must not send a request, start a teacher or reserve budget: it plans and counts only.
"""

from __future__ import annotations

from typing import Any

from distillscope.clitools import console
from distillscope.harvest.budget import Caps, Usage
from distillscope.harvest.cache import AnswerCache
from distillscope.harvest.dispatch import PlannedRequest
from distillscope.harvest.prices import Price
from distillscope.harvest.settings import HarvestSettings
from distillscope.harvest.strategies.base import StaticStrategy, TeacherAware
from distillscope.harvest.teacher import Teacher


def preflight_estimate(settings: HarvestSettings, teacher: Teacher, price: Price | None) -> dict[str, Any]:
    """Plan round 0, count what the cache already holds, estimate tokens and cost; send nothing."""
    strategy = settings.strategy
    if isinstance(strategy, TeacherAware):
        strategy.bind_teacher(lambda queries: [None] * len(queries))  # a dry run asks no one
    queries = strategy.next_round(0, [])
    list_price = price
    if settings.batch and price is not None:
        price = price.batch()
    planned: dict[str, PlannedRequest] = {}
    for query in queries:
        request = PlannedRequest.build(teacher.teacher_id, settings.body_for(teacher.model, query), price)
        planned.setdefault(request.key, request)
    cached: set[str] = set()
    if settings.cache_file.exists():
        with AnswerCache(settings.cache_file) as cache:
            cached = cache.has(planned)
    to_send = [r for k, r in planned.items() if k not in cached]
    caps = Caps(settings.max_requests, settings.max_tokens, settings.max_cost)
    fitting = Usage()
    fit_count = 0
    for request in to_send:
        candidate = fitting.plus(request.worst)
        if (
            (caps.max_requests is not None and candidate.requests > caps.max_requests)
            or (caps.max_tokens is not None and candidate.tokens > caps.max_tokens)
            or (caps.max_cost is not None and candidate.cost > caps.max_cost)
        ):
            break
        fitting, fit_count = candidate, fit_count + 1
    prompt_estimate = sum(r.estimated_tokens - settings.max_new_tokens for r in to_send)
    completion_max = settings.max_new_tokens * len(to_send)
    estimate = {
        "teacher": teacher.shown_url,
        "model": teacher.model,
        "strategy": strategy.name,
        "adaptive": not isinstance(strategy, StaticStrategy),
        "mode": "batch" if settings.batch else "sync",
        "queries_round_0": len(queries),
        "distinct_requests": len(planned),
        "duplicate_queries": len(queries) - len(planned),
        "already_cached": len(cached),
        "to_send": len(to_send),
        "prompt_tokens_estimate": prompt_estimate,
        "prompt_tokens_worst": sum(r.worst.tokens - settings.max_new_tokens for r in to_send),
        "completion_tokens_max": completion_max,
        "cost_estimate_usd": None if price is None else round(price.cost(prompt_estimate, completion_max), 6),
        "cost_worst_usd": None if price is None else round(sum(r.worst.cost for r in to_send), 6),
        "cost_estimate_sync_usd": None
        if list_price is None
        else round(list_price.cost(prompt_estimate, completion_max), 6),
        "price": None if price is None else price.as_dict(),
        "within_budget": fit_count,
    }
    _print_estimate(estimate)
    return estimate


def _print_estimate(estimate: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="harvest pre-flight estimate (dry run: nothing sent)", show_header=False)
    for key, value in estimate.items():
        table.add_row(key.replace("_", " "), "-" if value is None else str(value))
    console.print(table)
    if estimate["adaptive"]:
        console.print("Adaptive strategy: only its first round can be known before the teacher answers.")
