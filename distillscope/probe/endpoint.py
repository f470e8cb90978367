"""Where a probe sends its questions: an OpenAI-compatible base URL, a model id and a key.

This module only builds clients and runs requests concurrently; it must not know
what any probe measures. The key is read from the environment by name and never
stored in results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from distillscope.errors import DistillscopeError

T = TypeVar("T")
R = TypeVar("R")


class ProbeError(DistillscopeError, RuntimeError):
    """The endpoint refused or could not answer what the probe needs."""


@dataclass
class Endpoint:
    """An OpenAI-compatible endpoint. ``api_key`` is used, never reported."""

    base_url: str
    model: str | None = None
    api_key: str = "local"
    timeout: float = 120.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.shown_url!r}")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    @classmethod
    def from_env(cls, base_url: str, model: str | None = None, key_env: str | None = None) -> Endpoint:
        key = os.environ.get(key_env, "") if key_env else "local"
        if key_env and not key:
            raise ValueError(f"environment variable {key_env} is empty or unset")
        return cls(base_url=base_url, model=model, api_key=key)

    def client(self) -> Any:
        import openai

        return openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=2
        )

    def resolve_model(self, client: Any) -> str:
        """The model id to ask for: the one given, else the first the endpoint lists."""
        if self.model:
            return self.model
        try:
            models = client.models.list().data
        except Exception as exc:  # openai raises one of many APIError subclasses
            raise ProbeError(f"{self.shown_url}: could not list models ({exc})") from exc
        if not models:
            raise ProbeError(f"{self.shown_url} lists no models; name one with --model")
        self.model = models[0].id
        return self.model

    @property
    def shown_url(self) -> str:
        """The base URL as results and messages name it: without userinfo or query (either may hold a key)."""
        from distillscope.server.urls import redact_url

        return redact_url(self.base_url)

    def label(self) -> str:
        return f"{self.model or '?'} @ {self.shown_url}"


def run_all(func: Callable[[T], R], items: Iterable[T], concurrency: int = 8) -> list[R]:
    """``[func(x) for x in items]`` with ``concurrency`` requests in flight, order kept."""
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [func(x) for x in items]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(func, items))


def api_call(func: Callable[[], R], what: str) -> R:
    """Run one API call, turning the client's errors into a :class:`ProbeError` that says what failed."""
    import openai

    try:
        return func()
    except openai.APIStatusError as exc:
        raise ProbeError(f"{what}: the endpoint answered {exc.status_code}: {_message(exc)}") from exc
    except openai.APIError as exc:
        raise ProbeError(f"{what}: {exc}") from exc


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc)
