"""Prompts from a file: JSONL (``prompt``/``messages``), JSON array, CSV (``prompt``), Parquet, text lines.

Every malformed line is collected with its line number (rows for Parquet), and
by default the file is rejected as a whole with all of them listed, before
anything is sent; ``on_error="skip"`` harvests the good lines and reports the
bad ones. Extra fields of a line travel into the query's metadata.

This module must not talk to a teacher.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distillscope.errors import InputError
from distillscope.harvest.strategies.base import Query, StaticStrategy
from distillscope.records import MalformedLine, OnError, iter_jsonl

ROLES = frozenset({"system", "user", "assistant", "developer", "tool"})
TEXT_SUFFIXES = (".txt", ".text", ".lines")


class PromptFileError(InputError):
    """A prompts file with malformed lines (all listed) or no prompts at all."""

    def __init__(self, path: Path, errors: list[MalformedLine], message: str | None = None) -> None:
        self.path, self.errors = path, errors
        shown = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(message or f"{path}: {len(errors)} malformed line(s):\n{shown}{more}")


def query_from_record(record: Any, system: str | None = None) -> tuple[Query | None, str | None]:
    """A :class:`Query` from a parsed line, or the reason it is malformed."""
    if isinstance(record, str):
        record = {"prompt": record}
    if not isinstance(record, dict):
        return None, f"expected an object with 'prompt' or 'messages', got {type(record).__name__}"
    meta = {k: v for k, v in record.items() if k not in ("prompt", "messages", "system")}
    line_system = record.get("system", system)
    if line_system is not None and not isinstance(line_system, str):
        return None, "'system' must be a string"
    if record.get("messages") is not None:
        messages = record["messages"]
        reason = _check_messages(messages)
        if reason:
            return None, reason
        chat = [{"role": m["role"], "content": m["content"]} for m in messages]
        if line_system and chat[0]["role"] != "system":
            chat.insert(0, {"role": "system", "content": line_system})
        return Query(tuple(chat), meta), None
    prompt = record.get("prompt")
    if prompt is None:
        return None, "missing 'prompt' or 'messages'"
    if not isinstance(prompt, str):
        return None, f"'prompt' must be a string, got {type(prompt).__name__}"
    if not prompt.strip():
        return None, "'prompt' is empty"
    return Query.user(prompt, system=line_system, **meta), None


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list of {role, content}"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            return f"messages[{i}] must be an object with 'role' and 'content'"
        if message["role"] not in ROLES:
            return f"messages[{i}].role {message['role']!r} is not one of {sorted(ROLES)}"
        if not isinstance(message["content"], str):
            return f"messages[{i}].content must be a string"
    return None


def read_prompts(
    path: str | Path, system: str | None = None, on_error: OnError = "raise"
) -> tuple[list[Query], list[MalformedLine]]:
    """All prompts of ``path`` and the malformed lines; raises :class:`PromptFileError` when asked to."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(path, [], f"{path}: no such prompts file")
    queries: list[Query] = []
    errors: list[MalformedLine] = []
    for line, record, parse_error in _records(path):
        if parse_error is None:
            query, parse_error = query_from_record(record, system)
        if parse_error is not None:
            errors.append(MalformedLine(str(path), line, parse_error))
            continue
        assert query is not None
        meta = {"source": path.name, "line": line, **query.meta}
        queries.append(Query(query.messages, meta))
    if errors and on_error == "raise":
        raise PromptFileError(path, errors)
    if not queries:
        raise PromptFileError(path, errors, f"{path}: no usable prompts")
    return queries, errors


def _records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, record, parse error) for each line/row of the file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_records(path)
    elif suffix == ".csv":
        yield from _csv_records(path)
    elif suffix == ".json" and path.read_text(encoding="utf-8", errors="replace").lstrip().startswith("["):
        yield from _json_array_records(path)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        yield from iter_jsonl(path)
    else:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, {"prompt": raw.rstrip("\n")}, None


def _json_array_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        yield exc.lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})"
        return
    for index, item in enumerate(data, start=1):
        yield index, item, None


def _csv_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if "prompt" not in fields and "messages" not in fields:
            yield 1, None, f"the CSV header {fields} has no 'prompt' column"
            return
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if None in row:
                yield start, None, f"{len(fields) + len(row[None])} fields, the header has {len(fields)}"
                continue
            record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
            if "messages" in record:
                try:
                    record["messages"] = json.loads(record["messages"])
                except json.JSONDecodeError:
                    yield start, None, "the 'messages' cell is not valid JSON"
                    continue
            yield start, record, None


def _parquet_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for an unreadable file
        yield 1, None, f"not a readable Parquet file ({exc})"
        return
    number = 0
    for batch in table.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            number += 1
            if isinstance(row.get("messages"), str):
                try:
                    row["messages"] = json.loads(row["messages"])
                except json.JSONDecodeError:
                    yield number, None, "the 'messages' column is not valid JSON"
                    continue
            yield number, {k: v for k, v in row.items() if v is not None}, None


class PromptFileStrategy(StaticStrategy):
    """Every prompt of a file, in one round."""

    name = "prompts-file"

    def __init__(self, path: str | Path, system: str | None = None, on_error: OnError = "raise") -> None:
        queries, self.errors = read_prompts(path, system=system, on_error=on_error)
        super().__init__(queries)
        self.path = Path(path)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "malformed_lines": [str(e) for e in self.errors]}
