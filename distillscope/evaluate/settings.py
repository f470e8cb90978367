"""Settings of one evaluation (:func:`distillscope.evaluate.run.evaluate_student`), each with its help.

The ``distillscope evaluate`` options are generated from these fields. This
module must not import torch or load models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.config import EMBEDDED_TEACHER
from distillscope.train import TrainSettings

DEFAULT_PROMPTS = "reasoning_gym:basic_arithmetic,gsm_symbolic,leg_counting,word_sorting,spell_backward"
TEACHER_HELP = "Embedded teacher name, a local HF directory, or an OpenAI-compatible URL (text-only metrics)."


@dataclass
class EvalSettings:
    """How a student is measured against its teacher: held-out prompts, tasks, identity, cost."""

    teacher: Any = field(
        default=EMBEDDED_TEACHER,
        metadata={"flags": ("--teacher", "-t"), "cli_type": str, "help": TEACHER_HELP},
    )  # in Python also a teacher object (``evaluate.make_teacher``), reused across students
    teacher_model: str | None = field(default=None, metadata={"help": "Model name to ask a URL teacher for."})
    teacher_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Env var holding a URL teacher's API key (read by the command line)."},
    )
    teacher_api_key: str | None = field(default=None, metadata={"cli": False})  # Python: the key itself
    prompts: Any = field(
        default=DEFAULT_PROMPTS,
        metadata={
            "cli_type": str,
            "help": "Held-out prompts: reasoning_gym:TASK[,TASK], a .txt file (one a line) or an exchanges "
            "file.",
        },
    )  # in Python also a list of conversations
    n: int = field(default=32, metadata={"help": "Number of held-out prompts."})
    seed: int = field(
        default=777, metadata={"help": "Seed of generated prompts (keep it apart from training seeds)."}
    )
    max_new_tokens: int = field(default=48, metadata={"help": "Greedy answer length for fidelity."})
    tasks: Sequence[str] | str = field(
        default="basic_arithmetic",
        metadata={"cli_type": str, "help": "reasoning-gym tasks for accuracy, comma-separated ('' to skip)."},
    )
    task_size: int = field(default=16, metadata={"help": "Items per task."})
    task_seed: int = field(default=2024, metadata={"help": "Seed of the task items."})
    task_max_new_tokens: int = field(default=64, metadata={"help": "Answer length for task accuracy."})
    identity: bool = field(
        default=True,
        metadata={
            "flags": ("--identity/--no-identity",),
            "help": "Ask both models who they are and who trained them.",
        },
    )
    dataset: Path | None = field(
        default=None, metadata={"help": "Training dataset (cost, and prompts to hold out)."}
    )
    reference_cache: Path | None = field(
        default=None, metadata={"help": "JSON file caching the teacher's greedy answers."}
    )

    def __post_init__(self) -> None:
        if isinstance(self.tasks, str):
            self.tasks = tuple(t.strip() for t in self.tasks.split(",") if t.strip())
        self.tasks = tuple(self.tasks)
        for name in ("n", "max_new_tokens", "task_size", "task_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.dataset is not None:
            self.dataset = Path(self.dataset)
        if self.reference_cache is not None:
            self.reference_cache = Path(self.reference_cache)


@dataclass
class EvaluateCommand:
    """The ``distillscope evaluate`` command line: a student, where to write, and the evaluation."""

    student: str = field(
        metadata={"flags": ("--student", "-s"), "help": "Student: a local Hugging Face directory."}
    )
    out: Path | None = field(
        default=None,
        metadata={"flags": ("--out", "-o"), "help": "Write the JSON result here (also printed)."},
    )
    settings: EvalSettings = field(default_factory=EvalSettings, metadata={"options_from": EvalSettings})


#: The training settings a curve's command line can set (the rest keep their defaults).
CURVE_TRAIN_OPTIONS = (
    "method", "teacher", "student", "student_layers", "max_steps", "epochs", "learning_rate",
    "price_model", "teacher_url", "sample_tokens", "sample_temperature", "divergence", "alpha", "score_top_k",
    "batch_size", "max_seq_len", "threads", "verify", "target_temperature",
)  # fmt: skip


@dataclass
class CurveCommand:
    """The ``distillscope curve`` command line: datasets, budgets, seeds, how students are trained
    (``train``; its ``teacher`` is also the teacher fidelity is measured against) and scored."""

    datasets: list[str] = field(
        metadata={
            "argument": True,
            "metavar": "[LABEL=]PATH",
            "help": "Datasets, one per strategy (label=PATH names it).",
        }
    )
    out: Path = field(
        metadata={"flags": ("--out", "-o"), "help": "Directory for students, curve.json and curve.png."}
    )
    budgets: str = field(
        default="50,100,200,400", metadata={"help": "Exchanges per student (first N by harvest time)."}
    )
    methods: str | None = field(
        default=None,
        metadata={
            "help": "Compare methods as arms, e.g. sft,topk-kd,on-policy: an on-policy point spends what its "
            "N exchanges cost on scoring its own samples (equal dollars); gkd buys half the answers and "
            "spends the rest on scoring, loss alpha * divergence + (1 - alpha) * SFT; warm-gkd does the "
            "same after an SFT warm-up on those answers and replays each paid scored batch --epochs "
            "times; all need "
            "--price-model for a local teacher."
        },
    )
    metric: str = field(default="agreement", metadata={"help": "Plotted score: agreement or kl."})
    untrained: bool = field(
        default=True,
        metadata={
            "flags": ("--untrained/--no-untrained",),
            "help": "Score the untrained student at budget 0 (--no-untrained: leave it out, e.g. in one "
            "of several processes that share --out).",
        },
    )
    tasks: str = field(
        default="",
        metadata={
            "help": "Retention: reasoning-gym task specs (comma-separated; name:key=value for settings) "
            "scored for every student, as a share of the teacher's accuracy on the same items."
        },
    )
    task_size: int = field(default=16, metadata={"help": "Retention: items per task (seed 2024)."})
    task_max_new_tokens: int = field(default=48, metadata={"help": "Retention: answer length."})
    prompts: str | None = field(default=None, metadata={"help": "Held-out prompts (as for evaluate)."})
    n: int = field(default=32, metadata={"help": "Number of held-out prompts."})
    max_new_tokens: int = field(default=48, metadata={"help": "Greedy answer length for fidelity."})
    seeds: str = field(
        default="0",
        metadata={
            "help": "Train every point once per seed (e.g. 0,1,2) and report mean ± sd: seed 0 takes the "
            "first N exchanges, other seeds a random N (an active arm keeps its order; only training varies)."
        },
    )
    train: TrainSettings = field(
        default_factory=TrainSettings, metadata={"options_from": TrainSettings, "only": CURVE_TRAIN_OPTIONS}
    )
