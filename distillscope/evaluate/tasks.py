"""Task accuracy on reasoning-gym problems, scored by each dataset's own ``score_answer``.

The model answers the question with an instruction to end with ``Answer: ...``;
:func:`extract_answer` then takes, in order: the last ``Answer:`` line, the last
``\\boxed{...}``, the text after ``####``, the last number (when the reference is
a number), the last non-empty line.

A task is a reasoning-gym name, optionally with its generator's settings:
``basic_arithmetic:max_terms=2:max_digits=1`` (values read as Python literals,
else as strings), so easy variants of a task can be asked for by name.

This module must not load a model or generate: replies come from the caller's ``answer``, and
reasoning-gym is imported only when a dataset is built.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

INSTRUCTION = "\nEnd your reply with a line 'Answer: <final answer>'."
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_answer(text: str, reference: str | None = None) -> str:
    """The final answer in a model's reply (see the module doc for the order of rules)."""
    found = re.findall(r"answer\s*(?:is)?\s*[:=]\s*(.+)", text, flags=re.IGNORECASE)
    if found:
        answer = found[-1].strip().rstrip(".").strip()
        if reference is not None and _is_number(reference):
            numbers = _NUMBER.findall(answer)
            return numbers[0].replace(",", "") if numbers else answer
        return answer
    boxed = re.findall(r"\\boxed\{([^{}]*)\}", text)
    if boxed:
        return boxed[-1].strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip().split("\n")[0].strip()
    if reference is not None and _is_number(reference):
        numbers = _NUMBER.findall(text)
        if numbers:
            return numbers[-1].replace(",", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _is_number(value: str) -> bool:
    return bool(re.fullmatch(r"\s*-?\d[\d,]*(?:\.\d+)?\s*", str(value)))


def parse_task(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value:key=value"`` -> ``(name, {key: value})``; a bad setting is a ValueError."""
    name, *settings = spec.strip().split(":")
    if not name:
        raise ValueError(f"task {spec!r}: no task name")
    config: dict[str, Any] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"task {spec!r}: settings are key=value, not {setting!r}")
        try:
            config[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            config[key.strip()] = value.strip()
    return name, config


def make_task_dataset(spec: str, size: int, seed: int) -> Any:
    """The reasoning-gym dataset of a task spec (see :func:`parse_task`)."""
    import reasoning_gym

    name, config = parse_task(spec)
    return reasoning_gym.create_dataset(name, size=size, seed=seed, **config)


def task_items(tasks: list[str], size: int, seed: int) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(task, dataset, item)`` for ``size`` items of each reasoning-gym task spec."""
    out = []
    for task in tasks:
        dataset = make_task_dataset(task, size, seed)
        out.extend((task, dataset, dataset[i]) for i in range(size))
    return out


def task_accuracy(
    answer: Callable[[list[list[dict[str, Any]]]], list[str]],
    items: list[tuple[str, Any, dict[str, Any]]],
) -> dict[str, Any]:
    """Mean ``score_answer`` per task and overall; ``answer`` maps conversations to replies."""
    replies = answer([[{"role": "user", "content": item["question"] + INSTRUCTION}] for _, _, item in items])
    per_task: dict[str, list[float]] = {}
    for (task, dataset, item), reply in zip(items, replies, strict=True):
        extracted = extract_answer(reply, str(item.get("answer")))
        per_task.setdefault(task, []).append(float(dataset.score_answer(answer=extracted, entry=item)))
    scores = [s for values in per_task.values() for s in values]
    return {
        "items": len(scores),
        "accuracy": sum(scores) / len(scores) if scores else None,
        "per_task": {task: sum(v) / len(v) for task, v in per_task.items()},
    }
