"""Training checkpoints: trainable weights, optimizer, scheduler, RNG states, step and data position.

One checkpoint directory (``<out>/checkpoints/last``) is replaced atomically
(written to a temporary sibling, then renamed), so a run killed while saving
still has its previous checkpoint. Resuming checks that the run's
hyperparameters and data are the ones the checkpoint was made with.

This module must not write outside ``<out>/checkpoints``, and must not resume a checkpoint whose
fingerprint (settings and data) differs from the run's.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distillscope.errors import DistillscopeError

STATE_FILE = "state.json"


class CheckpointError(DistillscopeError, RuntimeError):
    """A checkpoint that cannot be resumed from (missing, or made by a different run)."""


@dataclass
class TrainState:
    step: int  # optimizer steps done
    data_position: int  # examples consumed from the (deterministic) data stream
    fingerprint: str  # hyperparameters + data; a resume must match it
    losses: list[float]


def checkpoint_dir(out: Path) -> Path:
    return out / "checkpoints" / "last"


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def save_checkpoint(out: Path, model: Any, optimizer: Any, scheduler: Any, state: TrainState) -> Path:
    target = checkpoint_dir(out)
    tmp = target.with_name(f".last.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(_trainable_state(model), tmp / "trainable.pt")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    torch.save(rng, tmp / "rng.pt")
    (tmp / STATE_FILE).write_text(json.dumps(state.__dict__), encoding="utf-8")
    old = target.with_name(f".last.{os.getpid()}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(out: Path, model: Any, optimizer: Any, scheduler: Any, fingerprint: str) -> TrainState:
    source = checkpoint_dir(out)
    if not (source / STATE_FILE).exists():
        raise CheckpointError(f"no checkpoint to resume from under {source}")
    state = TrainState(**json.loads((source / STATE_FILE).read_text(encoding="utf-8")))
    if state.fingerprint != fingerprint:
        raise CheckpointError(
            f"the checkpoint in {source} was made with other settings or data; "
            "resume with the same dataset and hyperparameters, or start a new --out"
        )
    weights = torch.load(source / "trainable.pt", weights_only=True)
    missing = set(weights) - set(model.state_dict())
    if missing:
        raise CheckpointError(f"checkpoint weights do not fit this model (e.g. {sorted(missing)[:3]})")
    model.load_state_dict(weights, strict=False)
    optimizer.load_state_dict(torch.load(source / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(source / "scheduler.pt", weights_only=False))
    rng = torch.load(source / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    return state
