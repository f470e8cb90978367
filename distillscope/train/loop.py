"""The training loop: deterministic data order, AdamW + linear schedule, checkpoints, Ctrl-C, progress.

The data stream is a fixed function of the seed (one permutation per epoch), so
"where we were" is one integer and a resumed run sees exactly the batches an
uninterrupted run would have seen. Ctrl-C finishes the current step, saves a
checkpoint and raises :class:`TrainingInterrupted`; a second Ctrl-C aborts at once.

This module knows nothing about datasets on disk or model cards (see ``run``).

It must not read a dataset or write anything but its checkpoints (through
:mod:`~distillscope.train.checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from distillscope.errors import DistillscopeError
from distillscope.train.checkpoint import TrainState, load_checkpoint, save_checkpoint
from distillscope.train.data import Example, collate
from distillscope.train.losses import completion_ce, sparse_kd_loss
from distillscope.train.settings import TrainSettings


class StopTraining(Exception):
    """Raised by a batch source to end training early and cleanly (e.g. the teacher budget is spent)."""


#: ``(model, state) -> (loss, tokens)`` for one micro-batch; it advances ``state.data_position`` itself.
BatchLoss = Callable[[Any, TrainState], tuple[torch.Tensor, int]]


class TrainingInterrupted(DistillscopeError, RuntimeError):
    """Training stopped early (Ctrl-C or ``stop_after``); a checkpoint holds the progress."""

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        self.step = step
        self.checkpoint = checkpoint
        where = f"; checkpoint in {checkpoint} (rerun with --resume)" if checkpoint else ""
        super().__init__(f"training stopped at step {step}{where}")


class TrainingDiverged(DistillscopeError, RuntimeError):
    """A step's gradient was not finite; the weights are left as they were before it (nothing saved)."""

    def __init__(self, step: int, loss: float) -> None:
        self.step = step
        super().__init__(
            f"training diverged at step {step}: the gradient norm is not finite (loss {loss:.4g}); "
            "no student was saved (try a lower --lr, or --target-temperature closer to 1)"
        )


@dataclass
class FitReport:
    steps: int
    total_steps: int
    examples: int
    tokens: int  # non-padding tokens processed
    losses: list[float] = field(default_factory=list)
    stopped_early: str | None = None  # why a batch source ended training before total_steps

    @property
    def final_loss(self) -> float | None:
        tail = self.losses[-10:]
        return sum(tail) / len(tail) if tail else None


def total_steps(settings: TrainSettings, examples: int) -> int:
    per_step = settings.batch_size * settings.grad_accum
    return max(1, min(settings.max_steps, math.ceil(settings.epochs * examples / per_step)))


def stream_indices(start: int, count: int, size: int, seed: int) -> list[int]:
    """Positions ``start .. start+count`` of the endless, per-epoch-shuffled example stream."""
    out = []
    for position in range(start, start + count):
        epoch, offset = divmod(position, size)
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        out.append(int(torch.randperm(size, generator=generator)[offset]))
    return out


def fingerprint(settings: TrainSettings, examples: list[Example]) -> str:
    digest = hashlib.sha256(json.dumps(settings.hyperparameters(), sort_keys=True, default=str).encode())
    for example in examples:
        digest.update(str(example.input_ids).encode())
    return digest.hexdigest()[:24]


def compute_loss(model: Any, batch: dict[str, torch.Tensor], settings: TrainSettings) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    if settings.method == "sft":
        return completion_ce(logits, batch["labels"])
    kd = sparse_kd_loss(
        logits,
        batch["kd_ids"],
        batch["kd_logprobs"],
        batch["kd_mask"],
        temperature=settings.temperature,
        renormalize=settings.renormalize,
        target_temperature=settings.target_temperature,
    )
    if settings.method == "topk-kd":
        return kd
    return settings.alpha * kd + (1.0 - settings.alpha) * completion_ce(logits, batch["labels"])


