"""The trained student's model card (README.md) and machine-readable provenance (training.json).

Provenance says where the student's knowledge came from: the teacher, how many
exchanges, what they cost, the terms the harvest recorded, the method and its
hyperparameters. It never copies prompts or answers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TRAINING_FILE = "training.json"


def provenance(dataset: Any, settings: Any, origin: dict[str, Any], report: Any, stats: dict) -> dict:
    manifest = dataset.manifest or {}
    terms = manifest.get("terms") or manifest.get("stated_terms") or manifest.get("terms_of_use")
    return {
        "teacher": dataset.teacher(),
        "dataset": str(dataset.source),
        "exchanges": len(dataset.exchanges),
        "examples": report.examples,
        "skipped": dataset.skipped | {k: v for k, v in stats.items() if k == "too_long" and v},
        "kd_positions": stats.get("kd_positions", 0),
        "cost_usd": round(dataset.cost_usd, 6),
        "terms": terms,
        "strategy": manifest.get("strategy"),
        "method": settings.method,
        "hyperparameters": settings.hyperparameters(),
        "steps": report.steps,
        "tokens": report.tokens,
        "final_loss": report.final_loss,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **origin,
    }


def write_card(out: Path, info: dict[str, Any]) -> None:
    (out / TRAINING_FILE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    hyper = "\n".join(f"| `{k}` | `{v}` |" for k, v in sorted(info["hyperparameters"].items()))
    loss = f"{info['final_loss']:.4f}" if info.get("final_loss") is not None else "n/a"
    text = f"""---
library_name: transformers
tags: [distillation, distillscope]
---

# Student distilled with distillscope

| | |
|---|---|
| teacher | {info.get("teacher") or "unknown (not recorded in the dataset)"} |
| student | {info.get("student")} |
| method | `{info["method"]}` |
| exchanges used | {info["exchanges"]} (dataset `{info["dataset"]}`) |
| cost of those exchanges | ${info["cost_usd"]:.4f} |
| stated terms of the teacher | {info.get("terms") or "none recorded in the harvest manifest"} |
| query strategy | {info.get("strategy") or "not recorded"} |
| steps / tokens | {info["steps"]} / {info["tokens"]} |
| final training loss | {loss} |
| trained at | {info["trained_at"]} |

This model was trained on the answers of another model obtained through its API.
Check that the teacher's terms allow this use before sharing or deploying it.

## Hyperparameters

| setting | value |
|---|---|
{hyper}
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def read_training_info(model_dir: str | Path) -> dict[str, Any] | None:
    """The provenance a distillscope-trained student carries, or ``None``."""
    path = Path(model_dir) / TRAINING_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
