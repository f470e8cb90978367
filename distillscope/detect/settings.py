"""Settings of one detection run and of one simulated log, each field with its help.

``distillscope detect`` and ``distillscope simulate-traffic`` are generated from
these fields (``clitools.settings_options``); the settings check themselves, so
Python callers and the command line refuse the same things with the same words.
This module must not import DuckDB, Spark or the scoring code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The default flag threshold: score 0.5 is p <= 1e-3 (score = -log10(p) / 6).
FLAG_THRESHOLD = 0.5
ENGINES = ("duckdb", "spark")
DESIGNS = ("classic", "randomized")


@dataclass
class DetectSettings:
    """Where the log is, which engine reads it, and where the flag threshold lies."""

    logs: Path | None = field(
        default=None,
        metadata={
            "argument": True,
            "help": "Exchange log: JSONL, Parquet, a folder of Parquet files, or a log store URL.",
        },
    )
    out: Path | None = field(
        default=None,
        metadata={
            "flags": ("--out", "-o"),
            "required": True,
            "help": "Directory for accounts.jsonl, campaigns.jsonl, summary.md.",
        },
    )
    db: str | None = field(
        default=None, metadata={"help": "Read the server's log store instead (sqlite path or URL)."}
    )
    engine: str = field(default="duckdb", metadata={"help": "duckdb (embedded, default) or spark."})
    spark_master: str = field(default="local[2]", metadata={"help": "Spark master URL for --engine spark."})
    on_error: str = field(
        default="skip", metadata={"help": "Malformed log lines: skip (report and go on) or stop."}
    )
    threshold: float | None = field(
        default=None,
        metadata={
            "min": 0.0,
            "max": 1.0,
            "help": "Flag accounts and campaigns at this score (default 0.5: p <= 1e-3; "
            "score = -log10(p) / 6).",
        },
    )
    target_fpr: float | None = field(
        default=None,
        metadata={
            "min": 1e-9,
            "max": 0.5,
            "help": "Instead of --threshold: flag at p <= this false-positive rate (valid when the log's "
            "tails are calibrated; measured rates are in docs/detect.md).",
        },
    )
    threads: int | None = field(
        default=None, metadata={"min": 1, "help": "DuckDB threads (default: all cores)."}
    )
    embeddings: bool = field(
        default=False,
        metadata={
            "flags": ("--embeddings/--no-embeddings",),
            "help": "Add MiniLM topic dispersion and topic similarity (cached; slower on big logs).",
        },
    )
    benchmarks: list[Path] | None = field(
        default=None,
        metadata={
            "help": "A public benchmark file (as `guard benchmarks add` reads: JSONL or text) or a folder of "
            "them; repeatable. Exchanges asking its questions (keyed as the guard keys them) are no harvest "
            "evidence: left out of every feature, kept in the log.",
            "metavar": "FILE",
        },
    )
    guard_db: str | None = field(
        default=None,
        metadata={
            "help": "Also use the public benchmarks registered in this guard database (SQLite path or "
            "postgresql:// URL; `guard benchmarks add`).",
            "metavar": "DB",
        },
    )

    def __post_init__(self) -> None:
        if self.threshold is not None and self.target_fpr is not None:
            raise ValueError("give --threshold or --target-fpr, not both")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; use duckdb or spark")
        if self.on_error not in ("skip", "stop"):
            raise ValueError(f"--on-error must be skip or stop, not {self.on_error!r}")
        if (self.logs is None) == (self.db is None):
            raise ValueError("give exactly one source: a LOGS file or --db URL")
        if self.out is None:
            raise ValueError("give --out, the directory for the outputs")

    def run(self) -> Any:
        """Run the detection these settings describe; returns the :class:`DetectionResult`."""
        from distillscope.detect.run import run_detection

        public = self.public_questions()  # read first: a bad benchmark file writes nothing
        return run_detection(
            self.logs,
            self.out,  # type: ignore[arg-type]  # checked in __post_init__
            self.engine,
            db_url=self.db,
            on_error="raise" if self.on_error == "stop" else "skip",
            threshold=self.flag_threshold,
            spark_master=self.spark_master,
            threads=self.threads,
            embeddings=self.embeddings,
            public_questions=public,
        )

    def public_questions(self) -> Any:
        """The registered public benchmarks asked for (a ``PublicQuestions``), or None."""
        if not self.benchmarks and self.guard_db is None:
            return None
        from distillscope.detect.benchmarks import load_public_questions

        return load_public_questions(self.benchmarks or [], self.guard_db)

    @property
    def flag_threshold(self) -> float:
        """The score threshold in force: ``threshold``, the one ``target_fpr`` implies, or the default."""
        from distillscope.detect.calibrate import threshold_for_fpr

        if self.target_fpr is not None:
            return threshold_for_fpr(self.target_fpr)
        return FLAG_THRESHOLD if self.threshold is None else self.threshold


@dataclass
class SimulateSettings:
    """Which simulator writes a labelled log, how big, and with which campaigns and hard negatives."""

    out: Path = field(
        metadata={
            "flags": ("--out", "-o"),
            "help": "Directory for exchanges.{jsonl,parquet} and labels.jsonl.",
        }
    )
    design: str = field(
        default="classic",
        metadata={
            "help": "classic (the simulator the detector was first written with) or randomized (a second, "
            "independent design: every scenario draws its own rates, volumes, languages, phrasings, timing, "
            "infrastructure and answer lengths; ten campaign styles, eight kinds of hard negatives)."
        },
    )
    benign_users: int = field(default=300, metadata={"min": 0, "help": "Ordinary users with human timing."})
    days: int | None = field(
        default=None,
        metadata={
            "min": 1,
            "max": 365,
            "help": "Days of traffic (default: 7 for classic, drawn 5-14 for randomized).",
        },
    )
    seed: int = field(
        default=0, metadata={"help": "Random seed (randomized: the whole scenario is drawn from it)."}
    )
    scale: float = field(
        default=1.0,
        metadata={"min": 0.01, "help": "Multiply campaign (and, classic, hard-negative) sizes."},
    )
    fmt: str = field(default="jsonl", metadata={"flags": ("--format",), "help": "jsonl or parquet."})
    campaigns: str = field(
        default="all", metadata={"help": "Comma-separated campaign styles, 'all' or 'none'."}
    )
    hard_negatives: bool = field(
        default=True,
        metadata={"flags": ("--hard-negatives/--no-hard-negatives",), "help": "Include the hard negatives."},
    )

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"--design must be classic or randomized, not {self.design!r}")
        unknown = sorted(set(self.styles) - set(self._catalogue()[0]))
        if unknown:
            raise ValueError(
                f"unknown styles: {', '.join(unknown)} for --design {self.design}; "
                f"choose from {', '.join(self._catalogue()[0])}"
            )

    def _catalogue(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        import distillscope.simulate as sim

        if self.design == "classic":
            return tuple(sim.CLASSIC_CAMPAIGN_STYLES), tuple(sim.CLASSIC_HARD_NEGATIVES)
        return tuple(sim.CAMPAIGN_STYLES), tuple(sim.HARD_NEGATIVES)

    @property
    def styles(self) -> tuple[str, ...]:
        """The campaign styles asked for."""
        if self.campaigns == "all":
            return self._catalogue()[0]
        if self.campaigns == "none":
            return ()
        return tuple(s.strip() for s in self.campaigns.split(",") if s.strip())

    @property
    def negatives(self) -> tuple[str, ...]:
        """The hard-negative groups asked for."""
        return self._catalogue()[1] if self.hard_negatives else ()

    def simulate(self) -> Any:
        """Write the log; returns the simulator's result (``exchanges``, ``accounts``, paths)."""
        if self.design == "classic":
            from distillscope.simulate import simulate_traffic

            return simulate_traffic(
                self.out,
                benign_users=self.benign_users,
                days=self.days or 7,
                seed=self.seed,
                scale=self.scale,
                fmt=self.fmt,
                campaigns=self.styles,
                hard_negatives=self.negatives,
            )
        from distillscope.simulate import simulate_randomized

        return simulate_randomized(
            self.out,
            seed=self.seed,
            benign=self.benign_users,
            days=self.days,
            campaign_scale=self.scale,
            fmt=self.fmt,
            campaigns=self.styles,
            hard_negatives=self.negatives,
        )
