"""Score a student's own answers with a teacher API: ``/v1/completions`` with ``echo`` and ``logprobs``.

One scoring call sends ``prompt text + student answer`` with ``echo: true``,
``logprobs: k`` and ``max_tokens: 0``; the teacher returns its log-prob of every
token of that text and its top-k alternatives, and generates nothing. A server
that refuses ``max_tokens: 0`` is asked with ``max_tokens: 1`` and the one
generated token is dropped: :meth:`TeacherScorer.detect` finds out which with one
tiny probe request, and a teacher that does not echo the prompt's log-probs at all
gets :class:`ScoringUnsupported`, naming the missing capability.

Every call is a paid query like any other and goes through the harvester's own
machinery (its public classes, not a copy): the content-addressed SQLite cache
(a resumed run never pays twice), the hard budget (worst case reserved before
sending; spending of earlier runs of the same ``run_id`` counted), the rate
limiter, retries with backoff, and the cache's provenance (body, raw response,
kept headers, latency, run id). Input tokens are priced at the price table's
input rate, which is what makes scoring cheap next to asking for answers.

This module must not train anything or know about losses.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.errors import ConfigError, DistillscopeError
from distillscope.harvest import (
    AnswerCache,
    Budget,
    Caps,
    Dispatcher,
    PlannedRequest,
    Price,
    RateLimiter,
    Result,
    TeacherClient,
    Usage,
    canonical_json,
    request_key,
)
from distillscope.records import Exchange, write_jsonl

PROBE_PROMPT = "The capital of France is Paris."
#: Tokens allowed on top of the UTF-8 byte count in the worst-case prompt bound (BOS and the like).
PROMPT_OVERHEAD = 8


class ScoringUnsupported(ConfigError):
    """The teacher cannot score text: no ``/v1/completions``, or no ``echo`` with ``logprobs``."""


class ScoringBudgetExhausted(DistillscopeError, RuntimeError):
    """The scoring budget has no room for the next call."""


@dataclass
class ScoredAnswer:
    """The teacher's per-token judgement of one answer, in chat ``logprobs.content`` form."""

    content: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached: bool


@dataclass
class ScoringStats:
    calls: int = 0
    from_cache: int = 0
    failed: int = 0
    refused: int = 0  # not sent: the budget had no room left for them
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


@dataclass
class ScorerSettings:
    """Where to send scoring calls and what they may cost (see the module doc)."""

    base_url: str
    model: str
    teacher_id: str  # cache identity: normalised URL or local:NAME, independent of the port
    cache_path: Path
    run_id: str
    api_key: str | None = None
    top_k: int = 5
    price: Price | None = None
    max_cost: float | None = None
    max_requests: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 4
    probe_rate_limits: bool = True