class _StopFlag:
    """First SIGINT asks the loop to stop after the current step; the second aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C cannot reach us anyway
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def make_optimizer(model: Any, settings: TrainSettings, steps: int) -> tuple[Any, Any]:
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    warmup = int(settings.warmup_ratio * steps)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, steps)


def fit(
    model: Any,
    examples: list[Example],
    settings: TrainSettings,
    pad_id: int,
    checkpoints: Path | None = None,
    on_step: Callable[[int, float], None] | None = None,
    batch_loss: BatchLoss | None = None,
    steps: int | None = None,
) -> FitReport:
    """Train ``model`` in place on ``examples``; checkpoints under ``checkpoints`` when given.

    ``batch_loss`` replaces the default micro-batch (a slice of ``examples`` and the
    method's loss) for methods that make their data as they go (on-policy); ``steps``
    then overrides the planned number of steps. A :class:`StopTraining` it raises
    ends training after the last complete step, with a checkpoint.
    """
    torch.manual_seed(settings.seed)
    steps = steps or total_steps(settings, len(examples))
    optimizer, scheduler = make_optimizer(model, settings, steps)
    print_name = fingerprint(settings, examples)
    state = TrainState(0, 0, print_name, [])
    if settings.resume and checkpoints is not None:
        state = load_checkpoint(checkpoints, model, optimizer, scheduler, print_name)
    report = FitReport(state.step, steps, len(examples), 0, list(state.losses))
    model.train()
    with _StopFlag() as stop, _progress(settings, steps, state.step) as advance:
        while state.step < steps:
            try:
                loss, tokens = _one_step(model, examples, settings, pad_id, state, batch_loss)
            except StopTraining as exc:
                optimizer.zero_grad(set_to_none=True)
                report.stopped_early = str(exc)
                if checkpoints is not None:
                    save_checkpoint(checkpoints, model, optimizer, scheduler, state)
                break
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.losses.append(loss)
            report.steps, report.tokens = state.step, report.tokens + tokens
            report.losses = state.losses
            advance(loss)
            if on_step is not None:
                on_step(state.step, loss)
            halt = stop.requested or (settings.stop_after is not None and state.step >= settings.stop_after)
            if checkpoints is not None and (state.step % settings.save_every == 0 or halt):
                save_checkpoint(checkpoints, model, optimizer, scheduler, state)
            if halt and state.step < steps:
                model.eval()
                raise TrainingInterrupted(state.step, checkpoints and checkpoints / "checkpoints" / "last")
    model.eval()
    return report


def _one_step(
    model: Any,
    examples: list[Example],
    settings: TrainSettings,
    pad_id: int,
    state: TrainState,
    batch_loss: BatchLoss | None = None,
) -> tuple[float, int]:
    total, tokens = 0.0, 0
    for _ in range(settings.grad_accum):
        if batch_loss is not None:
            loss, count = batch_loss(model, state)
        else:
            picked = stream_indices(state.data_position, settings.batch_size, len(examples), settings.seed)
            state.data_position += settings.batch_size
            batch = collate([examples[i] for i in picked], pad_id)
            loss, count = compute_loss(model, batch, settings), int(batch["attention_mask"].sum())
        loss = loss / settings.grad_accum
        loss.backward()
        total += float(loss.detach())
        tokens += count
    norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    if not math.isfinite(float(norm)):  # clipping would spread one NaN over every weight
        raise TrainingDiverged(state.step + 1, total)
    return total, tokens


class _progress:
    """A rich progress bar with the running loss (or nothing when progress is off)."""

    def __init__(self, settings: TrainSettings, steps: int, done: int) -> None:
        self.enabled = settings.progress
        self.steps, self.done = steps, done
        self.bar: Any = None

    def __enter__(self) -> Callable[[float], None]:
        if not self.enabled:
            return lambda loss: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from distillscope.clitools import console

        self.bar = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.bar.start()
        task = self.bar.add_task("train", total=self.steps, completed=self.done, loss="-")
        return lambda loss: self.bar.update(task, advance=1, loss=f"{loss:.4f}")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
