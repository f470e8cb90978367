"""Settings of a harvest run, validated when built (a bad value fails with the setting's name).

This module must not import HTTP, model or server code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from distillscope.config import EMBEDDED_TEACHER
from distillscope.harvest.formats import ANTHROPIC_HOSTS, APIS, FormatError, body_for_api
from distillscope.harvest.strategies.base import Query, QueryStrategy
from distillscope.harvest.strategies.factory import StrategySettings, make_strategy

LOCAL = "local"
BUDGET = "Budget (hard caps over the whole run, restarts included)"
RATE = "Throughput and politeness"
BATCH = "Provider batch APIs (half price, results within 24 h)"


@dataclass
class HarvestSettings:
    """Everything :func:`distillscope.harvest.run.harvest` needs.

    ``teacher`` is an OpenAI-compatible base URL (``https://api.openai.com/v1``) or
    ``"local"`` (the in-process server on ``model``: the embedded teacher or a
    local Hugging Face directory). ``api`` is the wire format the teacher speaks:
    ``openai`` (chat completions; also Gemini's and vLLM's compatible endpoints),
    ``anthropic`` (native Messages), or ``auto`` (Anthropic for api.anthropic.com).
    The API key is read from the environment variable ``api_key_env`` (default
    ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY`` for Anthropic) at run time; it is
    never a setting.

    ``batch`` sends through the provider's batch API (half price, results within
    ``batch_window``): OpenAI Batch or Anthropic Message Batches, by ``api``.

    ``strategy`` is a query strategy object or a :class:`StrategySettings`, made
    into one here. Each field's help is the ``distillscope harvest`` option's help
    (the command's options are generated from these fields).
    """

    out_dir: Path = field(
        metadata={
            "argument": True,
            "help": "Output directory: exchanges.parquet/.jsonl, manifest.json, cache.",
        }
    )
    strategy: QueryStrategy | StrategySettings = field(metadata={"options_from": StrategySettings})
    teacher: str = field(
        default=LOCAL,
        metadata={
            "help": "Base URL: OpenAI-compatible (https://api.openai.com/v1, Gemini's "
            "https://generativelanguage.googleapis.com/v1beta/openai), "
            "Anthropic (https://api.anthropic.com/v1), or 'local': --model in-process."
        },
    )
    api: str = field(
        default="auto",
        metadata={
            "help": "Wire format of the teacher: openai (chat completions), anthropic (Messages), "
            "or auto (anthropic for api.anthropic.com)."
        },
    )
    model: str = field(
        default=EMBEDDED_TEACHER,
        metadata={"help": "Model name at the teacher; with --teacher local: embedded name or HF dir."},
    )
    api_key_env: str | None = field(
        default=None,
        metadata={
            "help": "Environment variable holding the API key (default OPENAI_API_KEY, ANTHROPIC_API_KEY for "
            "--api anthropic; never pass a key on the command line)."
        },
    )
    # sampling: part of every request body, hence of every cache key
    max_new_tokens: int = field(
        default=256, metadata={"help": "max_tokens of each request (the completion cap)."}
    )
    temperature: float | None = field(default=0.7, metadata={"help": "Sampling temperature."})
    top_p: float | None = field(default=None, metadata={"help": "Nucleus sampling top_p."})
    seed: int | None = field(default=None, metadata={"help": "Sampling seed sent to the teacher."})
    top_logprobs: int = field(
        default=0, metadata={"help": "Ask for the top K log-probs of every token (0: none)."}
    )
    stop: list[str] | None = field(default=None, metadata={"cli": False})
    # throughput and politeness
    concurrency: int = field(default=8, metadata={"panel": RATE, "help": "Requests in flight at most."})
    rpm: float | None = field(
        default=None,
        metadata={"panel": RATE, "help": "Requests per minute (learned from x-ratelimit-* headers too)."},
    )
    tpm: float | None = field(default=None, metadata={"panel": RATE, "help": "Tokens per minute."})
    timeout_s: float = field(
        default=120.0,
        metadata={"panel": RATE, "flags": ("--timeout",), "help": "Seconds per request attempt."},
    )
    max_retries: int = field(
        default=8,
        metadata={
            "panel": RATE,
            "help": "Retries of a transient failure (429, 5xx, timeout, dropped connection).",
        },
    )
    backoff_base_s: float = field(default=0.5, metadata={"cli": False})
    backoff_max_s: float = field(default=60.0, metadata={"cli": False})
    idempotency_keys: bool = field(default=True, metadata={"cli": False})
    # budget (hard caps over the whole run, restarts included)
    max_requests: int | None = field(
        default=None, metadata={"panel": BUDGET, "help": "Answers paid for at most."}
    )
    max_tokens: int | None = field(
        default=None, metadata={"panel": BUDGET, "help": "Tokens (prompt + completion) paid for at most."}
    )
    max_cost: float | None = field(default=None, metadata={"panel": BUDGET, "help": "US dollars at most."})
    prices_file: Path | None = field(
        default=None,
        metadata={
            "panel": BUDGET,
            "flags": ("--prices",),
            "help": "Price table override (JSON/TOML: {models: {NAME: {input, output}}} per 1M tokens).",
        },
    )
    # bookkeeping
    dry_run: bool = field(
        default=False,
        metadata={
            "panel": BUDGET,
            "flags": ("--dry-run",),
            "help": "Print the pre-flight estimate; send nothing.",
        },
    )
    terms: str | None = field(
        default=None,
        metadata={"help": "The teacher's terms of use as you understand them (recorded in the manifest)."},
    )
    account: str = field(
        default="harvest", metadata={"help": "The harvesting identity recorded in every exchange."}
    )
    cache_path: Path | None = field(
        default=None,
        metadata={"flags": ("--cache",), "help": "Answer cache (SQLite); default OUT/cache.sqlite."},
    )
    retry_failed: bool = field(
        default=False,
        metadata={
            "flags": ("--retry-failed",),
            "help": "Retry requests that failed permanently in an earlier run.",
        },
    )
    max_rounds: int = field(default=1000, metadata={"cli": False})
    progress: bool = field(
        default=True, metadata={"flags": ("--progress/--no-progress",), "help": "Show a progress bar."}
    )
    local_max_batch_size: int = field(default=8, metadata={"cli": False})
    extra_body: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})
    # provider batch APIs
    batch: bool = field(
        default=False,
        metadata={
            "panel": BATCH,
            "flags": ("--batch",),
            "help": "Send through the provider's batch API (OpenAI Batch or Anthropic Message Batches) "
            "at half price. Kill-safe at every stage: rerun the same command to resume the same batches.",
        },
    )
    batch_poll_s: float = field(
        default=30.0,
        metadata={
            "panel": BATCH,
            "flags": ("--poll",),
            "help": "Seconds between two polls of a running batch.",
        },
    )
    batch_max_requests: int | None = field(
        default=None,
        metadata={
            "panel": BATCH,
            "help": "Requests per batch at most (default: the provider's limit, 50,000 OpenAI / 100,000 "
            "Anthropic).",
        },
    )
    batch_max_bytes: int | None = field(default=None, metadata={"cli": False})
    on_interrupt: str = field(
        default="ask",
        metadata={
            "panel": BATCH,
            "help": "Ctrl-C while batches run: ask (on a terminal; otherwise keep), cancel them at the "
            "provider, or keep them running (a rerun collects them).",
        },
    )

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if isinstance(self.strategy, StrategySettings):
            self.strategy = make_strategy(
                self.strategy,
                teacher_model=self.model if self.teacher == LOCAL else None,
                state_file=self.out_dir / "active-rounds.json",
            )
        if not isinstance(self.strategy, QueryStrategy):
            raise ValueError("strategy must implement QueryStrategy (a name and next_round())")
        if not self.teacher:
            raise ValueError("teacher must be a base URL or 'local'")
        if self.teacher != LOCAL and not self.teacher.startswith(("http://", "https://")):
            raise ValueError(f"teacher {self.teacher!r}: use an http(s) base URL or 'local'")
        if not self.model:
            raise ValueError("model must be named")
        _positive(self, "max_new_tokens", "concurrency", "max_rounds", "local_max_batch_size")
        _positive(self, "timeout_s", "backoff_base_s", "backoff_max_s", "batch_poll_s")
        if self.api not in ("auto", *APIS):
            raise ValueError(f"api must be auto, {' or '.join(APIS)} (got {self.api!r})")
        if self.on_interrupt not in ("ask", "cancel", "keep"):
            raise ValueError("on_interrupt must be ask, cancel or keep")
        if self.is_local and self.api == "anthropic":
            raise ValueError("the local teacher speaks the OpenAI format: use api 'auto' or 'openai' with it")
        if self.batch and self.is_local:
            raise ValueError(
                "batch needs a provider's batch API: give --teacher a URL (the local teacher has none)"
            )
        for name in ("batch_max_requests", "batch_max_bytes"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.resolved_api == "anthropic":
            try:
                body_for_api("anthropic", {"model": self.model, "messages": [], **self.sampling()})
            except FormatError as exc:
                raise ValueError(str(exc)) from exc
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be within 0..20 (OpenAI's limit)")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ValueError("temperature must be within [0, 2]")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError("top_p must be within (0, 1]")
        for name in ("rpm", "tpm", "max_requests", "max_tokens", "max_cost"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.prices_file is not None:
            self.prices_file = Path(self.prices_file)
        if self.cache_path is not None:
            self.cache_path = Path(self.cache_path)

    @property
    def is_local(self) -> bool:
        return self.teacher == LOCAL

    @property
    def resolved_api(self) -> str:
        """The wire format of the teacher: ``api``, or guessed from the URL's host when ``auto``."""
        if self.api != "auto":
            return self.api
        host = (urlsplit(self.teacher).hostname or "").lower() if not self.is_local else ""
        return "anthropic" if host in ANTHROPIC_HOSTS else "openai"

    @property
    def key_env(self) -> str:
        """The environment variable holding the API key."""
        if self.api_key_env:
            return self.api_key_env
        return "ANTHROPIC_API_KEY" if self.resolved_api == "anthropic" else "OPENAI_API_KEY"

    @property
    def cache_file(self) -> Path:
        return self.cache_path or self.out_dir / "cache.sqlite"

    @property
    def run_id(self) -> str:
        """Stable across restarts of the same run: derived from the output directory."""
        return hashlib.sha256(str(self.out_dir.resolve()).encode()).hexdigest()[:16]

    def sampling(self) -> dict[str, Any]:
        """The request parameters other than model and messages (what the exchange's ``params`` keeps)."""
        params: dict[str, Any] = {"max_tokens": self.max_new_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.seed is not None:
            params["seed"] = self.seed
        if self.stop:
            params["stop"] = list(self.stop)
        if self.top_logprobs:
            params["logprobs"] = True
            params["top_logprobs"] = self.top_logprobs
        params.update(self.extra_body)
        return params

    def body_for(self, model: str, query: Query, helper: bool = False) -> dict[str, Any]:
        """The JSON body for ``query`` in the teacher's wire format: model, messages, sampling.

        Helper generations (e.g. self-instruct's task lists) need no log-probs and may
        sample differently (``query.meta["sampling"]``).
        """
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in query.messages]}
        body.update(self.sampling())
        if helper:
            body.pop("logprobs", None)
            body.pop("top_logprobs", None)
            body.update(query.meta.get("sampling") or {})
        return body_for_api(self.resolved_api, body)

    def api_key(self) -> str | None:
        return os.environ.get(self.key_env)


def _positive(settings: HarvestSettings, *names: str) -> None:
    for name in names:
        if getattr(settings, name) <= 0:
            raise ValueError(f"{name} must be > 0")
