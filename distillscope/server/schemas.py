"""Request bodies of the OpenAI-compatible API, validated with pydantic.

Unknown top-level fields are rejected (OpenAI answers "Unrecognized request
argument supplied"); fields OpenAI defines but this server cannot honour are
accepted only at their neutral value. Turning a ``ValidationError`` into an
OpenAI-shaped 400 is :func:`validation_error`'s job. This module must not touch
models, backends or HTTP.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from distillscope.server.errors import APIError, invalid_request

MAX_N = 16
MAX_STOP = 4


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: bool = False


class ChatMessage(BaseModel):
    """One chat message; extra keys (``refusal``, ``audio``, ...) are tolerated and ignored."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _text_parts_only(cls, value: str | list[dict[str, Any]] | None) -> Any:
        # Checked here, not when a backend reads the text, so that no backend (an upstream
        # relay included) ever receives an image, audio or file part this server cannot judge.
        for part in value if isinstance(value, list) else []:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(
                    f"content part of type {part.get('type')!r} is not supported; use text parts"
                )
        return value

    def text(self) -> str:
        """The message text; content parts must all be ``{"type": "text"}``."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise invalid_request(
                    f"content part of type {part.get('type')!r} is not supported; use text parts",
                    param="messages",
                )
            parts.append(part["text"])
        return "".join(parts)


class SamplingRequest(_Strict):
    """Fields shared by both endpoints."""

    model: str
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, ge=0.0, le=1.0)
    n: int = Field(1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logit_bias: dict[str, float] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences are allowed")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _logit_bias(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, bias in (value or {}).items():
            if not key.strip().lstrip("-").isdigit() or int(key) < 0:
                raise ValueError(f"logit_bias keys must be token ids (non-negative integers), got {key!r}")
            if not -100.0 <= bias <= 100.0:
                raise ValueError(f"logit_bias values must be between -100 and 100, got {bias} for {key}")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _penalty(cls, value: float | None) -> float | None:
        if value not in (None, 0, 0.0):
            raise ValueError("presence_penalty and frequency_penalty are not supported (use 0)")
        return value

    @model_validator(mode="after")
    def _stream_options(self) -> SamplingRequest:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def bias(self) -> dict[int, float]:
        return {int(k): float(v) for k, v in (self.logit_bias or {}).items()}

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None

    @model_validator(mode="after")
    def _checks(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs requires logprobs to be true")
        if self.response_format not in (None, {"type": "text"}):
            raise ValueError("only response_format {'type': 'text'} is supported")
        if self.tools:
            raise ValueError("tools are not supported by this server")
        return self

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(SamplingRequest):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(16, ge=0)
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    best_of: int | None = None
    suffix: str | None = None

    @model_validator(mode="after")
    def _checks(self) -> CompletionRequest:
        if self.best_of not in (None, 1, self.n):
            raise ValueError("best_of other than n is not supported")
        if self.suffix:
            raise ValueError("suffix is not supported by this server")
        if isinstance(self.prompt, list) and not self.prompt:
            raise ValueError("prompt must not be an empty list")
        if isinstance(self.prompt, list) and any(isinstance(p, list) and not p for p in self.prompt):
            raise ValueError("a token-id prompt must not be empty")
        return self

    def prompts(self) -> list[str | list[int]]:
        """The prompts of this request, each a string or a list of token ids."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if all(isinstance(p, int) for p in prompt):
            return [list(prompt)]  # type: ignore[arg-type]
        return list(prompt)  # type: ignore[arg-type]


def validation_error(exc: ValidationError | Any) -> APIError:
    """An OpenAI-shaped 400 from pydantic's (or FastAPI's) list of errors."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return invalid_request("invalid request body")
    first = errors[0]
    location = [str(p) for p in first.get("loc", ()) if p != "body" and not _is_union_tag(p)]
    param = ".".join(location) or None
    if first.get("type") == "extra_forbidden":
        return invalid_request(f"Unrecognized request argument supplied: {param}", param=param)
    if first.get("type") == "missing":
        return invalid_request(f"Missing required parameter: '{param}'.", param=param)
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    where = f"'{param}': " if param else ""
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return invalid_request(f"Invalid value for {where}{message}{more}", param=param)


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _is_union_tag(part: Any) -> bool:
    """pydantic names the member of a union in an error's location (``prompt.str``): not a field."""
    return isinstance(part, str) and ("[" in part or part in _TYPE_TAGS)
