"""Sizes of a demo run: three presets (quick, default, full) and explicit overrides.

The default preset is sized for at most six minutes on two idle CPU cores with the
embedded SmolLM2 teacher (timed in docs/demo.md; a busy machine is slower);
``--full`` is the long exercise (a bigger world, a longer harvest, a second
student trained on the log-probs, the radioactivity test and the identity
probe); ``--quick`` is a smoke test with
tiny budgets (CI runs it) whose numbers show the plumbing, not a finding.

This module only validates settings; it must not import heavy libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

#: Price assumed for the harvested tokens (USD per 1M tokens): gpt-4o-mini's list price, so that
#: "dollars" mean what the same harvest would cost against a typical hosted model.
ASSUMED_PRICE = {"input": 0.15, "output": 0.60, "as": "gpt-4o-mini list price"}

#: The task the attacker distils and the student is measured on: reasoning-gym's ``chain_sum``
#: with two one-digit terms, which the embedded SmolLM2 answers right about 40% of the time
#: (measured on 12 items, 2026-12-06). A task the teacher cannot do would make "retention"
#: meaningless; the run measures the teacher's own score on its held-out items every time.
TASK = "chain_sum"
TASK_CONFIG = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}

MODES = ("quick", "default", "full")

# fmt: off
PRESETS: dict[str, dict[str, int]] = {
    # world: simulated day; live: the attackers' harvest and the benign accounts still at work
    "quick":   {"benign_users": 12, "days": 1, "live_hydra": 2, "extractor_queries": 6,
                "extractor_playbook": 3, "hydra_queries": 3, "hydra_playbook": 1, "live_benign": 4,
                "max_new_tokens": 32, "train_steps": 3, "task_size": 6, "kd_student": 0,
                "radioactivity": 0, "identity": 0},
    "default": {"benign_users": 600, "days": 14, "live_hydra": 2, "extractor_queries": 24,
                "extractor_playbook": 24, "hydra_queries": 24, "hydra_playbook": 8, "live_benign": 8,
                "max_new_tokens": 64, "train_steps": 16, "task_size": 16, "kd_student": 0,
                "radioactivity": 0, "identity": 0},
    "full":    {"benign_users": 600, "days": 14, "live_hydra": 8, "extractor_queries": 160,
                "extractor_playbook": 80, "hydra_queries": 20, "hydra_playbook": 10, "live_benign": 12,
                "max_new_tokens": 96, "train_steps": 200, "task_size": 48, "kd_student": 1,
                "radioactivity": 1, "identity": 1},
}
# fmt: on

#: Planned seconds per stage on two idle cores (the progress display's ETA; scaled by how the
#: finished stages went against plan).
PLANNED_SECONDS: dict[str, dict[str, float]] = {
    "quick": {"world": 8, "history": 4, "backtest": 4, "live": 45, "detect": 8, "attribution": 4,
              "student": 40, "frontier": 4, "radioactivity": 0, "identity": 0, "share": 2, "report": 4},
    # measured: a clean clone's demo on this 2-core box, 2026-12-07 06:12 UTC (stages 12 min 49 s);
    # the board scales it by the pace of the stages done
    "default": {"world": 12, "history": 6, "backtest": 15, "live": 246, "detect": 19, "attribution": 116,
                "student": 286, "frontier": 45, "radioactivity": 0, "identity": 0, "share": 24, "report": 1},
    "full": {"world": 40, "history": 20, "backtest": 30, "live": 600, "detect": 30, "attribution": 15,
             "student": 1500, "frontier": 30, "radioactivity": 120, "identity": 60, "share": 4, "report": 8},
}  # fmt: skip


@dataclass
class DemoSettings:
    """Sizes of a demo run. ``mode`` picks a preset; explicit values win over it.

    Every field with a ``help`` is an option of ``distillscope demo`` (``clitools.settings_options``).
    """

    out: Path | None = field(default=None, metadata={"help": "Run directory (default: runs/<timestamp>)."})
    quick: bool = field(
        default=False,
        metadata={"flags": ("--quick",), "help": "Smoke test with tiny budgets (numbers show plumbing)."},
    )
    full: bool = field(
        default=False,
        metadata={
            "flags": ("--full",),
            "help": "The long exercise: bigger world and harvest, a top-k KD student, radioactivity and "
            "identity probes (about an hour on 2 cores).",
        },
    )
    model: str | None = field(
        default=None, metadata={"help": "Local teacher: embedded SmolLM2 or a HF directory."}
    )
    teacher_url: str | None = field(
        default=None,
        metadata={"help": "Put an OpenAI-compatible teacher behind the gateway instead."},
    )
    teacher_model: str | None = field(default=None, metadata={"help": "Model id at --teacher-url."})
    teacher_key_env: str | None = field(default=None, metadata={"help": "Env var with its API key."})
    benign_users: int | None = field(
        default=None,
        metadata={"help": "Ordinary users in the simulated world (hard negatives come on top)."},
    )
    days: int | None = field(
        default=None,
        metadata={"help": "Days of simulated history before the live window (0: the simulator draws)."},
    )
    live_hydra: int | None = field(default=None, metadata={"help": "Hydra accounts that harvest live."})
    extractor_queries: int | None = field(
        default=None, metadata={"help": "Live queries of the solo heavy extractor."}
    )
    extractor_playbook: int | None = field(
        default=None,
        metadata={
            "help": "Further live queries of the extractor: prompts of the kinds its own log shows "
            "(0: the task only)."
        },
    )
    hydra_queries: int | None = field(default=None, metadata={"help": "Live queries per live hydra account."})
    hydra_playbook: int | None = field(
        default=None,
        metadata={"help": "Further live queries per hydra account: prompts of the kinds its log shows."},
    )
    live_benign: int | None = field(
        default=None, metadata={"help": "Benign accounts still at work in the live window."}
    )
    max_new_tokens: int | None = field(default=None, metadata={"help": "Tokens per live answer."})
    top_logprobs: int = field(
        default=5, metadata={"help": "top_logprobs the extractor asks for (0: text only)."}
    )
    train_steps: int | None = field(
        default=None, metadata={"help": "Training steps of the attacker's student."}
    )
    task_size: int | None = field(
        default=None, metadata={"help": "Held-out task items for fidelity and task score."}
    )
    kd_student: int | None = field(  # 1: also train a top-k KD student on the returned log-probs
        default=None, metadata={"cli": False}
    )
    radioactivity: int | None = field(  # 1: test the trained student for the watermark
        default=None, metadata={"cli": False}
    )
    identity: int | None = field(  # 1: ask the student and the teacher who trained them
        default=None, metadata={"cli": False}
    )
    threads: int | None = field(
        default=None,
        metadata={
            "help": "Torch threads for generation, training and evaluation (default: 1 on a busy "
            "machine, else every core)."
        },
    )
    # 15 of 30 layers, chosen by measured redundancy (docs/train.md)
    student_layers: str = field(default="auto:15", metadata={"cli": False})
    screenshot: Path | None = field(
        default=None, metadata={"help": "Also save a PNG of the report's top (needs chromium)."}
    )
    frontier: Path | None = field(
        default=None,
        metadata={
            "help": "frontier.json written by `distillscope defend evaluate`, shown in the report as "
            "measured there (default: the repository's docs/evidence/defend/frontier.json)."
        },
    )
    scenarios: Path | None = field(
        default=None,
        metadata={
            "help": "Radioactivity scenarios measured by bench/radioactivity.py (a scenarios.json, or a "
            "folder of radioactivity-*.json), shown in the report as measured there (default: the "
            "repository's docs/evidence/watermark)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the simulated world and the harvest."})

    def __post_init__(self) -> None:
        if self.quick and self.full:
            raise ValueError("choose --quick or --full, not both")
        for name, value in PRESETS[self.mode].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for name in PRESETS["default"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            optional = (
                "days",
                "kd_student",
                "radioactivity",
                "identity",
                "extractor_playbook",
                "hydra_playbook",
            )
            low = 0 if name in optional else 1
            if value < low:
                raise ValueError(f"{name} must be at least {low}")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be within 0..20")
        if self.teacher_url is not None and not self.teacher_url.startswith(("http://", "https://")):
            raise ValueError("--teacher-url must be an http(s) base URL")
        if self.threads is not None and (isinstance(self.threads, bool) or int(self.threads) < 1):
            raise ValueError("threads must be at least 1")
        if self.out is not None:
            self.out = Path(self.out)
        if self.frontier is not None:
            self.frontier = Path(self.frontier)
        if self.scenarios is not None:
            self.scenarios = Path(self.scenarios)

    def torch_threads(self, cpus: int | None, load: float | None) -> int:
        """The torch thread count: as set, else one thread on a busy machine (other work keeping
        half the cores or more busy, ``load`` in cores: intra-op threads then wait on each other;
        measured 8x slower generation with 2 threads than with 1 at load 7 on 2 cores), else every
        core (at most 8)."""
        if self.threads is not None:
            return int(self.threads)
        cpus = max(1, cpus or 1)
        if load is not None and load >= cpus / 2:
            return 1
        return min(8, cpus)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full" if self.full else "default"

    def sizes(self) -> dict[str, int]:
        """The resolved sizes, for the report."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in PRESETS["default"]}
