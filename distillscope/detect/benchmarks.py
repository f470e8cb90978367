"""Registered public benchmarks in the offline detector: their questions are no harvest evidence.

The guard keeps a registry of the public benchmarks a provider's customers evaluate
on (``distillscope guard benchmarks add``; docs/guard.md, "Public benchmarks"), and
online a registered question adds no harvest evidence. Offline the same holds:
:func:`load_public_questions` reads the registry (benchmark files in the format
``guard benchmarks add`` reads, and/or a guard database's registry), and
:func:`public_exchanges` keys every exchange of a log with the guard's own key
(:func:`distillscope.guard.request_question` of :func:`distillscope.guard.body_of`,
exactly what the online question ledger matches: the whole request, reasoning
phrases folded out). The engines leave those exchanges out of the table every
per-account feature is aggregated from (volume, reasoning, log-probs, coverage,
timing, infrastructure), so a harness running a registered benchmark is judged on
the rest of its traffic; the log itself is never changed. :func:`note_public`
keeps every account in the output (one whose every request was public scores 0)
and says in its reasons how many of its requests were left out.

This module reads the registry and keys exchanges; it must not score or decide.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from distillscope.records import ExchangeReader


@dataclass(frozen=True)
class PublicQuestions:
    """The registered questions' keys and where they came from (no question text)."""

    keys: frozenset[int]
    benchmarks: tuple[dict[str, Any], ...] = ()  # {name, questions, source}
    notes: tuple[str, ...] = ()  # benchmarks left out, and why


@dataclass
class PublicMatch:
    """The exchanges of a log that ask registered questions: ``(account, id)`` rows, counts per account."""

    rows: pd.DataFrame  # columns account, id
    per_account: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)  # every keyed exchange per account

    @property
    def exchanges(self) -> int:
        return sum(self.per_account.values())


def load_public_questions(
    files: Sequence[str | os.PathLike[str]] = (), guard_db: str | None = None
) -> PublicQuestions:
    """The questions of benchmark files (or folders of them) and of a guard database's registry.

    Raises :class:`distillscope.guard.BenchmarkError` (a ``ValueError``) naming the file and
    line of a bad benchmark, a guard database that does not exist, or a registry with no
    benchmark keyed the way live requests are keyed now.
    """
    from distillscope.guard import load_files

    keys: set[int] = set()
    benchmarks: list[dict[str, Any]] = []
    notes: list[str] = []
    if files:
        found, read = load_files([Path(f) for f in files])
        keys |= found
        benchmarks += [{"name": b.name, "questions": len(b.keys), "source": b.source} for b in read]
    if guard_db is not None:
        found, listed, stale = _registry(guard_db)
        keys |= found
        benchmarks += listed
        notes += [
            f"benchmark {name!r} in the guard database was keyed another way and is left out "
            f"(guard benchmarks add FILE --name {name} --replace)"
            for name in stale
        ]
    return PublicQuestions(frozenset(keys), tuple(benchmarks), tuple(notes))


def _registry(guard_db: str) -> tuple[frozenset[int], list[dict[str, Any]], list[str]]:
    from distillscope.guard import BenchmarkError, BenchmarkStore

    target = guard_db.removeprefix("sqlite:///")
    if "://" not in target and not Path(target).expanduser().is_file():
        # opening a store creates the file: a mistyped path must not become an empty registry
        raise BenchmarkError(f"{guard_db}: no such guard database")
    store = BenchmarkStore(guard_db)
    try:
        keys, stale = store.keys()
        infos = store.list()
    finally:
        store.close()
    current = [i for i in infos if i.current]
    if not current:
        why = "registers no benchmarks" if not infos else "holds only benchmarks keyed another way"
        raise BenchmarkError(
            f"{guard_db}: the guard database {why} (add them with `distillscope guard benchmarks add`)"
        )
    listed = [
        {"name": i.name, "questions": i.questions, "source": f"guard database ({i.name})"} for i in current
    ]
    return keys, listed, [i.name for i in stale]


def log_files(source: str | os.PathLike[str]) -> list[Path]:
    """The files of a log as the engines read it: a file, a folder of Parquet parts, or a glob."""
    path = Path(source)
    if path.is_dir():
        return sorted(path.glob("*.parquet"))
    if not path.exists() and any(ch in str(source) for ch in "*?["):
        return [Path(p) for p in sorted(glob.glob(str(source)))]
    return [path]


def public_exchanges(source: str | os.PathLike[str], keys: frozenset[int]) -> PublicMatch:
    """The exchanges of ``source`` whose request asks a registered question (keyed as the guard keys it).

    Malformed lines are skipped here (the engine reports them); an exchange this reader
    refuses is never public, so it counts as it would without a registry.
    """
    from distillscope.guard import body_of, request_question

    accounts: list[str] = []
    ids: list[str] = []
    requests: Counter[str] = Counter()
    for path in log_files(source):
        for exchange in ExchangeReader(path, on_error="skip"):
            requests[exchange.account] += 1
            if keys and request_question(body_of(exchange)) in keys:
                accounts.append(exchange.account)
                ids.append(exchange.id)
    rows = pd.DataFrame({"account": pd.Series(accounts, dtype=str), "id": pd.Series(ids, dtype=str)})
    return PublicMatch(rows, dict(Counter(accounts)), dict(requests))


def note_public(accounts: Iterable[dict[str, Any]], match: PublicMatch) -> list[dict[str, Any]]:
    """The detector's account rows with the public exchanges said in words (DESIGN.md's row format).

    An account whose every request asked a registered question has no features left: it is
    listed unflagged with score 0. The others keep their score, and a reason says how many of
    their requests were not counted.
    """
    out = [dict(a) for a in accounts]
    listed = {a["account"] for a in out}
    for row in out:
        left_out = match.per_account.get(row["account"], 0)
        if left_out:
            row["reasons"] = [*row.get("reasons", []), _reason(left_out, match.requests.get(row["account"]))]
    for account in sorted(set(match.per_account) - listed):
        out.append(
            {
                "account": account,
                "score": 0.0,
                "flagged": False,
                "campaign": None,
                "reasons": [_reason(match.per_account[account], match.requests.get(account))],
            }
        )
    out.sort(key=lambda r: (-r["score"], r["account"]))
    return out


def _reason(left_out: int, requests: int | None) -> str:
    of = f" of {requests:,}" if requests else ""
    every = " (every request)" if requests == left_out else ""
    return (
        f"{left_out:,}{of} requests asked registered public benchmark questions{every}: "
        "not counted as harvest evidence"
    )


def public_summary(public: PublicQuestions, match: PublicMatch | None) -> dict[str, Any]:
    """What a detection run says about the registry it used (``DetectionResult.public``)."""
    return {
        "benchmarks": [dict(b) for b in public.benchmarks],
        "questions": len(public.keys),
        "exchanges_left_out": match.exchanges if match else 0,
        "accounts": len(match.per_account) if match else 0,
        "notes": list(public.notes),
    }
