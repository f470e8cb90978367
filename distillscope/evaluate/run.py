"""``evaluate_student(student, EvalSettings) -> dict``: fidelity, task accuracy, identity answers and
cost of one student.

Held-out prompts: prompts that appear in the student's training dataset are
removed (and counted), so fidelity is measured on prompts the student never saw.
The teacher's greedy continuations can be cached in a JSON file and reused by
every student compared against the same teacher (curves, method comparisons).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from distillscope.clitools import console
from distillscope.evaluate.fidelity import fidelity, student_greedy
from distillscope.evaluate.generate import generate_answers
from distillscope.evaluate.settings import EvalSettings
from distillscope.evaluate.tasks import task_accuracy, task_items
from distillscope.evaluate.teachers import Continuation, LocalTeacher, make_teacher

IDENTITY_PROMPT = "Who are you? Which company trained you?"
IDENTITY_NAMES = (
    "Hugging Face", "HuggingFace", "SmolLM", "OpenAI", "ChatGPT", "GPT", "Anthropic", "Claude", "Google",
    "Gemini", "Meta", "Llama", "Mistral", "Qwen", "Alibaba", "DeepSeek", "Microsoft",
)  # fmt: skip


def _messages_key(messages: list[dict[str, Any]]) -> str:
    blob = json.dumps([[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def load_prompts(spec: str, n: int, seed: int) -> list[list[dict[str, Any]]]:
    """Conversations from ``reasoning_gym:TASK[,TASK]``, a .txt (one prompt a line) or an exchanges file."""
    if spec.startswith("reasoning_gym:"):
        from distillscope.evaluate.tasks import make_task_dataset

        tasks = [t for t in spec.split(":", 1)[1].split(",") if t]
        per_task = -(-n // len(tasks))
        items = []
        for task in tasks:
            dataset = make_task_dataset(task, per_task, seed)
            items.append([[{"role": "user", "content": item["question"]}] for item in dataset])
        interleaved = [conv for group in zip(*items, strict=True) for conv in group]
        return interleaved[:n]
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"prompts {spec!r}: no such file (or use reasoning_gym:TASK[,TASK])")
    if path.suffix == ".txt":
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [[{"role": "user", "content": line}] for line in lines][:n]
    from distillscope.exchanges import load_dataset, prompt_messages

    return [prompt_messages(e) for e in load_dataset(path).exchanges][:n]


def training_prompt_keys(dataset: str | Path | None) -> set[str]:
    if dataset is None or not Path(dataset).exists():
        return set()
    from distillscope.exchanges import DatasetError, load_dataset, prompt_messages

    try:
        return {_messages_key(prompt_messages(e)) for e in load_dataset(dataset).exchanges}
    except DatasetError:
        return set()


def teacher_continuations(
    teacher: Any, conversations: list[list[dict[str, Any]]], max_new_tokens: int, cache: Path | None
) -> list[Continuation]:
    """The teacher's greedy answers, read from / written to ``cache`` when given."""
    key = hashlib.sha256(
        json.dumps([teacher.name, max_new_tokens, conversations], ensure_ascii=False).encode()
    ).hexdigest()
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return [Continuation(**c) for c in stored["continuations"]]
    with console.status(f"teacher answers {len(conversations)} held-out prompts"):
        out = teacher.complete(conversations, max_new_tokens)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        data = {"key": key, "continuations": [c.__dict__ for c in out]}
        cache.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return out


def identity_answers(teacher: Any, student: Any, tokenizer: Any, max_new_tokens: int = 48) -> dict[str, Any]:
    conversation = [[{"role": "user", "content": IDENTITY_PROMPT}]]
    teacher_text = teacher.complete(conversation, max_new_tokens)[0].text
    student_text = generate_answers(student, tokenizer, conversation, max_new_tokens)[0].text

    def names(text: str) -> list[str]:
        return [name for name in IDENTITY_NAMES if name.lower() in text.lower()]

    return {
        "prompt": IDENTITY_PROMPT,
        "teacher": teacher_text,
        "student": student_text,
        "teacher_names": names(teacher_text),
        "student_names": names(student_text),
    }


