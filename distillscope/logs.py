"""Open an exchange log by its name: a JSONL or Parquet file, or a guard log store URL.

``open_log(source)`` is the one place that tells a store URL (``sqlite:...``,
``postgresql:...``, a ``.db``/``.sqlite`` file) from a log file; every command
that reads "a log, whichever kind" goes through it (sharing, detection). A file
is read by :class:`distillscope.records.ExchangeReader` (malformed lines
collected in ``errors``, or raised); a store yields its records, which the
guard wrote validated, and closes when read to the end or closed.

This module sits above ``records`` and the guard's log store: it must not parse
records itself or know any component that reads logs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from distillscope.records import Exchange, ExchangeReader, MalformedLine, OnError

#: URL schemes and file suffixes of the guard's log stores.
STORE_SCHEMES = ("sqlite:", "postgresql:", "postgres:")
STORE_SUFFIXES = (".db", ".sqlite")


class ExchangeLog(Protocol):
    """An opened log: iterate its exchanges once; ``errors`` holds the malformed lines skipped."""

    errors: list[MalformedLine]

    def __iter__(self) -> Iterator[Exchange]: ...

    def close(self) -> None: ...


def is_store_url(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` names a guard log store rather than a JSONL/Parquet file."""
    text = str(source)
    return text.startswith(STORE_SCHEMES) or text.endswith(STORE_SUFFIXES)


def open_log(source: str | os.PathLike[str], on_error: OnError = "skip") -> ExchangeLog:
    """The exchanges of ``source``, a log file or a log store URL (see the module doc)."""
    if is_store_url(source):
        from distillscope.guard.logstore import open_log_store

        return _StoreLog(open_log_store(str(source)))
    return _FileLog(ExchangeReader(Path(source), on_error=on_error))


class _FileLog:
    def __init__(self, reader: ExchangeReader) -> None:
        self.reader = reader

    @property
    def errors(self) -> list[MalformedLine]:
        return self.reader.errors

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.reader)

    def close(self) -> None:
        """Nothing to release: the reader opens its file only while iterating."""


class _StoreLog:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.errors: list[MalformedLine] = []

    def __iter__(self) -> Iterator[Exchange]:
        try:
            yield from self.store.iter_exchanges()
        finally:
            self.close()

    def close(self) -> None:
        self.store.close()
