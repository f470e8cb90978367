"""``train_student(settings) -> Path``: dataset in, Hugging Face student directory out; and
``fit_exchanges``: a few steps in memory on exchanges (active selection's retraining).

Order of work: read and check the dataset (clear errors before any model is
loaded), build the student, build examples, fit with checkpoints, save the model
(LoRA merged), tokenizer, model card and provenance. Checkpoints are removed
after a finished run unless ``keep_checkpoints``.

This module must not write outside ``settings.out``, and must not load a model before the dataset
has been read and checked.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from distillscope.exchanges import Dataset, calibration_texts, load_dataset
from distillscope.records import Exchange
from distillscope.train.card import TRAINING_FILE, provenance, read_training_info, write_card
from distillscope.train.data import build_examples
from distillscope.train.loop import FitReport, fit
from distillscope.train.settings import TrainSettings
from distillscope.train.student import make_student, save_student


def set_threads(threads: int | None) -> None:
    """Use the given thread count, or every core torch sees (at most 8: more only adds contention)."""
    import os

    torch.set_num_threads(threads or max(1, min(8, os.cpu_count() or 1)))


def train_student(settings: TrainSettings) -> Path:
    """Train a student as ``settings`` say and return its output directory.

    ``training.json`` gets the run's ``compute``: wall seconds, the process's CPU seconds
    and the CPU seconds of this (the training) thread. A local on-policy teacher is served
    from other threads of the same process, so with one torch thread the thread's CPU is the
    student's alone (sampling and training) and the process's includes the teacher's scoring.
    """
    if settings.dataset is None or settings.out is None:
        raise ValueError("TrainSettings.dataset and TrainSettings.out are required")
    started = _clocks()
    out = _train(settings)
    info = read_training_info(out)
    if info is not None:
        wall, process, thread = (now - then for now, then in zip(_clocks(), started, strict=True))
        info["compute"] = {
            "wall_seconds": round(wall, 2),
            "process_cpu_seconds": round(process, 2),
            "thread_cpu_seconds": round(thread, 2),
            "torch_threads": torch.get_num_threads(),
        }
        (out / TRAINING_FILE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    return out


def _clocks() -> tuple[float, float, float]:
    return time.perf_counter(), time.process_time(), time.thread_time()


def _train(settings: TrainSettings) -> Path:
    if settings.on_policy:
        from distillscope.train.onpolicy import train_on_policy

        return train_on_policy(settings)
    set_threads(settings.threads)
    dataset = load_dataset(settings.dataset, limit=settings.limit)
    trained_on, verified = verified_dataset(dataset) if settings.verify else (dataset, None)
    model, tokenizer, origin = make_student(settings, calibration_texts(dataset))
    examples, stats = build_examples(trained_on, tokenizer, settings.max_seq_len, settings.uses_kd)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    report = fit(model, examples, settings, tokenizer.pad_token_id or 0, checkpoints=out)
    save_student(model, tokenizer, out)
    # cost_usd and exchanges stay those of every answer paid for; "verified" says how many were kept
    write_card(
        out,
        provenance(dataset, settings, origin, report, stats) | ({"verified": verified} if verified else {}),
    )
    if not settings.keep_checkpoints:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return out


def verified_dataset(dataset: Dataset) -> tuple[Dataset, dict[str, Any]]:
    """The exchanges whose answers the task checker scores correct, and the verification report."""
    from distillscope.exchanges import DatasetError
    from distillscope.harvest import VerifyError, keep_verified

    try:
        verified = keep_verified(dataset.exchanges)
    except VerifyError as exc:
        raise DatasetError(f"{dataset.source}: --verify: {exc}") from exc
    if not verified.kept:
        raise DatasetError(
            f"{dataset.source}: --verify kept none of {verified.checked} answers (none scored correct)"
        )
    kept = Dataset(dataset.source, verified.kept, dataset.manifest, dataset.skipped)
    return kept, verified.report()


def fit_exchanges(
    model: Any, tokenizer: Any, exchanges: Sequence[Exchange], settings: TrainSettings
) -> FitReport:
    """Train ``model`` in memory on answered ``exchanges`` as ``settings`` say: no checkpoints, no card."""
    dataset = Dataset(Path("<memory>"), list(exchanges), None)
    examples, _ = build_examples(dataset, tokenizer, settings.max_seq_len, settings.uses_kd)
    return fit(model, examples, settings, tokenizer.pad_token_id or 0)
