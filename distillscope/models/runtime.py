"""One model runtime: how a request becomes the ids a model reads, where generation stops, and the
forward's KV-cache keyword.

Watermark cost and detection, fidelity, training and the server all assume a
prompt is rendered exactly as ``distillscope serve`` renders it, so every one of
them calls :func:`prompt_ids`:

- chat messages go through the tokenizer's chat template with the assistant
  header (``add_generation_prompt=True``). A tokenizer without a template (a base
  model) gets a plain ``role: content`` transcript ending with ``assistant:``,
  unless ``transcript=False`` (the server: it refuses such chat requests);
- a plain prompt (``/v1/completions``) is ``tokenizer(text)`` with the tokenizer's
  default special tokens.

This module must not import torch at import time and must not load models.
"""

from __future__ import annotations

import inspect
from typing import Any

from distillscope.errors import ConfigError


class NoChatTemplateError(ConfigError):
    """Chat messages for a tokenizer that has no chat template (and no transcript allowed)."""


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _transcript(messages: list[dict[str, Any]]) -> str:
    return "".join(f"{m.get('role')}: {m.get('content')}\n" for m in messages) + "assistant:"


def prompt_text(tokenizer: Any, messages: list[dict[str, Any]], *, transcript: bool = True) -> str:
    """The rendering of chat ``messages`` as text, ending with the assistant header."""
    if not has_chat_template(tokenizer):
        if not transcript:
            raise NoChatTemplateError("this tokenizer has no chat template")
        return _transcript(messages)
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def prompt_ids(
    tokenizer: Any,
    messages: list[dict[str, Any]] | None = None,
    *,
    text: str | None = None,
    transcript: bool = True,
) -> list[int]:
    """The ids of a request as the server renders it: chat ``messages``, or a plain ``text`` prompt."""
    if messages is None:
        return [int(i) for i in tokenizer(text or "")["input_ids"]]
    if not has_chat_template(tokenizer):
        if not transcript:
            raise NoChatTemplateError("this tokenizer has no chat template")
        return [int(i) for i in tokenizer(_transcript(messages))["input_ids"]]
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # some releases return a BatchEncoding anyway
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def cache_keyword(model: Any) -> str:
    """The forward keyword for the KV cache: ``cache`` in newer transformers, ``past_key_values`` before."""
    try:
        names = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in names else "past_key_values"


def eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Where generation stops: the model's configured end-of-sequence ids and the tokenizer's EOS token."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in configured if isinstance(configured, list) else [configured]:
        if isinstance(value, int):
            ids.add(value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
