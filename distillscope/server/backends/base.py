"""What the app needs from a backend, and what it gives one per request.

A backend answers a validated request with either a complete OpenAI response
body (a dict) or an async iterator of OpenAI stream chunks (dicts). Errors it can
detect before answering (a prompt longer than the context, an upstream 4xx) are
raised as :class:`~distillscope.server.errors.APIError` before any byte is sent.
This module must not import torch, FastAPI or any concrete backend.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from distillscope.server.schemas import ChatCompletionRequest, CompletionRequest

BackendResult = dict[str, Any] | AsyncIterator[dict[str, Any]]


@dataclass
class RequestContext:
    """Per-request facts the backend needs besides the body."""

    model_name: str  # the id this server serves the model under
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))
    processors: list[Any] = field(default_factory=list)  # transformers LogitsProcessor, this request only
    account: str = "local"
    #: Headers a backend learned for the answer (an upstream's ``x-ratelimit-*``), passed on by the app.
    response_headers: dict[str, str] = field(default_factory=dict)


class Backend(Protocol):
    """A model behind the API: in-process (local) or another server (upstream)."""

    #: A short word for logs and /health: "local" or "upstream".
    kind: str

    async def startup(self) -> None: ...

    async def shutdown(self) -> None:
        """Finish in-flight work, then release the model or connections."""
        ...

    def health(self) -> dict[str, Any]: ...

    async def chat(self, request: ChatCompletionRequest, ctx: RequestContext) -> BackendResult: ...

    async def complete(self, request: CompletionRequest, ctx: RequestContext) -> BackendResult: ...


def fingerprint(text: str) -> str:
    """A stable ``system_fingerprint`` for a model identity."""
    return "fp_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
