"""Public benchmarks registered with the guard: their questions are no harvest evidence online.

An evaluation harness that is the first to run a public benchmark with reasoning
looks, online, like a reasoning harvest of new questions (docs/guard.md, "Public
benchmarks"). A provider knows the public benchmarks' question lists, so it can
register them: :func:`read_benchmark` reads a file of questions and keys each one
with the key a live request of that text gets (:func:`distillscope.guard.risk.request_features`,
so case, punctuation, whitespace and reasoning requests such as "Let's think step
by step." are folded exactly as the question ledger folds them);
:class:`BenchmarkStore` keeps the keys in the guard's database (tables
``ds_benchmarks`` and ``ds_benchmark_questions``, SQLite or PostgreSQL), so a
restarted server still knows them; :meth:`BenchmarkStore.keys` is what the gateway
hands :meth:`distillscope.guard.risk.RiskTracker.set_public_questions`.

Accepted files: plain text, one question per line (``.txt``, or any other suffix whose
first line does not start with ``{`` or ``"``); or JSONL (``.jsonl``/``.json``
suffix, or a first line that starts with ``{`` or ``"``), one JSON string or object
per line: ``messages`` (a chat request's messages, matched as the whole request), ``prompt``
(a completions prompt) or ``question`` / ``text`` / ``input`` / ``problem``. Other
fields (answers, labels) are never read. A malformed line, a NUL, a lone surrogate,
invalid UTF-8, an empty or oversized file is a :class:`BenchmarkError` naming the
line; nothing is registered then. Only 64-bit keys are stored, never the text.

This module reads files and stores keys; it must not score, decide, or know HTTP.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillscope.guard.db import LockedStore, sql
from distillscope.guard.risk import QUESTION_CHARS, question_key, request_features
from distillscope.textsig import COT_PATTERN

#: The largest benchmark file read (bytes): split a bigger one into several benchmarks.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: The most questions one benchmark may hold.
MAX_QUESTIONS = 500_000
#: The longest line read (characters); a question's key reads only its first QUESTION_CHARS.
MAX_LINE_CHARS = 1024 * 1024
#: Fields of a JSONL object read as the question, in this order (after ``messages`` and ``prompt``).
QUESTION_FIELDS = ("question", "text", "input", "problem")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: How the stored keys were made: a benchmark keyed otherwise must be added again.
KEY_SCHEME = hashlib.blake2b(
    f"{QUESTION_CHARS}|{COT_PATTERN}|[\\W_]+|blake2b-8".encode(), digest_size=6
).hexdigest()
_SURROGATE = re.compile("[\ud800-\udfff]")

_SCHEMA = {
    "sqlite": (
        """CREATE TABLE IF NOT EXISTS ds_benchmarks (
        name TEXT PRIMARY KEY, questions INTEGER NOT NULL, source TEXT, sha256 TEXT,
        scheme TEXT NOT NULL, added REAL NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS ds_benchmark_questions (
        name TEXT NOT NULL, qkey INTEGER NOT NULL, PRIMARY KEY (name, qkey))""",
    ),
    "postgresql": (
        """CREATE TABLE IF NOT EXISTS ds_benchmarks (
        name TEXT PRIMARY KEY, questions INTEGER NOT NULL, source TEXT, sha256 TEXT,
        scheme TEXT NOT NULL, added DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS ds_benchmark_questions (
        name TEXT NOT NULL, qkey BIGINT NOT NULL, PRIMARY KEY (name, qkey))""",
    ),
}


class BenchmarkError(ValueError):
    """A benchmark file or name that cannot be registered (the message says where and why)."""


@dataclass(frozen=True)
class Benchmark:
    """A benchmark read from a file: its name, question keys (deduplicated), lines read, digest."""

    name: str
    keys: tuple[int, ...]
    lines: int
    source: str
    sha256: str

    @property
    def duplicates(self) -> int:
        return self.lines - len(self.keys)


@dataclass(frozen=True)
class BenchmarkInfo:
    """A registered benchmark as listed: no questions, only how many and where they came from."""

    name: str
    questions: int
    source: str | None
    sha256: str | None
    scheme: str
    added: float

    @property
    def current(self) -> bool:
        """Whether its keys were made the way live requests are keyed now (else: add it again)."""
        return self.scheme == KEY_SCHEME

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "questions": self.questions,
            "source": self.source,
            "sha256": self.sha256,
            "current": self.current,
            "added": self.added,
        }


def check_name(name: str) -> str:
    """``name`` if it is a valid benchmark name (letters, digits, ``.``, ``_``, ``-``; at most 64)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise BenchmarkError(
            f"benchmark name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def default_name(path: str | Path) -> str:
    """The benchmark name a file gets when none is given: its name without the suffix."""
    stem = Path(path).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem)[:64] or "benchmark"


def read_benchmark(path: str | Path, name: str | None = None) -> Benchmark:
    """Read and key a benchmark file (see the module docstring); a :class:`BenchmarkError` on bad input."""
    source = Path(path)
    name = check_name(name if name is not None else default_name(source))
    if not source.is_file():
        raise BenchmarkError(f"{source}: no such file")
    size = source.stat().st_size
    if size > MAX_FILE_BYTES:
        raise BenchmarkError(
            f"{source}: {size:,} bytes is over the limit of one benchmark file ({MAX_FILE_BYTES:,} bytes); "
            "split it into several benchmarks"
        )
    data = source.read_bytes()
    if len(data) > MAX_FILE_BYTES:  # grew while being read
        raise BenchmarkError(f"{source}: over the limit of one benchmark file ({MAX_FILE_BYTES:,} bytes)")
    text = _decode(data, source)
    keys: dict[int, None] = {}
    lines = 0
    for number, question in _questions(text, source):
        key = _key(question)
        if key is None:
            raise BenchmarkError(f"{source}:{number}: the question has no words to match")
        keys[key] = None
        lines += 1
        if lines > MAX_QUESTIONS:
            raise BenchmarkError(
                f"{source}: more than {MAX_QUESTIONS:,} questions; split it into several benchmarks"
            )
    if not keys:
        raise BenchmarkError(f"{source}: no questions (an empty file, or only blank lines)")
    return Benchmark(name, tuple(keys), lines, str(source), hashlib.sha256(data).hexdigest())


def _decode(data: bytes, source: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BenchmarkError(f"{source}:{line}: not UTF-8 text (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def _is_jsonl(text: str, source: Path) -> bool:
    suffix = source.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return True
    if suffix == ".txt":
        return False
    first = next((line.lstrip() for line in text.splitlines() if line.strip()), "")
    return first.startswith(("{", '"'))


def _questions(text: str, source: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, question)`` for every non-blank line; a question is a str or a request body."""
    jsonl = _is_jsonl(text, source)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise BenchmarkError(f"{source}:{number}: a line over {MAX_LINE_CHARS:,} characters")
        if "\x00" in line:
            raise BenchmarkError(f"{source}:{number}: a NUL character")
        if not jsonl:
            yield number, line.strip()
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            hint = (
                ""
                if source.suffix.lower() in (".jsonl", ".json", ".ndjson")
                else (
                    '; read as JSONL because its first line starts with { or ", name it .txt for plain text'
                )
            )
            raise BenchmarkError(f"{source}:{number}: malformed JSON ({exc}){hint}") from None
        question = _question_of(value, source, number)
        _check_text(question, source, number)
        yield number, question


def _question_of(value: Any, source: Path, number: int) -> Any:
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise BenchmarkError(
            f"{source}:{number}: expected a JSON string or object, got {type(value).__name__}"
        )
    messages = value.get("messages")
    if messages is not None:
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise BenchmarkError(f"{source}:{number}: 'messages' must be a list of {{role, content}} objects")
        return {"messages": messages}
    prompt = value.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str | list):
            raise BenchmarkError(f"{source}:{number}: 'prompt' must be a string (or token ids)")
        return {"prompt": prompt}
    for name in QUESTION_FIELDS:
        field = value.get(name)
        if isinstance(field, str):
            return field
    raise BenchmarkError(
        f"{source}:{number}: no question: give 'messages', 'prompt' or one of {', '.join(QUESTION_FIELDS)} "
        "(a string)"
    )


def _check_text(value: Any, source: Path, number: int) -> None:
    """Reject NULs and lone surrogates anywhere in a question (JSON escapes can carry both)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BenchmarkError(f"{source}:{number}: a NUL character")
        match = _SURROGATE.search(value)
        if match:
            raise BenchmarkError(f"{source}:{number}: a lone surrogate (U+{ord(match.group()):04X})")
    elif isinstance(value, dict):
        for item in value.values():
            _check_text(item, source, number)
    elif isinstance(value, list):
        for item in value:
            _check_text(item, source, number)


def _key(question: Any) -> int | None:
    """The ledger key a live request asking ``question`` gets (a text, or a request body)."""
    if isinstance(question, str):
        return question_key(question)
    return request_features(question).question


def _signed(key: int) -> int:
    return key - (1 << 64) if key >= 1 << 63 else key


def _unsigned(key: int) -> int:
    return key + (1 << 64) if key < 0 else key


def load_files(paths: list[str | Path]) -> tuple[frozenset[int], list[Benchmark]]:
    """The union of the questions of benchmark files (for ``guard replay --benchmarks``), and each read.

    A folder stands for every ``*.jsonl``, ``*.json`` and ``*.txt`` file in it.
    """
    read: list[Benchmark] = []
    for path in paths:
        target = Path(path)
        if target.is_dir():
            files = sorted(p for p in target.iterdir() if p.suffix in (".jsonl", ".json", ".txt"))
            if not files:
                raise BenchmarkError(f"{target}: a folder without .jsonl, .json or .txt benchmark files")
            read += [read_benchmark(p) for p in files]
        else:
            read.append(read_benchmark(target))
    keys: set[int] = set()
    for bench in read:
        keys.update(bench.keys)
    return frozenset(keys), read


class BenchmarkStore(LockedStore):
    """The registered benchmarks in the guard's database (thread-safe, one connection under a lock)."""

    schema = _SCHEMA
    lock_key = 7414

    def add(self, bench: Benchmark, *, replace: bool = False) -> None:
        """Register ``bench`` in one transaction (all or nothing); an existing name needs ``replace``."""
        kind = self.db.kind
        source = str(Path(bench.source).resolve())
        meta = (bench.name, len(bench.keys), source, bench.sha256, KEY_SCHEME, time.time())
        keys = [(bench.name, _signed(k)) for k in bench.keys]
        statements = (
            sql("SELECT 1 FROM ds_benchmarks WHERE name = ?", kind),
            sql("DELETE FROM ds_benchmark_questions WHERE name = ?", kind),
            sql("DELETE FROM ds_benchmarks WHERE name = ?", kind),
            sql(
                "INSERT INTO ds_benchmarks (name, questions, source, sha256, scheme, added) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                kind,
            ),
            sql("INSERT INTO ds_benchmark_questions (name, qkey) VALUES (?, ?)", kind),
        )
        exists, drop_keys, drop_meta, insert_meta, insert_keys = statements
        with self._transaction() as cursor:
            cursor.execute(exists, (bench.name,))
            if cursor.fetchone() is not None and not replace:
                raise BenchmarkError(_exists(bench.name))
            cursor.execute(drop_keys, (bench.name,))
            cursor.execute(drop_meta, (bench.name,))
            cursor.execute(insert_meta, meta)
            cursor.executemany(insert_keys, keys)

    def remove(self, name: str) -> bool:
        """Unregister ``name``; whether it was registered."""
        found = bool(self._rows("SELECT 1 FROM ds_benchmarks WHERE name = ?", (name,)))
        self._rows("DELETE FROM ds_benchmark_questions WHERE name = ?", (name,))
        self._rows("DELETE FROM ds_benchmarks WHERE name = ?", (name,))
        return found

    def list(self) -> list[BenchmarkInfo]:
        rows = self._rows(
            "SELECT name, questions, source, sha256, scheme, added FROM ds_benchmarks ORDER BY name"
        )
        return [BenchmarkInfo(r[0], int(r[1]), r[2], r[3], r[4], float(r[5])) for r in rows]

    def keys(self) -> tuple[frozenset[int], list[BenchmarkInfo]]:
        """Every current benchmark's question keys, and the benchmarks left out (keyed another way)."""
        infos = self.list()
        stale = [info for info in infos if not info.current]
        if not stale:
            rows = self._rows("SELECT qkey FROM ds_benchmark_questions")
        elif len(stale) == len(infos):
            rows = []
        else:
            current = tuple(info.name for info in infos if info.current)
            marks = ", ".join("?" for _ in current)
            rows = self._rows(f"SELECT qkey FROM ds_benchmark_questions WHERE name IN ({marks})", current)
        return frozenset(_unsigned(int(r[0])) for r in rows), stale

    def generation(self) -> tuple[int, int, float]:
        """A cheap fingerprint of the registry (benchmarks, questions, last change): reload when it moves."""
        (row,) = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(questions), 0), COALESCE(MAX(added), 0) FROM ds_benchmarks"
        )
        return int(row[0]), int(row[1]), float(row[2])


def _exists(name: str) -> str:
    return (
        f"a benchmark named {name!r} is registered already: pass --replace to replace it, "
        "or pick another name"
    )
