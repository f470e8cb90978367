"""The gateway seam between the server and the guard: admission before, recording after.

The server calls ``admit`` before serving a request (authentication and policy; it
may reject by raising :class:`~distillscope.server.errors.APIError`, or throttle
with ``await asyncio.sleep``) and ``record`` once per request after it finished,
success or error, streaming included. :class:`OpenGateway` is the default: everyone
is account ``"local"`` and nothing is recorded unless a JSONL path is given.

This module must not import FastAPI at module import time beyond typing, nor know
about any backend; it must never store or log an API key in clear.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from distillscope.records import Exchange
from distillscope.server.errors import APIError

if TYPE_CHECKING:
    import fastapi
    import starlette.requests


@dataclass
class Admission:
    """What the gateway decided about one request."""

    account: str = "local"  # who is asking (the guard fills it from the API key)
    key_id: str | None = None  # public id of the key (never the key itself)
    strip_logprobs: bool = False  # policy: answer without logprobs/top_logprobs
    defend: bool = False  # policy: serve with the server's countermeasures (when scoped to flagged requests)
    reasons: list[str] = field(default_factory=list)  # why the policy decided what it did
    meta: dict[str, Any] = field(default_factory=dict)  # ip, user_agent, payment_id, org ...
    headers: dict[str, str] = field(default_factory=dict)  # sent with the answer (x-ratelimit-* ...)

    def __post_init__(self) -> None:
        if not isinstance(self.account, str) or not self.account:
            raise ValueError("Admission.account must be a non-empty string")


@runtime_checkable
class Gateway(Protocol):
    """Authentication, policy and the exchange log, as seen by the server."""

    async def admit(
        self, request: starlette.requests.Request, endpoint: str, body: dict[str, Any]
    ) -> Admission:
        """Authenticate and apply policy; reject by raising ``APIError`` (401/403/429)."""
        ...

    async def record(self, exchange: Exchange) -> None:
        """Store one finished exchange (success or error). Must not block the event loop."""
        ...

    def router(self) -> fastapi.APIRouter | None:
        """Extra routes (admin API, /metrics) mounted by ``create_app``, or None."""
        ...

    # Optional: ``async def authenticate(request)`` checks the caller of the read-only routes
    # (``/v1/models``) and raises ``APIError`` (401) to refuse; without it they are open.

    async def startup(self) -> None:
        """Open stores; called once when the app starts."""
        ...

    async def shutdown(self) -> None:
        """Flush logs; called once when the app stops cleanly."""
        ...


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback_name(host: str | None) -> bool:
    """Whether a host name or address (no port) is this machine's loopback."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_cross_site(request: starlette.requests.Request, check_host: bool = True) -> None:
    """Open mode's guard against web pages: 403/415 unless the request is a local program's.

    Without keys, any page in the operator's browser could otherwise spend the server (a
    ``text/plain`` POST needs no CORS preflight) or, through DNS rebinding, read its answers.
    So: the ``Host`` must name loopback (a rebound name does not), a browser's ``Origin`` or
    ``Sec-Fetch-Site`` must not be another site, and a POST must say ``application/json``
    (which a page cannot send cross-origin without a preflight this server never grants).
    ``check_host=False`` skips the Host check (open mode deliberately served to other machines).
    """
    if check_host and not is_loopback_name(_host_name(request.headers.get("host", ""))):
        raise APIError(
            403,
            "This server runs in open mode (no API keys) and answers requests addressed to "
            "localhost only (the Host header names another host).",
            "permission_error",
            code="host_not_allowed",
        )
    origin = request.headers.get("origin")
    if origin is not None and not is_loopback_name(urlsplit(origin).hostname):
        raise APIError(
            403,
            "This server runs in open mode (no API keys) and refuses requests from web pages "
            "of other origins.",
            "permission_error",
            code="cross_origin_refused",
        )
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise APIError(
            403,
            "Cross-site requests are refused in open mode.",
            "permission_error",
            code="cross_origin_refused",
        )
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise APIError(
                415,
                "Send the request body as JSON with the header Content-Type: application/json.",
                "invalid_request_error",
                code="unsupported_media_type",
            )


def _host_name(host: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:8000`` -> ``::1``)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def client_meta(request: starlette.requests.Request) -> dict[str, Any]:
    """The caller's ip and user agent, as a gateway usually records them."""
    client = request.client
    return {
        "ip": client.host if client else None,
        "user_agent": request.headers.get("user-agent"),
    }


class OpenGateway:
    """No authentication, everyone is account ``"local"``; optional JSONL exchange log.

    For local use only (the CLI binds it to loopback unless told otherwise). With
    ``log_path`` every exchange is appended as one JSON line, written from a worker
    thread so the event loop never waits on the disk.
    """

    def __init__(self, log_path: str | os.PathLike[str] | None = None, account: str = "local") -> None:
        self.log_path = Path(log_path) if log_path is not None else None
        self.account = account
        self.recorded = 0
        self._lock = threading.Lock()

    async def admit(
        self, request: starlette.requests.Request, endpoint: str, body: dict[str, Any]
    ) -> Admission:
        refuse_cross_site(request)
        return Admission(account=self.account, meta=client_meta(request))

    async def authenticate(self, request: starlette.requests.Request) -> None:
        refuse_cross_site(request)

    async def record(self, exchange: Exchange) -> None:
        self.recorded += 1
        if self.log_path is None:
            return
        # ASCII escapes: any string (a lone surrogate, a NUL) fits in a line of valid JSON.
        line = json.dumps(exchange.to_dict(), ensure_ascii=True, default=str) + "\n"
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        assert self.log_path is not None
        with self._lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(line)

    def router(self) -> fastapi.APIRouter | None:
        return None

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
