"""Make the model to train: a layer-subset copy of the teacher or a local HF model, optionally with LoRA.

Saving merges LoRA adapters into the base weights, so every trained student is a
plain Hugging Face model directory that ``from_pretrained`` (and the server) can load.

This module must not load or prune weights itself (:mod:`distillscope.models` does), nor import
torch or peft at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillscope.train.settings import TrainSettings


def make_student(
    settings: TrainSettings, calibration: list[str] | None = None
) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, tokenizer, origin)``; ``origin`` says what the student was made from.

    ``calibration``: texts on which ``auto:N`` measures layer redundancy (the
    training data's prompts, when training); default: reasoning-gym questions.
    """
    from distillscope.models import build_student, load_model

    if settings.student:
        model, tokenizer = load_model(settings.student)
        origin = {"student": str(settings.student)}
    else:
        teacher, tokenizer = load_model(settings.teacher)
        model = build_student(teacher, settings.student_layers, tokenizer, calibration)
        origin = {
            "student": f"layer subset '{settings.student_layers}' of {settings.teacher}",
            "layers": f"{model.config.num_hidden_layers} of {teacher.config.num_hidden_layers}",
            "kept_layers": getattr(model, "distillscope_layers", None),
        }
        del teacher
    if settings.lora:
        model = add_lora(model, settings)
    return model, tokenizer, origin


def add_lora(model: Any, settings: TrainSettings) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=[t.strip() for t in settings.lora_targets.split(",") if t.strip()],
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def save_student(model: Any, tokenizer: Any, out: Path) -> Any:
    """Write safetensors + tokenizer; LoRA adapters are merged first. Returns the saved model."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return model
