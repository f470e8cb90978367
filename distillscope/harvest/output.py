"""From cached answers to the exchanges dataset: rows, files and the run manifest.

Output files are always rebuilt from the cache (never appended to), and each is
written to a temporary file and renamed into place, so a run killed while
writing leaves the previous complete file or none, never a torn one.

This module must not do HTTP or decide what to send.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distillscope.harvest.cache import CachedAnswer
from distillscope.harvest.formats import request_messages, view
from distillscope.harvest.prices import Price
from distillscope.harvest.strategies.base import Query
from distillscope.records import Exchange, write_jsonl, write_parquet

EXCHANGES_PARQUET = "exchanges.parquet"
EXCHANGES_JSONL = "exchanges.jsonl"
FAILURES_JSONL = "failures.jsonl"
MANIFEST = "manifest.json"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_safe(value: Any) -> Any:
    """Round-trip through JSON so query metadata of any origin fits Parquet/JSONL (odd types as strings)."""
    return json.loads(json.dumps(value, default=str))


def build_exchange(
    query: Query,
    answer: CachedAnswer,
    *,
    teacher: str,
    base_url: str,
    strategy: str,
    account: str,
    price: Price | None,
) -> Exchange:
    """One row of the dataset: the request, the teacher's first choice, usage, cost and provenance.

    An answer obtained through a batch API carries the batch's id and price in its
    cache ``meta``: its cost is computed at that (discounted) price.
    """
    answer_view = view(answer.response)
    meta = answer.meta or {}
    if isinstance(meta.get("price"), dict):
        price = Price(float(meta["price"]["input"]), float(meta["price"]["output"]))
    prompt_tokens, completion_tokens = answer_view.prompt_tokens, answer_view.completion_tokens
    cost = None
    if price is not None and prompt_tokens is not None and completion_tokens is not None:
        cost = round(price.cost(prompt_tokens, completion_tokens), 10)
    body = answer.body
    params = {k: v for k, v in body.items() if k not in ("model", "messages", "system")}
    provenance = {
        "teacher": teacher,
        "base_url": base_url,
        "model": answer_view.model or body.get("model"),
        "requested_model": body.get("model"),
        "system_fingerprint": answer_view.system_fingerprint,
        "response_id": answer_view.response_id,
        "strategy": strategy,
        "harvested_at": iso(answer.received_at),
        "request_key": answer.key,
        "run_id": answer.run_id,
        "sampling": params,
        "query_meta": json_safe(query.meta),
        "response_headers": answer.headers,
        "mode": meta.get("mode", "sync"),
        "batch_id": meta.get("batch_id"),
        "batch_provider": meta.get("provider"),
        "price": None if price is None else {"input": price.input, "output": price.output},
    }
    endpoint = "/v1/messages" if answer.response.get("type") == "message" else "/v1/chat/completions"
    return Exchange(
        id=answer.key,
        ts=answer.received_at,
        account=account,
        messages=request_messages(body),
        model=str(body.get("model")),
        endpoint=endpoint,
        params=params,
        response_text=answer_view.text,
        finish_reason=answer_view.finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=answer.latency_ms,
        status=200,
        logprobs=answer_view.logprobs,
        usage=answer_view.usage,
        cost_usd=cost,
        provenance=provenance,
    )


_FIELDS = tuple(f.name for f in fields(Exchange) if f.name != "extra")


def exchange_row(exchange: Exchange) -> dict[str, Any]:
    """``Exchange.to_dict()`` without its deep copy (equal to it: tested).

    ``dataclasses.asdict`` deep-copies every value, a fifth of a harvest's CPU per
    answer; the writers only read the values, so they are shared instead.
    """
    out = {}
    for name in _FIELDS:
        value = getattr(exchange, name)
        if value is not None and value != {}:
            out[name] = value
    for key, value in (exchange.extra or {}).items():
        out.setdefault(key, value)
    return out


def write_outputs(out_dir: Path, exchanges: list[Exchange], failures: list[dict[str, Any]]) -> dict[str, str]:
    """Write the dataset (Parquet + JSONL) and the failure list atomically; returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)  # left by a run killed while writing; the real files are intact
    rows = [exchange_row(exchange) for exchange in exchanges]  # once, for both files
    write_parquet(rows, out_dir / EXCHANGES_PARQUET)
    write_jsonl(rows, out_dir / EXCHANGES_JSONL)
    write_jsonl(failures, out_dir / FAILURES_JSONL)
    return {"parquet": EXCHANGES_PARQUET, "jsonl": EXCHANGES_JSONL, "failures": FAILURES_JSONL}


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> Path:
    target = out_dir / MANIFEST
    tmp = target.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