class TeacherScorer:
    """Scores prompt + answer texts through the harvester's cache, budget and rate limiter."""

    def __init__(self, config: ScorerSettings) -> None:
        self.config = config
        self.cache = AnswerCache(config.cache_path)
        self.budget = Budget(Caps(config.max_requests, None, config.max_cost), spent=self._spent_before())
        self.limiter = RateLimiter(config.rpm, config.tpm, probe=config.probe_rate_limits)
        client = TeacherClient(
            config.base_url,
            config.api_key,
            timeout_s=config.timeout_s,
            max_connections=max(16, 2 * config.concurrency),
            path="/completions",
        )
        self.dispatcher = Dispatcher(
            teacher_id=config.teacher_id,
            client=client,
            cache=self.cache,
            budget=self.budget,
            limiter=self.limiter,
            price=config.price,
            run_id=config.run_id,
            concurrency=config.concurrency,
            max_retries=config.max_retries,
            backoff_base_s=0.5,
            backoff_max_s=30.0,
        )
        self.loop = asyncio.new_event_loop()
        self.max_tokens: int | None = None  # 0 or 1, once detected
        self.stats = ScoringStats()
        self.keys: list[str] = []
        self.exhausted = False  # a call was refused for the budget: the next batch would be too

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self.loop.run_until_complete(self.dispatcher.client.aclose())
        self.loop.close()
        self.cache.close()

    def __enter__(self) -> TeacherScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spent_before(self) -> Usage:
        """What earlier runs of this run id paid or may have paid (killed ones too): caps span restarts."""
        spent = Usage()
        for answer in self.cache.answers_of_run(self.config.run_id):
            usage = answer.response.get("usage") if isinstance(answer.response, dict) else None
            prompt = int((usage or {}).get("prompt_tokens") or 0)
            completion = int((usage or {}).get("completion_tokens") or 0)
            cost = self.config.price.cost(prompt, completion) if self.config.price else 0.0
            spent = spent.plus(Usage(1, prompt + completion, cost))
        # Reservations left on disk by a killed process: those calls may have been billed.
        return spent.plus(Usage(*self.cache.reserved(self.config.run_id)))

    # -- requests ----------------------------------------------------------------------

    def _body(self, text: str, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "prompt": text,
            "echo": True,
            "logprobs": self.config.top_k,
            "max_tokens": max_tokens,
            "temperature": 0,
        }

    def _planned(self, body: dict[str, Any]) -> PlannedRequest:
        bound = len(body["prompt"].encode("utf-8")) + PROMPT_OVERHEAD
        completion = int(body["max_tokens"])
        price = self.config.price
        return PlannedRequest(
            key=request_key(self.config.teacher_id, body),
            body=body,
            body_json=canonical_json(body),
            worst=Usage(1, bound + completion, price.cost(bound, completion) if price else 0.0),
            estimated_tokens=len(body["prompt"]) // 4 + completion,
        )

    def _send(self, bodies: list[dict[str, Any]]) -> list[Result]:
        requests = [self._planned(b) for b in bodies]

        async def run() -> list[Result]:
            return list(await asyncio.gather(*(self.dispatcher.get(r) for r in requests)))

        results = self.loop.run_until_complete(run())
        self.keys.extend(r.key for r, res in zip(requests, results, strict=True) if res.answer is not None)
        return results

    # -- capability ----------------------------------------------------------------------

    def detect(self) -> int:
        """``max_tokens`` to score with: 0 where the server accepts it, else 1; raises if it cannot echo."""
        if self.max_tokens is not None:
            return self.max_tokens
        reasons = []
        for max_tokens in (0, 1):
            (result,) = self._send([self._body(PROBE_PROMPT, max_tokens)])
            if result.answer is None:
                if result.status == "skipped":
                    raise ScoringBudgetExhausted(f"no budget left for the scoring probe ({result.reason})")
                reasons.append(f"max_tokens={max_tokens}: {result.reason}")
                if "404" in result.reason:
                    break
                continue
            echoed = _echoed_entries(result.answer.response, PROBE_PROMPT)
            if echoed is None:
                raise ScoringUnsupported(
                    self._unsupported("it answered without echoing the prompt's logprobs")
                )
            self.max_tokens = max_tokens
            return max_tokens
        raise ScoringUnsupported(self._unsupported("; ".join(reasons)))

    def _unsupported(self, detail: str) -> str:
        return (
            f"the teacher at {self.config.base_url} (model {self.config.model!r}) cannot score text: "
            "on-policy distillation needs POST /v1/completions with echo: true and logprobs "
            f"(the prompt's own token log-probs), and {detail}"
        )

    # -- scoring -------------------------------------------------------------------------

    def score(self, texts: list[tuple[str, str]]) -> list[ScoredAnswer | None]:
        """The teacher's view of each ``(prompt_text, answer_text)``; ``None`` where the call failed or the
        budget refused it (then ``exhausted`` is set; :class:`ScoringBudgetExhausted` if it refused all)."""
        max_tokens = self.detect()
        started = time.perf_counter()
        results = self._send([self._body(prompt + answer, max_tokens) for prompt, answer in texts])
        self.stats.seconds += time.perf_counter() - started
        refused = [r.status == "skipped" and "budget" in r.reason for r in results]
        if any(refused):
            # The budget lets calls wait for earlier ones to settle, so the calls it refused could never
            # fit; the ones it sent were paid for and are returned, never dropped.
            self.exhausted = True
            if all(refused):
                raise ScoringBudgetExhausted("the scoring budget is spent")
        out: list[ScoredAnswer | None] = []
        for (prompt, answer), result, unpaid in zip(texts, results, refused, strict=True):
            if unpaid:
                self.stats.refused += 1
                out.append(None)
                continue
            if result.answer is None:
                self.stats.failed += 1
                self.stats.failures.append(result.reason)
                out.append(None)
                continue
            entries = _echoed_entries(result.answer.response, prompt + answer)
            if entries is None:
                raise ScoringUnsupported(self._unsupported("an answer came back without echoed logprobs"))
            usage = result.answer.response.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
            price = self.config.price
            cost = price.cost(prompt_tokens, completion_tokens) if price else 0.0
            cached = result.status == "cached"
            self.stats.calls += 1
            self.stats.from_cache += cached
            self.stats.prompt_tokens += prompt_tokens
            self.stats.completion_tokens += completion_tokens
            self.stats.cost_usd += cost
            content = answer_entries(entries, len(prompt), answer)
            out.append(ScoredAnswer(content, prompt_tokens, completion_tokens, cost, cached))
        return out

    # -- provenance ------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "teacher": self.config.teacher_id,
            "model": self.config.model,
            "endpoint": "/v1/completions (echo, logprobs)",
            "top_k": self.config.top_k,
            "max_tokens": self.max_tokens,
            "max_tokens_note": None
            if self.max_tokens in (None, 0)
            else "the server refused max_tokens 0; scored with 1 and the generated token dropped",
            "calls": stats.calls,
            "from_cache": stats.from_cache,
            "failed": stats.failed,
            "refused_for_budget": stats.refused,
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "cost_usd": round(stats.cost_usd, 8),
            "price": None if self.config.price is None else vars(self.config.price),
            "seconds": round(stats.seconds, 3),
            "cache": str(self.config.cache_path),
            "run_id": self.config.run_id,
        }

    def write_log(self, path: Path) -> Path:
        """The scoring calls of this run as exchange rows (from the cache, the source of truth)."""
        rows = []
        for key in dict.fromkeys(self.keys):
            answer = self.cache.get(key)
            if answer is None:
                continue
            response, body = answer.response, answer.body
            usage = response.get("usage") or {}
            prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
            cost = None
            if self.config.price is not None and prompt_tokens is not None:
                cost = self.config.price.cost(int(prompt_tokens), int(completion_tokens or 0))
            rows.append(
                Exchange(
                    id=key,
                    ts=answer.received_at,
                    account="on-policy",
                    prompt=body["prompt"],
                    model=str(body.get("model")),
                    endpoint="/v1/completions",
                    params={k: v for k, v in body.items() if k not in ("model", "prompt")},
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_ms=answer.latency_ms,
                    status=200,
                    usage=usage or None,
                    cost_usd=cost,
                    provenance={
                        "teacher": self.config.teacher_id,
                        "model": response.get("model") or body.get("model"),
                        "system_fingerprint": response.get("system_fingerprint"),
                        "response_id": response.get("id"),
                        "request_key": key,
                        "run_id": answer.run_id,
                        "strategy": "on-policy scoring",
                        "response_headers": answer.headers,
                    },
                )
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(rows, path)
        return path


def _echoed_entries(response: dict[str, Any], text: str) -> list[dict[str, Any]] | None:
    """``[{token, logprob, top, offset}]`` for the tokens of ``text`` (generated ones dropped), or None.

    ``None`` when the response carries no legacy ``logprobs`` or they do not start at
    the beginning of the text (the server did not echo the prompt).
    """
    choices = response.get("choices") or []
    logprobs = choices[0].get("logprobs") if choices and isinstance(choices[0], dict) else None
    if not isinstance(logprobs, dict) or not logprobs.get("tokens"):
        return None
    tokens = [str(t) for t in logprobs["tokens"]]
    values = list(logprobs.get("token_logprobs") or [None] * len(tokens))
    tops = list(logprobs.get("top_logprobs") or [None] * len(tokens))
    offsets = logprobs.get("text_offset")
    if not offsets:
        offsets, at = [], 0
        for token in tokens:
            offsets.append(at)
            at += len(token)
    # An echo starts at offset 0 and spells (about: partial UTF-8 tokens) the whole text;
    # a server that ignored echo returns only what it generated.
    if offsets[0] != 0 or sum(len(t) for t in tokens) < len(text) // 2:
        return None
    out = []
    for token, value, top, offset in zip(tokens, values, tops, offsets, strict=False):
        if offset >= len(text) and token:
            break  # a generated token (max_tokens 1): not part of the scored text
        out.append({"token": token, "logprob": value, "top": top or {}, "offset": int(offset)})
    return out


def answer_entries(entries: list[dict[str, Any]], answer_start: int, answer: str) -> list[dict[str, Any]]:
    """The answer's tokens in chat ``logprobs.content`` form (the sampled token joins its top-k).

    A teacher token that starts in the prompt and ends in the answer is replaced by a
    placeholder covering the answer's part of it, with no target (the student tokens
    there get no KD target, as in :mod:`distillscope.train.align`).
    """
    content: list[dict[str, Any]] = []
    covered = 0
    for entry in entries:
        start, token = entry["offset"] - answer_start, entry["token"]
        if start + len(token) <= 0:
            continue
        if start < 0:  # straddles the boundary
            content.append({"token": token[-start:], "logprob": None, "top_logprobs": []})
            covered = start + len(token)
            continue
        if start > covered:
            content.append({"token": answer[covered:start], "logprob": None, "top_logprobs": []})
        top = [{"token": str(t), "logprob": float(v)} for t, v in entry["top"].items() if v is not None]
        if entry["logprob"] is not None and token not in entry["top"]:
            top.append({"token": token, "logprob": float(entry["logprob"])})
        content.append({"token": token, "logprob": entry["logprob"], "top_logprobs": top})
        covered = start + len(token)
    return content
