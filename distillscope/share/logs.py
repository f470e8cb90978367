"""Open an exchange log for sharing: a JSONL/Parquet file, or a guard log store URL.

Malformed lines are skipped and counted (never silently): the caller reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from distillscope.records import Exchange, ExchangeReader, MalformedLine


def iter_log(source: str, errors: list[MalformedLine]) -> Iterator[Exchange]:
    """Exchanges of ``source``; malformed file lines are appended to ``errors``."""
    if source.startswith(("sqlite:", "postgresql:", "postgres:")) or source.endswith((".db", ".sqlite")):
        from distillscope.guard.logstore import open_log_store

        yield from open_log_store(source).iter_exchanges()
        return
    reader = ExchangeReader(Path(source), on_error="skip")
    yield from reader
    errors.extend(reader.errors)
