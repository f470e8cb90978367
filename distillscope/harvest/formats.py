"""The providers' wire formats: request bodies for each API, and one view of any answer.

Two chat APIs are spoken: OpenAI's ``/chat/completions`` (also Gemini's and
vLLM's OpenAI-compatible endpoints) and Anthropic's native ``/messages``. A
request is planned once in the OpenAI shape (model, messages, sampling) and
turned into Anthropic's here: ``system`` becomes a top-level field,
``max_tokens`` is required, ``stop`` is ``stop_sequences``. Answers are cached
exactly as the teacher sent them; :func:`view` reads either shape (text,
finish reason, token usage, log-probs) for the budget and the dataset, so an
Anthropic ``stop_reason: "max_tokens"`` is the dataset's ``finish_reason:
"length"`` and ``usage.input_tokens`` its ``prompt_tokens``.

This module must not do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from distillscope.errors import ConfigError

APIS = ("openai", "anthropic")
ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_HOSTS = ("api.anthropic.com",)

#: Anthropic's stop reasons in OpenAI's words.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
#: OpenAI sampling parameters Anthropic's Messages API has no equivalent for.
_NOT_IN_ANTHROPIC = ("logprobs", "top_logprobs", "seed", "logit_bias", "n", "frequency_penalty")


class FormatError(ConfigError):
    """A request that cannot be expressed in the chosen API (message meant for the user)."""


def anthropic_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body as an Anthropic Messages body (raises :class:`FormatError` when impossible)."""
    unsupported = [name for name in _NOT_IN_ANTHROPIC if body.get(name) not in (None, False, 0)]
    if unsupported:
        raise FormatError(
            f"Anthropic's Messages API has no {', '.join(unsupported)}: drop them for an Anthropic teacher"
        )
    system = [str(m.get("content") or "") for m in body["messages"] if m.get("role") == "system"]
    messages = [
        {"role": m["role"], "content": m.get("content") or ""}
        for m in body["messages"]
        if m.get("role") != "system"
    ]
    if not body.get("max_tokens"):
        raise FormatError("Anthropic's Messages API requires max_tokens")
    out: dict[str, Any] = {
        "model": body["model"],
        "max_tokens": int(body["max_tokens"]),
        "messages": messages,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p", "top_k", "metadata"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop"):
        stop = body["stop"]
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    skip = {"model", "messages", "max_tokens", "stop", *_NOT_IN_ANTHROPIC}
    for name, value in body.items():  # anything else (extra_body) goes through as given
        if name not in skip and name not in out:
            out[name] = value
    return out


def body_for_api(api: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body actually sent to a teacher speaking ``api`` (and hashed into its cache key)."""
    return anthropic_body(body) if api == "anthropic" else body


def request_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The conversation of a request in either shape, system message first."""
    messages = [dict(m) for m in body.get("messages") or []]
    system = body.get("system")
    if system:
        text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
        messages.insert(0, {"role": "system", "content": text})
    return messages


@dataclass(frozen=True)
class AnswerView:
    """What the budget and the dataset need from an answer, whatever its wire shape."""

    text: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    usage: dict[str, Any] | None
    logprobs: list[dict[str, Any]] | None
    model: str | None
    response_id: str | None
    system_fingerprint: str | None


def is_answer(data: Any) -> bool:
    """Whether a 200's JSON is an answer (a chat completion or an Anthropic message)."""
    if not isinstance(data, dict):
        return False
    if data.get("type") == "message":
        return isinstance(data.get("content"), list)
    choices = data.get("choices")
    return isinstance(choices, list) and bool(choices) and isinstance(choices[0], dict)


def view(response: Mapping[str, Any]) -> AnswerView:
    """Read an answer of either API (assumes :func:`is_answer`)."""
    if response.get("type") == "message":
        return _anthropic_view(response)
    choice = response["choices"][0]
    message = choice.get("message") or {}
    text = message.get("content")
    if text is None:
        text = choice.get("text")
    raw_logprobs = choice.get("logprobs")
    logprobs = raw_logprobs.get("content") if isinstance(raw_logprobs, dict) else None
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
    return AnswerView(
        text=text if isinstance(text, str) else None,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=_int(usage, "prompt_tokens"),
        completion_tokens=_int(usage, "completion_tokens"),
        usage=usage,
        logprobs=logprobs,
        model=response.get("model"),
        response_id=response.get("id"),
        system_fingerprint=response.get("system_fingerprint"),
    )


def _anthropic_view(response: Mapping[str, Any]) -> AnswerView:
    blocks = [b for b in response.get("content") or [] if isinstance(b, dict) and b.get("type") == "text"]
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else None
    stop = response.get("stop_reason")
    return AnswerView(
        text="".join(str(b.get("text") or "") for b in blocks),
        finish_reason=_FINISH.get(stop, stop) if stop else None,
        prompt_tokens=_int(usage, "input_tokens"),
        completion_tokens=_int(usage, "output_tokens"),
        usage=usage,
        logprobs=None,
        model=response.get("model"),
        response_id=response.get("id"),
        system_fingerprint=None,
    )


def usage_tokens(response: Any) -> tuple[int, int] | None:
    """(prompt, completion) tokens an answer reports; None when it reports none."""
    if not is_answer(response):
        return None
    answer = view(response)
    if answer.usage is None:
        return None
    return answer.prompt_tokens or 0, answer.completion_tokens or 0


def _int(usage: Mapping[str, Any] | None, name: str) -> int | None:
    if not usage or usage.get(name) is None:
        return None
    return int(usage[name])


def anthropic_rate_headers(headers: Mapping[str, str], now: float) -> dict[str, str]:
    """``anthropic-ratelimit-*`` headers restated as OpenAI's ``x-ratelimit-*`` ones (resets in seconds).

    Anthropic sends limits, remaining and an RFC 3339 reset time for requests and
    tokens; the limiter speaks OpenAI's dialect, so they are translated once here.
    """
    out = dict(headers)
    for kind in ("requests", "tokens"):
        prefix = f"anthropic-ratelimit-{kind}-"
        if prefix + "limit" in headers:
            out[f"x-ratelimit-limit-{kind}"] = headers[prefix + "limit"]
        if prefix + "remaining" in headers and prefix + "reset" in headers:
            try:
                reset = datetime.fromisoformat(headers[prefix + "reset"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            out[f"x-ratelimit-remaining-{kind}"] = headers[prefix + "remaining"]
            out[f"x-ratelimit-reset-{kind}"] = f"{max(0.0, reset - now):.3f}"
    return out
