"""Read the texts a watermark test looks at: plain text files, JSONL and Parquet exchange logs.

A document is one answer (``response_text`` of an exchange, or ``text`` /
``completion`` of a plain JSONL line, or a whole ``.txt`` file) with the
prompt that asked for it when known. Malformed lines are reported with their
line numbers and either stop the read or are skipped and counted, never
dropped silently. Exchanges are parsed with :mod:`distillscope.records`.

This module must not import torch or transformers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from distillscope.records import (
    Exchange,
    ExchangeReader,
    LogFormatError,
    MalformedLine,
    iter_jsonl,
    not_an_object,
)

T = TypeVar("T")

TEXT_KEYS = ("response_text", "text", "completion", "output")


@dataclass
class Document:
    """One answer to score, with its origin."""

    id: str
    text: str
    account: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None

    @property
    def prompt_messages(self) -> list[dict[str, Any]] | None:
        """The request as chat messages (a bare prompt becomes one user message)."""
        if self.messages:
            return list(self.messages)
        if self.prompt is not None:
            return [{"role": "user", "content": self.prompt}]
        return None


@dataclass
class DocumentSet:
    documents: list[Document] = field(default_factory=list)
    errors: list[MalformedLine] = field(default_factory=list)


def read_documents(path: str | os.PathLike[str], on_error: str = "skip") -> DocumentSet:
    """Documents of a ``.txt`` (one document), ``.jsonl``/``.json`` or ``.parquet`` file."""
    source = Path(path)
    if not source.is_file():
        raise LogFormatError(f"{source}: no such file")
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        return _from_parquet(source, on_error)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _from_jsonl(source, on_error)
    text = source.read_text(encoding="utf-8", errors="replace")
    return DocumentSet([Document(id=source.name, text=text)])


def _from_parquet(source: Path, on_error: str) -> DocumentSet:
    reader = ExchangeReader(source, on_error="raise" if on_error == "raise" else "skip")
    out = DocumentSet()
    for exchange in reader:
        out.documents.append(_from_exchange(exchange))
    out.errors.extend(reader.errors)
    return out


def _from_jsonl(source: Path, on_error: str) -> DocumentSet:
    out = DocumentSet()
    out.documents, out.errors = _parse_jsonl(source, _parse_line, on_error)
    return out


def _parse_jsonl(
    source: Path, parse: Callable[[Any, int], T], on_error: str
) -> tuple[list[T], list[MalformedLine]]:
    """``parse`` each JSON line of ``source``; a bad line raises or is collected (never dropped silently)."""
    items: list[T] = []
    errors: list[MalformedLine] = []
    for number, data, problem in iter_jsonl(source):
        try:
            if problem is not None:
                raise ValueError(problem)
            items.append(parse(data, number))
        except (ValueError, TypeError) as exc:
            error = MalformedLine(str(source), number, str(exc))
            if on_error == "raise":
                raise LogFormatError(str(error)) from exc
            errors.append(error)
    return items, errors


def _parse_line(data: Any, number: int) -> Document:
    if not isinstance(data, dict):
        raise ValueError(not_an_object(data))
    if {"id", "ts", "account"} <= set(data):
        return _from_exchange(Exchange.from_dict(data))
    for key in TEXT_KEYS:
        if isinstance(data.get(key), str):
            return Document(
                id=str(data.get("id", f"line-{number}")),
                text=data[key],
                account=data.get("account") if isinstance(data.get("account"), str) else None,
                messages=data.get("messages") if isinstance(data.get("messages"), list) else None,
                prompt=data.get("prompt") if isinstance(data.get("prompt"), str) else None,
            )
    raise ValueError(f"no text: expected an exchange or an object with one of {', '.join(TEXT_KEYS)}")


def _from_exchange(exchange: Exchange) -> Document:
    return Document(
        id=exchange.id,
        text=exchange.response_text or "",
        account=exchange.account,
        messages=exchange.messages,
        prompt=exchange.prompt,
    )


def read_prompts(
    path: str | os.PathLike[str], on_error: str = "skip"
) -> tuple[list[list[dict[str, Any]]], list[MalformedLine]]:
    """Chat prompts from a ``.txt`` file (one prompt a line) or a JSONL/Parquet of exchanges or prompts.

    A JSONL line may be an exchange, ``{"messages": [...]}`` or ``{"prompt": "..."}``.
    """
    source = Path(path)
    if not source.is_file():
        raise LogFormatError(f"{source}: no such file")
    if source.suffix.lower() not in (".jsonl", ".json", ".ndjson", ".parquet"):
        lines = source.read_text(encoding="utf-8", errors="replace").splitlines()
        return [[{"role": "user", "content": line.strip()}] for line in lines if line.strip()], []
    if source.suffix.lower() == ".parquet":
        docs = _from_parquet(source, on_error)
        return [d.prompt_messages for d in docs.documents if d.prompt_messages], docs.errors
    return _parse_jsonl(source, _parse_prompt, on_error)


def _parse_prompt(data: Any, number: int) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise ValueError(not_an_object(data))
    messages = data.get("messages")
    if isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages):
        return [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
    if isinstance(data.get("prompt"), str) and data["prompt"].strip():
        return [{"role": "user", "content": data["prompt"]}]
    raise ValueError("no prompt: expected 'messages' (a list of {role, content}) or 'prompt'")


def default_prompts() -> list[list[dict[str, Any]]]:
    """The packaged instruction prompts (used when no prompt file is given)."""
    text = (Path(__file__).parent / "prompts.txt").read_text(encoding="utf-8")
    return [[{"role": "user", "content": line.strip()}] for line in text.splitlines() if line.strip()]
