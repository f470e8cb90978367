"""The Exchange record and exchange-log I/O (JSONL and Parquet), shared by every component.

An exchange is one API request and its answer, in the format of DESIGN.md. Logs
are read leniently but never silently: unknown fields are kept (in ``extra``),
missing optional fields are tolerated, and every malformed line is reported with
its line number, then skipped or rejected as the caller chooses.

This module must not import torch, transformers or any component: it is the
common currency, and it stays cheap to import.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from distillscope.errors import InputError

OnError = Literal["skip", "raise"]

#: What a blank line of a JSON-lines log is made of: the characters of :meth:`str.isspace` (a test
#: checks the list). Every reader skips such lines, the Python one and both detection engines' SQL
#: (``detect.sqlparts.blank_line_sql``), so a log gives the same exchanges and errors on each.
BLANK_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

#: Request fields an exchange keeps in ``params`` (the sampling parameters of DESIGN.md).
SAMPLING_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "seed",
    "stream",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "echo",
    "presence_penalty",
    "frequency_penalty",
)

# Columns that hold nested values; in Parquet they are stored as JSON strings so
# that free-form dicts (params.logit_bias, provenance) keep a stable schema.
JSON_COLUMNS = ("messages", "params", "logprobs", "provenance", "extra", "usage")


class LogFormatError(InputError):
    """A log or dataset file that cannot be read as exchanges."""


@dataclass
class MalformedLine:
    """One line of a log that could not be read, with the reason."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class Exchange:
    """One request to a model API and its answer.

    Required: ``id``, ``ts`` (Unix seconds, UTC), ``account``, and ``messages``
    (a list of ``{role, content}``) or ``prompt``. Everything else is optional.
    Harvest adds ``logprobs`` (OpenAI's per-token ``[{token, logprob,
    top_logprobs: [{token, logprob}]}]``), ``usage``, ``cost_usd`` and
    ``provenance``.
    """

    id: str
    ts: float
    account: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    key_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    payment_id: str | None = None
    org: str | None = None
    model: str | None = None
    endpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    response_text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    status: int | None = None
    logprobs: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    provenance: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("'id' must be a non-empty string")
        if isinstance(self.ts, bool) or not isinstance(self.ts, int | float):
            raise ValueError("'ts' must be a number (Unix seconds, UTC)")
        self.ts = float(self.ts)
        if not isinstance(self.account, str) or not self.account:
            raise ValueError("'account' must be a non-empty string")
        if self.messages is None and self.prompt is None:
            raise ValueError("one of 'messages' or 'prompt' is required")
        if self.messages is not None:
            _check_messages(self.messages)
        if self.prompt is not None and not isinstance(self.prompt, str):
            raise ValueError("'prompt' must be a string")
        if self.params is None:
            self.params = {}
        if not isinstance(self.params, dict):
            raise ValueError("'params' must be an object")

    # -- convenience -----------------------------------------------------------------

    @property
    def prompt_text(self) -> str:
        """The user-visible prompt as one string (chat messages joined by role)."""
        if self.prompt is not None:
            return self.prompt
        return "\n".join(str(m.get("content") or "") for m in self.messages or [])

    @property
    def last_user_text(self) -> str:
        """The last user message, or the prompt: what a detector usually wants."""
        if self.prompt is not None:
            return self.prompt
        for message in reversed(self.messages or []):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return self.prompt_text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``extra`` is merged back at the top level, Nones dropped."""
        data = asdict(self)
        extra = data.pop("extra") or {}
        out = {k: v for k, v in data.items() if v is not None and v != {}}
        for key, value in extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        """Build from a parsed JSON object; unknown keys go to ``extra``."""
        if not isinstance(data, dict):
            raise ValueError(not_an_object(data))
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = [k for k in ("id", "ts", "account") if data.get(k) is None]
        if missing:
            raise ValueError(f"missing required field(s): {', '.join(missing)}")
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = dict(data.get("extra") or {}) if isinstance(data.get("extra"), dict) else {}
        extra.update({k: v for k, v in data.items() if k not in known and k != "extra"})
        return cls(**kwargs, extra=extra)


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list of {role, content}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")


def not_an_object(data: Any) -> str:
    """The error for a JSON value that is not an object, naming its JSON type as every reader does."""
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    kind = "null" if data is None else kinds.get(type(data), type(data).__name__)
    return f"expected a JSON object, got {kind}"


def new_exchange_id() -> str:
    """A fresh, sortable-enough unique id for an exchange."""
    return uuid.uuid4().hex


# -- reading ---------------------------------------------------------------------------


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, value, error)`` for each non-blank line of a JSON-lines file.

    ``value`` is the parsed JSON (any type: callers check the shape they need) and
    ``error`` is None, or ``value`` is None and ``error`` says why the line is not
    JSON. Undecodable bytes are replaced, never fatal. Every JSONL reader of the
    project goes through here, so line numbers and messages read the same everywhere.
    """
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip(BLANK_CHARS):
                continue
            try:
                yield number, json.loads(raw), None
            except json.JSONDecodeError as exc:
                yield number, None, f"invalid JSON ({exc.msg} at column {exc.colno})"


