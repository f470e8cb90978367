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
    """Everything one training run needs. ``dataset``: a harvest output dir, .parquet or .jsonl."""

    dataset: Path | None = None
    out: Path | None = None
    method: str = "sft"
    alpha: float = 0.5  # mixed: alpha * top-k KD + (1 - alpha) * SFT; on-policy: alpha * divergence + ...
    temperature: float = 1.0
    renormalize: bool = False  # top-k KD over the k ids only, instead of k + a tail bucket
    teacher: str = EMBEDDED_TEACHER  # what the layer-subset student is copied from
    student: str | None = None  # any local HF causal LM path instead of a layer subset
    student_layers: str = "every-other"
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: str = "q_proj,k_proj,v_proj,o_proj"
    learning_rate: float = 5e-5
    batch_size: int = 8
    grad_accum: int = 1
    max_seq_len: int = 256
    epochs: float = 2.0
    max_steps: int = 300
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    seed: int = 0
    save_every: int = 50
    resume: bool = False
    stop_after: int | None = None  # stop (with a checkpoint) after this global step: train in chunks
    keep_checkpoints: bool = False
    limit: int | None = None  # use only the first N exchanges (by harvest time): budgets of a curve
    threads: int | None = None
    progress: bool = True
    # on-policy: the student samples, the teacher scores through /v1/completions (echo + logprobs)
    teacher_url: str | None = None  # OpenAI-compatible base URL; None: serve `teacher` on loopback
    teacher_model: str | None = None  # model name sent to the teacher URL (default: `teacher`)
    teacher_template: str | None = None  # tokenizer dir whose chat template renders prompts for the teacher
    api_key_env: str = "OPENAI_API_KEY"
    score_top_k: int = 5  # logprobs k of each scoring call (OpenAI's legacy limit is 5)
    sample_tokens: int = 48  # longest student sample
    sample_temperature: float = 1.0
    divergence: str = "reverse-kl"  # forward-kl | reverse-kl | jsd
    beta: float = 0.5  # jsd mixture weight
    max_cost: float | None = None  # USD cap on teacher spend (SFT answers used + scoring calls)
    price_model: str | None = None  # price scoring calls as this model of the price table
    prices_file: Path | None = None
    rpm: float | None = None  # teacher requests per minute
    scoring_cache: Path | None = None  # default: <out>/scoring/cache.sqlite
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must be within [0, 1]")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")
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
        return {k: v for k, v in asdict(self).items() if k not in skip}

    @property
    def on_policy(self) -> bool:
        return self.method == "on-policy"


ON_POLICY_FIELDS = (
    "teacher_url", "teacher_model", "teacher_template", "api_key_env", "score_top_k", "sample_tokens",
    "sample_temperature",
    "divergence", "beta", "max_cost", "price_model", "prices_file", "rpm", "scoring_cache",
)  # fmt: skip
