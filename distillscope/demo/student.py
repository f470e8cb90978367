"""The attacker's side: train a student on what the attackers harvested, and measure what it kept.

The student is a layer subset of the teacher (``distillscope.models.build_student``)
trained with ``distillscope.train`` on the attackers' dataset; it is measured
before and after training against the teacher on held-out items of the task the
attackers harvested (a different reasoning-gym seed, and any question seen in
training is dropped): token agreement and KL with the teacher's greedy answers
(``distillscope.evaluate.fidelity``), and the task score of each model with the
dataset's own checker. The teacher's answers are generated once and shared by
every student. This module must not re-implement training or evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillscope.demo.live import LiveResult, task_message
from distillscope.demo.settings import TASK, TASK_CONFIG, DemoSettings


def held_out_items(size: int, seed: int, seen: set[str]) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(task, dataset, item)`` for ``size`` task items whose question the attackers never asked."""
    import reasoning_gym

    dataset = reasoning_gym.create_dataset(TASK, size=size * 3, seed=seed, **TASK_CONFIG)
    items = [(TASK, dataset, dataset[i]) for i in range(size * 3) if dataset[i]["question"] not in seen]
    return items[:size]


def _conversations(items: list[tuple[str, Any, dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """The held-out items asked the way the attackers asked theirs."""
    return [task_message(item["question"]) for _, _, item in items]


def make_demo_teacher(settings: DemoSettings) -> Any:
    """The teacher the run measures against (the local model, or the upstream behind the gateway)."""
    from distillscope.evaluate.teachers import make_teacher

    if settings.teacher_url:
        import os

        key = os.environ.get(settings.teacher_key_env, "") if settings.teacher_key_env else None
        return make_teacher(settings.teacher_url, key, settings.teacher_model)
    return make_teacher(settings.model or "smollm2-135m-instruct")


def _measure(
    model: Any, tokenizer: Any, teacher: Any, items: list[Any], references: list[Any], max_new_tokens: int
) -> dict[str, Any]:
    from distillscope.evaluate.fidelity import fidelity, student_greedy
    from distillscope.evaluate.tasks import task_accuracy

    conversations = _conversations(items)
    answers = student_greedy(model, tokenizer, conversations, max_new_tokens)
    scores = fidelity(
        model,
        tokenizer,
        conversations,
        references,
        teacher=getattr(teacher, "model", None),
        teacher_tokenizer=getattr(teacher, "tokenizer", None),
        student_answers=answers,
    )
    task = task_accuracy(lambda _: answers, items)
    keep = ("agreement", "kl", "student_ce", "exact_match")
    return {
        "task_score": task["accuracy"],
        "fidelity": {k: scores.get(k) for k in keep if isinstance(scores.get(k), int | float)},
    }


def _untrained(settings: DemoSettings, dataset: Path, out: Path) -> tuple[Path, dict[str, Any]]:
    """The student before training, saved to ``out``: made as ``train`` makes it (same code, same
    calibration texts for ``auto:N``), so "before" and "after" are the same layers; ``(path, origin)``."""
    from distillscope.exchanges import calibration_texts, load_dataset
    from distillscope.train import TrainSettings
    from distillscope.train.student import make_student, save_student

    spec = TrainSettings(teacher=settings.model or "smollm2-135m-instruct",
                         student_layers=settings.student_layers)  # fmt: skip
    model, tokenizer, origin = make_student(spec, calibration_texts(load_dataset(dataset)))
    save_student(model, tokenizer, out)
    return out, origin


def _train(settings: DemoSettings, dataset: Path, start: Path, out: Path, method: str) -> Path:
    from distillscope.train import TrainSettings, train_student

    steps = int(settings.train_steps)
    return Path(
        train_student(
            TrainSettings(
                dataset=dataset,
                out=out,
                method=method,
                student=str(start),  # the untrained student measured above
                max_steps=steps,
                epochs=1000.0,  # the step budget decides, not the epochs
                batch_size=8,
                max_seq_len=160,
                learning_rate=2e-4,
                save_every=steps,
                seed=settings.seed,
                threads=settings.threads,
                progress=False,
            )
        )
    )


def student_section(
    settings: DemoSettings, live: LiveResult, out: Path, teacher: Any = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Train the student(s) on the harvest, measure them and the untrained one; return (section, paths).

    ``teacher`` is the one to measure against (made from the settings when not given)."""
    from distillscope.evaluate.run import teacher_continuations
    from distillscope.evaluate.tasks import task_accuracy
    from distillscope.models import load_model

    if live.dataset is None or not live.harvested:
        raise RuntimeError("the attackers harvested nothing to train on")
    seen = {str((e.provenance or {}).get("query_meta", {}).get("question")) for e in live.harvested}
    items = held_out_items(int(settings.task_size), settings.seed + 2000, seen)
    teacher = teacher if teacher is not None else make_demo_teacher(settings)
    budget = int(settings.max_new_tokens)  # the harvest's answer budget: the same answers, measured
    references = teacher_continuations(
        teacher, _conversations(items), budget, out / "eval" / "teacher_reference.json"
    )
    teacher_task = task_accuracy(lambda _: [c.text for c in references], items)["accuracy"]
    start, origin = _untrained(settings, live.dataset, out / "students" / "untrained")
    untrained, tokenizer = load_model(start)
    rows = [{"method": "untrained", **_measure(untrained, tokenizer, teacher, items, references, budget)}]
    del untrained
    paths: dict[str, Path] = {}
    methods = ["sft"] + (["topk-kd"] if settings.kd_student and settings.top_logprobs else [])
    errors = []
    for method in methods:
        try:
            path = _train(settings, live.dataset, start, out / "students" / method, method)
        except Exception as exc:  # e.g. top-k KD with every log-prob stripped by the guard
            errors.append(f"{method}: {type(exc).__name__}: {exc}")
            continue
        paths[method] = path
        model, tok = load_model(path)
        rows.append({"method": method, **_measure(model, tok, teacher, items, references, budget)})
    queries = len(live.harvested)
    cost = round(sum(e.cost_usd or 0.0 for e in live.harvested), 6)
    curve = []  # each method's retention: from the untrained student (0 queries) to the trained one
    untrained_row = rows[0]
    for row in rows[1:]:
        for point, spent in ((untrained_row, (0, 0.0)), (row, (queries, cost))):
            agreement = point["fidelity"].get("agreement")
            curve.append({"method": row["method"], "queries": spent[0], "cost_usd": spent[1],
                          "task_score": point["task_score"], "agreement": agreement})  # fmt: skip
    section = {
        "task": {"name": f"{TASK} (reasoning-gym, two one-digit terms)", "n": len(items)},
        "teacher_task_score": teacher_task,
        "methods": rows,
        "retention_curve": curve,
        "queries": queries,
        "cost_usd": cost,
        "train_steps": int(settings.train_steps),
        "student": f"layer subset ({settings.student_layers}) of the teacher: {origin.get('layers')} layers, "
        f"kept {origin.get('kept_layers')}",
        "errors": errors,
    }
    if not paths:
        raise RuntimeError("; ".join(errors) or "no student was trained")
    return section, paths
