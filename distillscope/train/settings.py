"""Training settings: one validated dataclass shared by the CLI, the Python API and active querying.

Defaults train the demo's student (a 15-layer copy of SmolLM2-135M) on a few
hundred exchanges in minutes on a CPU. This module must not import torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from distillscope.config import EMBEDDED_TEACHER, StudentSpec

Method = Literal["sft", "topk-kd", "mixed", "on-policy"]
METHODS = ("sft", "topk-kd", "mixed", "on-policy")
DIVERGENCES = ("forward-kl", "reverse-kl", "jsd")


@dataclass
class TrainSettings:
    """Everything one training run needs. ``dataset``: a harvest output dir, .parquet or .jsonl.

    Each field's help is the ``distillscope train`` option's help (the command's
    options are generated from these fields)."""

    dataset: Path | None = field(
        default=None,
        metadata={
            "argument": True,
            "required": True,
            "help": "Harvest output dir, or a .parquet/.jsonl exchanges file.",
        },
    )
    out: Path | None = field(
        default=None,
        metadata={
            "flags": ("--out", "-o"),
            "required": True,
            "help": "Directory for the student (Hugging Face format).",
        },
    )
    method: str = field(
        default="sft",
        metadata={
            "help": "sft (sequence KD) | topk-kd (API top_logprobs) | mixed | on-policy (the student "
            "samples, the teacher scores its samples through /v1/completions with echo + logprobs)."
        },
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "mixed: weight of top-k KD; on-policy: weight of the divergence "
            "(1 - alpha: SFT on answers)."
        },
    )
    temperature: float = field(default=1.0, metadata={"help": "KD temperature (loss scaled by T^2)."})
    target_temperature: float = field(
        default=1.0,
        metadata={
            "help": "topk-kd/mixed: divide the teacher's top-k (+ tail) log-probs alone by this and "
            "renormalise (the student's logits are not); < 1 sharpens the targets towards the teacher's "
            "top token (SFT on greedy answers is the limit -> 0), 1 is plain top-k KD."
        },
    )
    renormalize: bool = field(
        default=False,
        metadata={
            "flags": ("--renormalize/--no-renormalize",),
            "help": "Renormalise over the top-k instead of a tail bucket.",
        },
    )
    teacher: str = field(
        default=EMBEDDED_TEACHER, metadata={"help": "Model the layer-subset student is cut from."}
    )
    student: str | None = field(
        default=None, metadata={"help": "Any local Hugging Face causal LM directory as the student."}
    )
    student_layers: str = field(
        default="auto",
        metadata={
            "help": "Teacher layers to keep: auto (half of them, chosen by measured redundancy on the "
            "dataset's prompts), auto:N, every-other, first:N, spread:N, 0,2,4."
        },
    )
    lora: bool = field(
        default=False,
        metadata={
            "flags": ("--lora/--no-lora",),
            "help": "Train LoRA adapters (peft) instead of all weights.",
        },
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_targets: str = field(
        default="q_proj,k_proj,v_proj,o_proj", metadata={"help": "LoRA target modules, comma-separated."}
    )
    learning_rate: float = field(
        default=5e-5, metadata={"flags": ("--lr",), "help": "Peak learning rate (AdamW, linear decay)."}
    )
    batch_size: int = field(default=8, metadata={"help": "Sequences per step."})
    grad_accum: int = field(default=1, metadata={"help": "Gradient accumulation steps."})
    max_seq_len: int = field(default=256, metadata={"help": "Prompt + answer tokens per sequence."})
    epochs: float = field(default=2.0, metadata={"help": "Passes over the data (capped by --max-steps)."})
    max_steps: int = field(default=300, metadata={"help": "Hard cap on optimizer steps."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Share of the steps spent warming up."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    seed: int = field(default=0, metadata={"help": "Seed of the data order and initialisation."})
    save_every: int = field(default=50, metadata={"help": "Checkpoint every N steps."})
    resume: bool = field(
        default=False,
        metadata={"flags": ("--resume/--no-resume",), "help": "Continue from the checkpoint in --out."},
    )
    stop_after: int | None = field(
        default=None,
        metadata={"help": "Stop (with a checkpoint) after this step; --resume goes on (train in chunks)."},
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "flags": ("--keep-checkpoints/--no-keep-checkpoints",),
            "help": "Keep the checkpoint after a finished run.",
        },
    )
    limit: int | None = field(
        default=None,
        metadata={"help": "Use only the first N exchanges (by harvest time): the budgets of a curve."},
    )
    verify: bool = field(
        default=False,
        metadata={
            "flags": ("--verify/--no-verify",),
            "help": "Train only on answers the task's own checker scores correct (exchanges harvested with "
            "the reasoning-gym strategy, which records each item's address); the dropped ones still count "
            "as paid. An exchange without an address is an error.",
        },
    )
    threads: int | None = field(
        default=None, metadata={"help": "CPU threads for torch (default: all cores, at most 8)."}
    )
    progress: bool = field(
        default=True, metadata={"flags": ("--progress/--no-progress",), "help": "Show a progress bar."}
    )
    # on-policy: the student samples, the teacher scores through /v1/completions (echo + logprobs)
    teacher_url: str | None = field(
        default=None,
        metadata={
            "help": "on-policy: the teacher's OpenAI-compatible base URL "
            "(default: serve --teacher on loopback)."
        },
    )
    teacher_model: str | None = field(
        default=None, metadata={"help": "on-policy: model name sent to --teacher-url (default: --teacher)."}
    )
    teacher_template: str | None = field(
        default=None,
        metadata={"help": "on-policy: tokenizer dir whose chat template renders prompts for a URL teacher."},
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "on-policy: env variable holding the API key."}
    )
    score_top_k: int = field(
        default=5, metadata={"help": "on-policy: logprobs k of each scoring call (OpenAI allows 5)."}
    )
    sample_tokens: int = field(default=48, metadata={"help": "on-policy: longest student sample, in tokens."})
    sample_temperature: float = field(
        default=1.0, metadata={"help": "on-policy: the student's sampling temperature."}
    )
    divergence: str = field(
        default="reverse-kl", metadata={"help": "on-policy: reverse-kl | forward-kl | jsd."}
    )
    beta: float = field(default=0.5, metadata={"help": "on-policy: the jsd mixture weight."})
    sft_answers: int | None = field(
        default=None,
        metadata={
            "help": "on-policy with alpha < 1: train SFT on the first N answers only (and pay only for "
            "those); every exchange's prompt is still sampled on-policy. Default: all answers."
        },
    )
    sft_warmup_steps: int = field(
        default=0,
        metadata={
            "help": "on-policy: the first N steps are SFT on the answers alone (no sampling, no "
            "scoring; GKD's warm start in the same run); the answers are paid for, as with alpha < 1."
        },
    )
    score_epochs: int = field(
        default=1,
        metadata={
            "help": "on-policy: passes over each paid scored batch; the first is on-policy, later ones "
            "replay the teacher's scores of the same samples (student logits recomputed), as SFT makes "
            "epochs over the answers it paid for."
        },
    )
    max_cost: float | None = field(
        default=None,
        metadata={
            "help": "on-policy: USD cap on teacher spend (answers trained on + scoring); plans the steps."
        },
    )
    price_model: str | None = field(
        default=None, metadata={"help": "on-policy: price scoring calls as this model of the table."}
    )
    prices_file: Path | None = field(
        default=None,
        metadata={
            "flags": ("--prices",),
            "help": "on-policy: price table override (JSON/TOML, USD per M tokens).",
        },
    )
    rpm: float | None = field(default=None, metadata={"help": "on-policy: teacher requests per minute."})
    scoring_cache: Path | None = field(
        default=None, metadata={"help": "on-policy: SQLite cache of scoring calls (default in --out)."}
    )
    extra: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must be within [0, 1]")
        # written as "not > 0" so that NaN is refused too (it would train a NaN student)
        if not (self.temperature > 0 and self.target_temperature > 0):
            raise ValueError("temperature and target_temperature must be > 0 (a number)")
        StudentSpec(self.student_layers)
        for name in ("batch_size", "grad_accum", "max_seq_len", "max_steps", "save_every", "lora_r"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_seq_len < 8:
            raise ValueError("max_seq_len must be >= 8")
        if self.learning_rate <= 0 or self.epochs <= 0:
            raise ValueError("learning_rate and epochs must be > 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError("warmup_ratio must be within [0, 1)")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")
        if self.stop_after is not None and self.stop_after < 1:
            raise ValueError("stop_after must be >= 1")
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}, not {self.divergence!r}")
        if not 0.0 < self.beta < 1.0:
            raise ValueError("beta must be within (0, 1)")
        if not 1 <= self.score_top_k <= 20:
            raise ValueError("score_top_k must be within 1..20")
        if self.sample_tokens < 1 or self.sample_temperature <= 0:
            raise ValueError("sample_tokens must be >= 1 and sample_temperature > 0")
        if self.max_cost is not None and self.max_cost < 0:
            raise ValueError("max_cost must be >= 0")
        if self.sft_answers is not None and self.sft_answers < 1:
            raise ValueError("sft_answers must be >= 1")
        if self.sft_warmup_steps < 0 or self.score_epochs < 1:
            raise ValueError("sft_warmup_steps must be >= 0 and score_epochs >= 1")
        if self.verify and self.on_policy:
            raise ValueError("verify filters the answers trained on; on-policy trains on its own samples")
        if self.teacher_url is not None and not self.teacher_url.startswith(("http://", "https://")):
            raise ValueError(f"teacher_url {self.teacher_url!r}: use an http(s) base URL ending in /v1")
        if self.dataset is not None:
            self.dataset = Path(self.dataset)
        if self.out is not None:
            self.out = Path(self.out)

    @property
    def uses_kd(self) -> bool:
        return self.method in ("topk-kd", "mixed")

    def hyperparameters(self) -> dict[str, Any]:
        """The settings that shape the result (for the model card and resume checks)."""
        skip = {"dataset", "out", "resume", "stop_after", "progress", "threads", "keep_checkpoints", "extra"}
        skip |= {"api_key_env", "rpm", "scoring_cache"}
        if self.method != "on-policy":  # keeps earlier runs' fingerprints (and curve reuse) valid
            skip |= set(ON_POLICY_FIELDS)
        if not self.verify:  # likewise: runs from before the option keep their fingerprints
            skip.add("verify")
        if not self.sft_warmup_steps and self.score_epochs == 1:  # likewise (seventh round's options)
            skip |= {"sft_warmup_steps", "score_epochs"}
        if self.target_temperature == 1.0:  # likewise (retention round 4's option)
            skip.add("target_temperature")
        return {k: v for k, v in asdict(self).items() if k not in skip}

    @property
    def on_policy(self) -> bool:
        return self.method == "on-policy"


ON_POLICY_FIELDS = (
    "teacher_url", "teacher_model", "teacher_template", "api_key_env", "score_top_k", "sample_tokens",
    "sample_temperature",
    "divergence", "beta", "sft_answers", "sft_warmup_steps", "score_epochs", "max_cost", "price_model",
    "prices_file", "rpm", "scoring_cache",
)  # fmt: skip