def read_objects(path: str | os.PathLike[str], error: type[Exception] = ValueError) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, in order; the first line that is not JSON or not an object
    raises ``error`` with ``path:line: why`` (the kind of a non-object named as every reader names it)."""
    rows = []
    for number, row, problem in iter_jsonl(path):
        if problem is None and not isinstance(row, dict):
            problem = not_an_object(row)
        if problem is not None:
            raise error(f"{path}:{number}: {problem}")
        rows.append(row)
    return rows


class ExchangeReader:
    """Iterate the exchanges of a JSONL or Parquet file, collecting malformed lines.

    ``on_error="raise"`` stops at the first malformed line with a
    :class:`LogFormatError` naming its line number; ``"skip"`` records it in
    ``self.errors`` and goes on.
    """

    def __init__(self, path: str | os.PathLike[str], on_error: OnError = "raise") -> None:
        self.path = Path(path)
        self.on_error = on_error
        self.errors: list[MalformedLine] = []
        if not self.path.exists():
            raise LogFormatError(f"{self.path}: no such file")

    def __iter__(self) -> Iterator[Exchange]:
        if self.path.suffix == ".parquet":
            yield from self._iter_parquet()
        else:
            yield from self._iter_jsonl()

    def _fail(self, line: int, reason: str) -> None:
        error = MalformedLine(str(self.path), line, reason)
        if self.on_error == "raise":
            raise LogFormatError(str(error))
        self.errors.append(error)

    def _iter_jsonl(self) -> Iterator[Exchange]:
        for number, data, error in iter_jsonl(self.path):
            if error is not None:
                self._fail(number, error)
                continue
            try:
                yield Exchange.from_dict(data)
            except (ValueError, TypeError) as exc:
                self._fail(number, str(exc))

    def _iter_parquet(self) -> Iterator[Exchange]:
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise LogFormatError(f"{self.path}: not a readable Parquet file ({exc})") from exc
        row_number = 0
        for batch in table.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                row_number += 1
                try:
                    yield Exchange.from_dict(_decode_json_columns(row))
                except (ValueError, TypeError) as exc:
                    self._fail(row_number, str(exc))


def read_exchanges(path: str | os.PathLike[str], on_error: OnError = "raise") -> list[Exchange]:
    """Read a whole log into memory (see :class:`ExchangeReader` for streaming)."""
    return list(ExchangeReader(path, on_error=on_error))


def _decode_json_columns(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in JSON_COLUMNS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"column {key!r} holds invalid JSON") from exc
        out[key] = value
    return out


# -- writing ---------------------------------------------------------------------------


def _create(tmp: Path, private: bool) -> int:
    """A new file descriptor for ``tmp``: mode 0600 when ``private`` (users' prompts), else 0666 - umask."""
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)


def write_jsonl(
    records: Iterable[Exchange | dict[str, Any]], path: str | os.PathLike[str], private: bool = False
) -> int:
    """Write records as JSONL atomically (temp file, then rename). Returns the count.

    ``private`` creates the file readable by its owner only (an exchange log holds users' prompts)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    count = 0
    with open(_create(tmp, private), "w", encoding="utf-8") as handle:
        for record in records:
            data = record.to_dict() if isinstance(record, Exchange) else record
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return count


def exchanges_to_table(records: Iterable[Exchange | dict[str, Any]]) -> Any:
    """A pyarrow Table with one row per record; nested columns as JSON strings."""
    import pyarrow as pa

    rows = []
    for record in records:
        data = record.to_dict() if isinstance(record, Exchange) else dict(record)
        for key in JSON_COLUMNS:
            if key in data and not isinstance(data[key], str):
                data[key] = json.dumps(data[key], ensure_ascii=False)
        rows.append(data)
    # from_pylist takes its columns from the first row only: give it the union.
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return pa.Table.from_pylist([{key: row.get(key) for key in columns} for row in rows])


def write_parquet(
    records: Iterable[Exchange | dict[str, Any]], path: str | os.PathLike[str], private: bool = False
) -> int:
    """Write records as Parquet atomically. Returns the count. ``private``: as in :func:`write_jsonl`."""
    import pyarrow.parquet as pq

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    table = exchanges_to_table(records)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(_create(tmp, private), "wb") as handle:
        pq.write_table(table, handle)
    os.replace(tmp, target)
    return table.num_rows


def write_exchanges(records: Iterable[Exchange | dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write JSONL or Parquet by the file's suffix."""
    if Path(path).suffix == ".parquet":
        return write_parquet(records, path)
    return write_jsonl(records, path)
