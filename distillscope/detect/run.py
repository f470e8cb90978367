"""Run detection end to end: read a log with an engine, score, write accounts/campaigns and a summary.

Outputs in ``out_dir`` (DESIGN.md's format, exactly):
- ``accounts.jsonl``: ``{account, score, flagged, campaign, reasons}`` per account;
- ``campaigns.jsonl``: ``{campaign, accounts, evidence}`` per flagged campaign;
- ``summary.md``: a readable summary; ``errors.txt``: malformed lines, if any.

This module orchestrates; it must not hold detection logic of its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.detect.benchmarks import PublicQuestions, note_public, public_exchanges, public_summary
from distillscope.detect.scoring import FLAG_THRESHOLD, Scored, score
from distillscope.detect.tables import FeatureTables
from distillscope.records import Exchange, MalformedLine, OnError, write_jsonl


@dataclass
class DetectionResult:
    """What a detection run found and where it wrote it."""

    out_dir: Path
    exchanges: int
    accounts: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    errors: list[MalformedLine] = field(default_factory=list)
    engine: str = "duckdb"
    groups: list[dict[str, Any]] = field(default_factory=list)
    tables: FeatureTables | None = field(default=None, repr=False)  # what the engine extracted
    #: The registered public benchmarks used (None without): benchmarks, questions, exchanges left out.
    public: dict[str, Any] | None = None

    @property
    def flagged(self) -> list[str]:
        return [a["account"] for a in self.accounts if a["flagged"]]

    def scores(self) -> dict[str, float]:
        return {a["account"]: a["score"] for a in self.accounts}


def extract(
    source: str | os.PathLike[str],
    engine: str = "duckdb",
    on_error: OnError | str = "skip",
    spark_master: str = "local[2]",
    spark: Any = None,
    threads: int | None = None,
    public: Any = None,
) -> FeatureTables:
    """Feature tables of a log from the chosen engine (``public``: exchanges left out of the features)."""
    if engine == "duckdb":
        from distillscope.detect.engines.duckdb_engine import extract as duck

        return duck(source, on_error=on_error, threads=threads, public=public)  # type: ignore[arg-type]
    if engine == "spark":
        from distillscope.detect.engines.spark_engine import extract as sparkx

        return sparkx(source, on_error=on_error, master=spark_master, spark=spark, public=public)  # type: ignore[arg-type]
    raise ValueError(f"unknown engine {engine!r}; use 'duckdb' or 'spark'")


def export_store(db_url: str, directory: str | os.PathLike[str], chunk: int = 200_000) -> Path:
    """Copy a guard log store (sqlite/postgres) to Parquet parts the engines can read."""
    from distillscope.logs import open_log
    from distillscope.records import write_parquet

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    store = open_log(db_url)
    try:
        batch: list[Exchange] = []
        part = 0
        for exchange in store:
            batch.append(exchange)
            if len(batch) >= chunk:
                write_parquet(batch, out / f"part-{part:05d}.parquet")
                part, batch = part + 1, []
        if batch or part == 0:
            write_parquet(batch, out / f"part-{part:05d}.parquet")
    finally:
        store.close()
    return out


def run_detection(
    source: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    engine: str = "duckdb",
    *,
    db_url: str | None = None,
    on_error: OnError | str = "skip",
    threshold: float = FLAG_THRESHOLD,
    spark_master: str = "local[2]",
    spark: Any = None,
    threads: int | None = None,
    embeddings: bool = False,
    public_questions: PublicQuestions | None = None,
) -> DetectionResult:
    """Detect distillation in a log file (JSONL/Parquet) or a guard database; write the outputs.

    ``source`` may itself be a log store URL (``logs.open_log`` tells them apart).
    ``public_questions``: registered public benchmarks (``detect.benchmarks.load_public_questions``);
    the exchanges that ask their questions count as no harvest evidence (left out of the features).
    """
    from distillscope.logs import is_store_url

    if source is not None and db_url is None and is_store_url(source):
        source, db_url = None, str(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="distillscope-detect-") as tmp:
        if db_url is not None:
            source = export_store(db_url, Path(tmp) / "store")
        if source is None:
            raise ValueError("give a log file or a database URL")
        match = None
        if public_questions is not None and not _is_empty(source):
            match = public_exchanges(source, public_questions.keys)
        tables = (
            _empty_tables(str(source), engine)
            if _is_empty(source)
            else extract(
                source, engine, on_error, spark_master, spark, threads, match.rows if match else None
            )
        )
    dispersion, centroids = None, None
    if embeddings and tables.accounts:
        from distillscope.detect.embeddings import account_embeddings
        from distillscope.detect.signals import samples_by_account

        dispersion, centroids = account_embeddings(samples_by_account(tables))
    scored = score(tables, threshold=threshold, embed_cov=dispersion, vectors=centroids)
    if match is not None:
        scored.accounts = note_public(scored.accounts, match)
    result = DetectionResult(
        out, tables.exchanges, scored.accounts, scored.campaigns, tables.errors, engine, scored.groups, tables
    )
    if public_questions is not None:
        result.public = public_summary(public_questions, match)
    write_outputs(result, scored)
    return result


def _is_empty(source: str | os.PathLike[str]) -> bool:
    path = Path(source)
    return path.is_file() and path.suffix != ".parquet" and not path.read_bytes()[:65536].strip()


def _empty_tables(source: str, engine: str) -> FeatureTables:
    import pandas as pd

    from distillscope.detect.tables import FRAMES

    frames = {name: pd.DataFrame(columns=list(cols or ["account", "n"])) for name, cols in FRAMES.items()}
    return FeatureTables(frames=frames, exchanges=0, source=source, engine=engine)


def write_outputs(result: DetectionResult, scored: Scored) -> None:
    from distillscope.detect.summary import summary_markdown

    write_jsonl(result.accounts, result.out_dir / "accounts.jsonl")
    write_jsonl(result.campaigns, result.out_dir / "campaigns.jsonl")
    (result.out_dir / "summary.md").write_text(summary_markdown(result), encoding="utf-8")
    errors_path = result.out_dir / "errors.txt"
    if result.errors:
        errors_path.write_text("".join(f"{e}\n" for e in result.errors), encoding="utf-8")
    elif errors_path.exists():
        errors_path.unlink()


def flagged_accounts(records: Iterable[dict[str, Any]]) -> list[str]:
    return [r["account"] for r in records if r.get("flagged")]
