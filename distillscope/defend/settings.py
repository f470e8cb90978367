"""Settings of the utility-vs-distillability frontier, and the grammar of its condition names.

:class:`FrontierSettings` is what ``distillscope defend evaluate`` runs with (its
options are generated from these fields; each field's help is the option's help).
:func:`parse_condition` turns a condition name such as ``watermark-2`` or
``maxtop-1+hidetail`` into the ``ServeSettings`` options that serve it and the
training methods a distiller would use on its answers.

This module must not import torch or start anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.models import EMBEDDED_TEACHER

#: part name -> (ServeSettings field, value type, changes the text?)
PARTS: dict[str, tuple[str, type, bool]] = {
    "antidistill": ("antidistill_lambda", float, True),
    "watermark": ("watermark_delta", float, True),
    "noise": ("logprob_noise", float, False),
    "round": ("logprob_round", int, False),
    "maxtop": ("logprob_max_top", int, False),
}
FLAGS: dict[str, str] = {"hidetail": "logprob_hide_tail"}

DEFAULT_CONDITIONS = (
    "reference,"
    "antidistill-0.5,antidistill-1,antidistill-2,antidistill-3,"
    "watermark-1,watermark-2,watermark-3,watermark-4,"
    "noise-0.5,noise-1,noise-2,noise-4,"
    "maxtop-1+hidetail"
)
TASK = "chain_sum:min_terms=2:max_terms=2:max_digits=1"


@dataclass(frozen=True)
class Condition:
    """One served configuration: its name, kind, ``ServeSettings`` options and training methods."""

    name: str
    kind: str  # reference | antidistill | watermark | logprobs | combined
    options: dict[str, Any]
    methods: tuple[str, ...]

    @property
    def changes_text(self) -> bool:
        return any(PARTS[p][2] for p in PARTS if PARTS[p][0] in self.options)


def parse_condition(name: str) -> Condition:
    """``reference``, or parts joined by ``+``: ``antidistill-L``, ``watermark-D``, ``noise-SD``,
    ``round-D``, ``maxtop-K``, ``hidetail``. Raises ``ValueError`` naming what is wrong."""
    name = name.strip()
    if name == "reference":
        return Condition(name, "reference", {}, ("sft", "topk-kd"))
    options: dict[str, Any] = {}
    kinds: set[str] = set()
    for part in name.split("+"):
        if part in FLAGS:
            options[FLAGS[part]] = True
            kinds.add("logprobs")
            continue
        head, _, value = part.rpartition("-")
        if head not in PARTS:
            known = ", ".join([*(f"{p}-<value>" for p in PARTS), *FLAGS, "reference"])
            raise ValueError(f"unknown condition part {part!r} in {name!r}; use {known}")
        option, cast, changes_text = PARTS[head]
        try:
            number = cast(value)
        except ValueError:
            raise ValueError(f"condition {name!r}: {value!r} is not a valid {cast.__name__}") from None
        if number < 0 or (head in ("antidistill", "watermark", "noise", "maxtop") and number == 0):
            raise ValueError(f"condition {name!r}: the strength must be > 0 (use 'reference' for none)")
        options[option] = number
        kinds.add(head if changes_text else "logprobs")
    kind = kinds.pop() if len(kinds) == 1 else "combined"
    text = any(PARTS[p][0] in options for p in PARTS if PARTS[p][2])
    logprobs = (
        any(not PARTS[p][2] and PARTS[p][0] in options for p in PARTS) or "logprob_hide_tail" in options
    )
    # A distiller uses the text (SFT) when the text changed, and the log-probs (top-k KD) when they did;
    # SFT on unchanged text is the reference's SFT run (the frontier checks the text is the same).
    methods = tuple(m for m, used in (("sft", text), ("topk-kd", logprobs)) if used)
    return Condition(name, kind, options, methods)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass
class FrontierSettings:
    """The ``distillscope defend evaluate`` command line: conditions, seeds, data sizes, the student."""

    out: Path = field(
        metadata={
            "flags": ("--out", "-o"),
            "help": "Work directory: every answer, score and utility is cached here, so a stopped run "
            "resumes where it stopped (a different experiment in the same directory is refused).",
        }
    )
    conditions: str = field(
        default=DEFAULT_CONDITIONS,
        metadata={
            "help": "Comma-separated conditions: 'reference' (always included), or parts joined by '+': "
            "antidistill-L (antidistillation lambda), watermark-D (watermark delta), noise-SD (log-prob "
            "noise, nats), round-D (log-probs rounded to D decimals), maxtop-K (top_logprobs cap), "
            "hidetail (tail mass hidden). E.g. watermark-2,noise-1,maxtop-1+hidetail."
        },
    )
    seeds: str = field(
        default="0,1,2",
        metadata={"help": "Training seeds: every student is trained once per seed (mean ± sd over them)."},
    )
    report_only: bool = field(
        default=False,
        metadata={
            "flags": ("--report-only",),
            "help": "Compute nothing: rebuild frontier.json/.png/.md from what --out holds.",
        },
    )
    report_dir: Path | None = field(
        default=None,
        metadata={"help": "Where frontier.json, frontier.png and frontier.md go (default: --out)."},
    )
    teacher: str = field(
        default=EMBEDDED_TEACHER,
        metadata={
            "help": "The teacher served with each countermeasure: the embedded one or a model directory."
        },
    )
    task: str = field(
        default=TASK,
        metadata={"help": "reasoning-gym task (with options) the teacher can do: prompts and scoring."},
    )
    n: int = field(default=64, metadata={"help": "Training prompts: answers per condition.", "min": 1})
    eval_n: int = field(default=24, metadata={"help": "Held-out prompts and task items.", "min": 1})
    max_tokens: int = field(default=32, metadata={"help": "Tokens per teacher answer.", "min": 1})
    temperature: float = field(default=0.7, metadata={"help": "Teacher sampling temperature.", "min": 0.0})
    top_logprobs: int = field(
        default=5, metadata={"help": "top_logprobs asked for with every answer.", "min": 0, "max": 20}
    )
    student_layers: str = field(
        default="spread:6", metadata={"help": "Layers of the teacher each student keeps (as for train)."}
    )
    epochs: float = field(default=3.0, metadata={"help": "Training epochs per student.", "min": 0.0})
    learning_rate: float = field(default=2e-4, metadata={"flags": ("--lr",), "help": "Learning rate."})
    batch_size: int = field(default=8, metadata={"help": "Training batch size.", "min": 1})
    antidistill_proxy: str = field(
        default="spread:4", metadata={"help": "Antidistillation proxy (as for serve --antidistill-proxy)."}
    )
    watermark_gamma: float = field(default=0.25, metadata={"help": "Watermark green-list fraction."})
    threads: int = field(
        default=1, metadata={"help": "torch threads (keep 1 on a shared machine).", "min": 1}
    )
    keep_students: bool = field(
        default=False,
        metadata={
            "flags": ("--keep-students/--no-keep-students",),
            "help": "Keep each trained student's weights under --out/students (default: deleted once "
            "scored).",
        },
    )

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.report_dir is not None:
            self.report_dir = Path(self.report_dir)
        names = _split(self.conditions)
        if not names:
            raise ValueError("--conditions names no condition")
        self.condition_list = [parse_condition(n) for n in dict.fromkeys(["reference", *names])]
        try:
            self.seed_list = [int(s) for s in _split(self.seeds)]
        except ValueError:
            raise ValueError(f"--seeds must be integers separated by commas, got {self.seeds!r}") from None
        if not self.seed_list:
            raise ValueError("--seeds names no seed")

    def experiment(self) -> dict[str, Any]:
        """The settings every cached result depends on (a resumed run must match them)."""
        keys = (
            "teacher", "task", "n", "eval_n", "max_tokens", "temperature", "top_logprobs", "student_layers",
            "epochs", "learning_rate", "batch_size", "antidistill_proxy", "watermark_gamma",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keys}