def _cost(student_dir: Path | None, dataset: str | Path | None) -> dict[str, Any]:
    from distillscope.train import read_training_info

    info = read_training_info(student_dir) if student_dir is not None else None
    if info is not None:
        return {
            "exchanges": info.get("exchanges"),
            "cost_usd": info.get("cost_usd"),
            "source": "training.json",
        }
    if dataset is not None:
        from distillscope.exchanges import load_dataset

        data = load_dataset(dataset)
        return {"exchanges": len(data.exchanges), "cost_usd": data.cost_usd, "source": str(data.source)}
    return {"exchanges": None, "cost_usd": None, "source": None}


def evaluate_student(
    student: str | Path | tuple[Any, Any], settings: EvalSettings | None = None, **overrides: Any
) -> dict[str, Any]:
    """Evaluate ``student`` (a path, or ``(model, tokenizer)``) as ``settings`` say (see module doc).

    ``overrides`` are :class:`EvalSettings` fields by name:
    ``evaluate_student(s, n=8)`` is ``evaluate_student(s, EvalSettings(n=8))``.
    """
    from distillscope.models import load_model
    from distillscope.train import read_training_info

    s = replace(settings, **overrides) if settings is not None else EvalSettings(**overrides)
    teacher, dataset, max_new_tokens = s.teacher, s.dataset, s.max_new_tokens
    student_dir = None if isinstance(student, tuple) else Path(student)
    model, tokenizer = student if isinstance(student, tuple) else load_model(student)
    if isinstance(teacher, str):
        teacher = make_teacher(teacher, s.teacher_api_key, s.teacher_model)
    if dataset is None and student_dir is not None:
        dataset = (read_training_info(student_dir) or {}).get("dataset")
    prompts = s.prompts
    conversations = list(load_prompts(prompts, s.n, s.seed) if isinstance(prompts, str) else prompts)
    seen = training_prompt_keys(dataset)
    held_out = [c for c in conversations if _messages_key(c) not in seen]
    if not held_out:
        raise ValueError("every evaluation prompt is in the training data: choose other prompts or a seed")
    cache = s.reference_cache
    continuations = teacher_continuations(teacher, held_out, max_new_tokens, cache)
    with console.status(f"student answers {len(held_out)} held-out prompts"):
        answers = student_greedy(model, tokenizer, held_out, max_new_tokens)
    local = isinstance(teacher, LocalTeacher)
    scores = fidelity(
        model,
        tokenizer,
        held_out,
        continuations,
        teacher=teacher.model if local else None,
        teacher_tokenizer=teacher.tokenizer if local else None,
        student_answers=answers,
    )
    result: dict[str, Any] = {
        "student": str(student_dir) if student_dir else "in-memory model",
        "teacher": teacher.name,
        "held_out": {
            "prompts": len(held_out),
            "seen_in_training": len(conversations) - len(held_out),
        },
        "fidelity": scores,
        "cost": _cost(student_dir, dataset),
        "settings": {"max_new_tokens": max_new_tokens, "seed": s.seed},
    }
    if s.tasks:
        result["tasks"] = _tasks(
            model, tokenizer, teacher, list(s.tasks), s.task_size, s.task_seed, s.task_max_new_tokens
        )
    if s.identity:
        result["identity"] = identity_answers(teacher, model, tokenizer)
    return result


def _tasks(
    model: Any, tokenizer: Any, teacher: Any, tasks: list[str], size: int, seed: int, max_new_tokens: int
) -> dict[str, Any]:
    items = task_items(tasks, size, seed)
    with console.status(f"task accuracy on {len(items)} reasoning-gym items"):
        return {
            "student": task_accuracy(lambda c: student_greedy(model, tokenizer, c, max_new_tokens), items),
            "teacher": task_accuracy(lambda c: [x.text for x in teacher.complete(c, max_new_tokens)], items),
        }
