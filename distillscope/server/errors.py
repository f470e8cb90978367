"""OpenAI-shaped API errors: ``{"error": {"message", "type", "param", "code"}}``.

Routes, backends and gateways raise :class:`APIError`; the app renders it with the
right HTTP status. This module must not import FastAPI routes or any backend, so
that the guard and other components can raise errors without pulling the server in.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error answered to the client in OpenAI's format, with an HTTP status.

    ``type`` follows OpenAI's vocabulary (``invalid_request_error``,
    ``authentication_error``, ``permission_error``, ``rate_limit_error``,
    ``server_error``); ``code`` is a short machine-readable reason such as
    ``model_not_found`` or ``context_length_exceeded``; ``param`` names the
    offending request field when there is one. ``headers`` (e.g. ``retry-after``)
    are sent with the response.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def __repr__(self) -> str:
        return f"APIError({self.status}, {self.message!r}, type={self.type!r}, code={self.code!r})"


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 ``invalid_request_error``."""
    return APIError(400, message, "invalid_request_error", code=code, param=param)


def model_not_found(model: str) -> APIError:
    """A 404 for a model this server does not serve."""
    return APIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
        param="model",
    )


def server_error(message: str = "The server had an error while processing your request.") -> APIError:
    """A 500 for a genuine server fault (never for bad input)."""
    return APIError(500, message, "server_error", code="internal_error")


def error_type_for_status(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status (used to map upstream errors)."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "invalid_request_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"
