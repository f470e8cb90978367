"""The upstream backend: forward requests to any OpenAI-compatible base URL with httpx.

The validated request is sent on with the upstream's model id; answers come back
with this server's model id. Streams are relayed chunk by chunk as they arrive.
Upstream failures become OpenAI-shaped errors that say what happened upstream
(its 4xx passed on, its 5xx and network failures as 502/504). The API key is read
from an environment variable and sent only upstream, never logged. Logits
processors cannot run here and are ignored. This module must not load models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from distillscope.server.backends.base import BackendResult, RequestContext
from distillscope.server.errors import APIError, error_type_for_status
from distillscope.server.schemas import ChatCompletionRequest, CompletionRequest, SamplingRequest
from distillscope.server.urls import redact_url

log = logging.getLogger("distillscope.server")


class UpstreamBackend:
    """Relay to another OpenAI-compatible server (vLLM, a hosted API, another distillscope)."""

    kind = "upstream"

    def __init__(
        self,
        base_url: str,
        *,
        upstream_model: str,
        api_key: str | None = None,
        timeout: float = 600.0,
        transport: httpx.AsyncBaseTransport | None = None,
        other_models: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.upstream_model = upstream_model
        #: More upstream models relayed under their own ids (``serve --upstream`` without ``--model``
        #: relays every model the upstream lists); ``served_models`` tells the app.
        self.served_models = [m for m in dict.fromkeys(other_models) if m != upstream_model]
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # never show the key, nor credentials in the URL
        return f"UpstreamBackend({redact_url(self.base_url)!r}, upstream_model={self.upstream_model!r})"

    async def startup(self) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=self._timeout, transport=self._transport
        )

    async def shutdown(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def health(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "upstream": redact_url(self.base_url),
            "upstream_model": self.upstream_model,
        }

    async def chat(self, request: ChatCompletionRequest, ctx: RequestContext) -> BackendResult:
        return await self._forward("/chat/completions", request, ctx)

    async def complete(self, request: CompletionRequest, ctx: RequestContext) -> BackendResult:
        return await self._forward("/completions", request, ctx)

    async def _forward(self, path: str, request: SamplingRequest, ctx: RequestContext) -> BackendResult:
        if self._client is None:
            raise APIError(503, "the upstream client is not started", "server_error")
        body = request.model_dump(exclude_none=True)
        body["model"] = request.model if request.model in self.served_models else self.upstream_model
        if not request.stream:
            try:
                response = await self._client.post(path, json=body)
            except httpx.HTTPError as exc:
                raise _network_error(exc) from None
            if response.status_code >= 400:
                raise _upstream_error(response.status_code, response.content, response.headers)
            ctx.response_headers.update(_rate_limit_headers(response.headers))
            data = _json_or_502(response.content)
            data["model"] = ctx.model_name
            return data
        try:
            response = await self._client.send(
                self._client.build_request("POST", path, json=body), stream=True
            )
        except httpx.HTTPError as exc:
            raise _network_error(exc) from None
        if response.status_code >= 400:
            content = await response.aread()
            await response.aclose()
            raise _upstream_error(response.status_code, content, response.headers)
        ctx.response_headers.update(_rate_limit_headers(response.headers))
        return self._relay(response, ctx)

    async def _relay(self, response: httpx.Response, ctx: RequestContext) -> AsyncIterator[dict[str, Any]]:
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = _json_or_502(data.encode())
                if "error" in chunk:
                    error = (
                        chunk["error"]
                        if isinstance(chunk["error"], dict)
                        else {"message": str(chunk["error"])}
                    )
                    raise APIError(
                        502, f"upstream error: {error.get('message')}", "server_error", error.get("code")
                    )
                chunk["model"] = ctx.model_name
                yield chunk
        except httpx.HTTPError as exc:
            raise _network_error(exc) from None
        finally:
            await response.aclose()


def _rate_limit_headers(headers: httpx.Headers) -> dict[str, str]:
    """The upstream's ``x-ratelimit-*`` headers (its limits, which a client may pace itself by)."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}


def _json_or_502(content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise APIError(502, "the upstream answered with something that is not JSON", "server_error") from None
    if not isinstance(data, dict):
        raise APIError(502, "the upstream answered with JSON that is not an object", "server_error")
    return data


def _upstream_error(status: int, content: bytes, headers: httpx.Headers) -> APIError:
    """Map an upstream error answer to ours: its 4xx passed on, auth and 5xx as gateway errors."""
    try:
        error = json.loads(content).get("error") or {}
        if not isinstance(error, dict):
            error = {"message": str(error)}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        error = {"message": content[:200].decode("utf-8", "replace")}
    message = str(error.get("message") or f"upstream answered {status}")
    passed = {
        k: v for k, v in headers.items() if k.lower() == "retry-after" or k.lower().startswith("x-ratelimit")
    }
    if status in (401, 403):
        # The upstream's own words may quote (part of) this server's key: logged, never relayed.
        log.error("the upstream refused this server's credentials (%d): %s", status, message[:200])
        return APIError(
            502,
            f"the upstream rejected this server's credentials ({status}); the operator has to fix them",
            "server_error",
            code="upstream_auth_failed",
        )
    if status == 429:
        return APIError(
            429, message, "rate_limit_error", error.get("code"), error.get("param"), headers=passed
        )
    if status >= 500:
        return APIError(502, f"upstream error ({status}): {message}", "server_error", code="upstream_error")
    mapped = 400 if status == 422 else status
    return APIError(
        mapped,
        message,
        error.get("type") or error_type_for_status(mapped),
        error.get("code"),
        error.get("param"),
    )


def _network_error(exc: httpx.HTTPError) -> APIError:
    if isinstance(exc, httpx.TimeoutException):
        return APIError(
            504, f"the upstream timed out ({type(exc).__name__})", "server_error", code="upstream_timeout"
        )
    return APIError(
        502,
        f"the upstream is unreachable ({type(exc).__name__})",
        "server_error",
        code="upstream_unreachable",
    )


async def discover_models(base_url: str, api_key: str | None = None, timeout: float = 10.0) -> list[str]:
    """Every model id an upstream lists at ``GET /models``, in its order."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
        response = await client.get("/models")
        response.raise_for_status()
        models = response.json().get("data") or []
    if not models:
        raise ValueError(f"{redact_url(base_url)} lists no models")
    return [str(m["id"]) for m in models]


async def discover_model(base_url: str, api_key: str | None = None, timeout: float = 10.0) -> str:
    """The first model id an upstream lists at ``GET /models``."""
    return (await discover_models(base_url, api_key, timeout))[0]
