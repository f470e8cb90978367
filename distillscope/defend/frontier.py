"""The utility-vs-distillability frontier: what each countermeasure costs the teacher and the distiller.

For each condition (a countermeasure at a strength, or the undefended ``reference``)
the teacher is served by a real loopback ``distillscope serve`` with it on, and
answers the same ``n`` training prompts of a task it can do (seeded sampling, with
``top_logprobs``) through the official ``openai`` client. Then:

- **teacher utility** of the defended answers: task accuracy (reasoning-gym's
  ``score_answer``), perplexity of the answers under the *undefended* teacher, and
  agreement (share of answer tokens that are the undefended teacher's top-1), each
  with a bootstrap standard error over the prompts; the accuracy cost is paired
  with the reference answer to the same prompt;
- **distillability**: a fresh layer-subset student trained on those answers (SFT
  when the text changed, top-k KD when the log-probs did; both for the reference),
  once per seed, scored on held-out prompts against the *undefended* teacher's
  greedy answers (top-1 agreement, KL) and on held-out task items.

``gain`` = student agreement − untrained student's; ``gain_cut`` = 1 − gain /
reference gain (same method, same seed). Every step is cached in the work
directory (atomic writes), so a stopped run resumes; :func:`build_report` turns
what is there into ``frontier.json`` (format :data:`FORMAT`, see docs/defend.md),
a plot and a Markdown table.

This module must not change how anything is served: it only starts servers with
the serve settings a user would give, and trains with ``train_student``.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillscope.defend.settings import Condition, FrontierSettings, parse_condition

FORMAT = "distillscope.frontier/1"
#: the issue's goal: cut the student's fidelity gain by this much ...
GOAL_GAIN_CUT = 0.5
#: ... for at most this share of the teacher's task accuracy
GOAL_RELATIVE_ACCURACY_COST = 0.05
WATERMARK_KEY = 424242
MACHINE = "2-core CPU shared with other jobs, one torch thread, nice 10"


@dataclass(frozen=True)
class Evals:
    """The held-out prompts and task items every student is scored on, and the undefended teacher."""

    items: list[Any]
    conversations: list[list[dict[str, str]]]
    teacher: Any  # an evaluate LocalTeacher holding the loaded undefended teacher


class FrontierError(ValueError):
    """A frontier run that cannot go on (settings that do not match the work directory, a broken cache)."""


# --- cache --------------------------------------------------------------------------------------


def _read(path: Path) -> Any | None:
    """A cached JSON result, or None when absent (an unreadable file is recomputed, not trusted)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None


def _write(path: Path, value: Any) -> None:
    """Write JSON atomically: a run killed mid-write leaves the old file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def check_experiment(settings: FrontierSettings) -> None:
    """Record the experiment's settings in the work directory, or refuse ones that differ."""
    path = settings.out / "settings.json"
    wanted = settings.experiment()
    recorded = _read(path)
    if recorded is None:
        _write(path, wanted)
        return
    changed = {k: (recorded.get(k), v) for k, v in wanted.items() if recorded.get(k) != v}
    if changed:
        listed = "; ".join(f"{k}: {old!r} there, {new!r} asked" for k, (old, new) in changed.items())
        raise FrontierError(
            f"{settings.out} holds another experiment ({listed}); use another --out or the same settings"
        )


# --- data ---------------------------------------------------------------------------------------


def conversations(task: str, size: int, seed: int) -> tuple[list[Any], list[list[dict[str, str]]]]:
    """``size`` items of ``task`` and their user messages (with the evaluation's answer instruction)."""
    from distillscope.evaluate import INSTRUCTION, task_items

    items = task_items([task], size, seed)
    return items, [[{"role": "user", "content": item["question"] + INSTRUCTION}] for _, _, item in items]


def downstream_file(settings: FrontierSettings) -> Path:
    """What antidistillation defends: 32 questions of the task with their right answers (another seed)."""
    path = settings.out / "downstream.txt"
    if not path.exists():
        items, _ = conversations(settings.task, 32, 5)
        lines = [f"{item['question']} Answer: {item['answer']}".replace("\n", " ") for _, _, item in items]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def serve_settings(settings: FrontierSettings, condition: Condition) -> Any:
    """The ``ServeSettings`` that serve ``condition`` (what ``distillscope serve`` options would give)."""
    from distillscope.serving import ServeSettings
    from distillscope.watermark import WatermarkSettings

    extra = dict(condition.options)
    if "watermark_delta" in extra:
        extra["watermark"] = WatermarkSettings(
            mode="global", hashing_key=WATERMARK_KEY, gamma=settings.watermark_gamma, delta=2.0
        )
    if "antidistill_lambda" in extra:
        extra["antidistill_downstream"] = str(downstream_file(settings))
        extra["antidistill_proxy"] = settings.antidistill_proxy
    return ServeSettings(model=settings.teacher, port=0, threads=settings.threads, max_batch_size=16, **extra)


def harvest(settings: FrontierSettings, condition: Condition, convs: list[Any]) -> list[dict[str, Any]]:
    """The defended teacher's answers to ``convs`` through a real loopback server (cached)."""
    path = settings.out / "answers" / f"{condition.name}.json"
    cached = _read(path)
    if isinstance(cached, list) and len(cached) == len(convs):
        return cached
    import openai

    from distillscope.serving import serve

    with serve(serve_settings(settings, condition)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0, timeout=3600)
        model = client.models.list().data[0].id

        def ask(i: int) -> dict[str, Any]:
            answer = client.chat.completions.create(
                model=model,
                messages=convs[i],
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                seed=1000 + i,
                logprobs=True,
                top_logprobs=settings.top_logprobs,
            )
            choice = answer.choices[0]
            return {
                "text": choice.message.content,
                "logprobs": [e.model_dump() for e in choice.logprobs.content],
                "completion_tokens": answer.usage.completion_tokens,
            }

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, range(len(convs))))
    _write(path, answers)
    return answers


def write_dataset(settings: FrontierSettings, name: str, convs: list[Any], answers: list[dict]) -> Path:
    """The answers as an exchanges dataset (what a distiller would have harvested)."""
    path = settings.out / "datasets" / name / "exchanges.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (messages, answer) in enumerate(zip(convs, answers, strict=True)):
        row = {
            "id": f"{name}-{i}",
            "ts": 1_700_000_000.0 + i,
            "account": "distiller",
            "messages": messages,
            "response_text": answer["text"],
            "logprobs": answer["logprobs"],
            "status": 200,
        }
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)
    return path.parent


# --- measurements -------------------------------------------------------------------------------


def teacher_utility(
    teacher: Any, tokenizer: Any, items: list[Any], convs: list[Any], answers: list[dict]
) -> dict:
    """Per answer: task score, NLL under the undefended teacher, tokens that are its top-1, tokens."""
    import torch

    from distillscope.evaluate import extract_answer
    from distillscope.models.runtime import prompt_ids

    per_item = []
    for (_, dataset, item), messages, answer in zip(items, convs, answers, strict=True):
        extracted = extract_answer(answer["text"], str(item.get("answer")))
        score = float(dataset.score_answer(answer=extracted, entry=item))
        prompt = prompt_ids(tokenizer, messages)
        ids = tokenizer(answer["text"], add_special_tokens=False)["input_ids"]
        nll, agree = 0.0, 0
        if ids:
            with torch.no_grad():
                logits = teacher(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1]
            logp = torch.log_softmax(logits.float(), dim=-1)
            target = torch.tensor(ids)
            nll = -float(logp.gather(1, target[:, None]).sum())
            agree = int((logp.argmax(-1) == target).sum())
        per_item.append({"score": score, "nll": nll, "agree": agree, "tokens": len(ids)})
    return {"per_item": per_item, **summarise_utility(per_item)}


def _utility_point(per_item: list[dict]) -> tuple[float, float, float]:
    tokens = max(sum(p["tokens"] for p in per_item), 1)
    accuracy = statistics.fmean(p["score"] for p in per_item)
    perplexity = math.exp(sum(p["nll"] for p in per_item) / tokens)
    agreement = sum(p["agree"] for p in per_item) / tokens
    return accuracy, perplexity, agreement


def summarise_utility(per_item: list[dict], resamples: int = 1000) -> dict[str, Any]:
    """Task accuracy, perplexity and agreement, each with a bootstrap standard error over the answers."""
    accuracy, perplexity, agreement = _utility_point(per_item)
    rng = random.Random(0)
    boot = [_utility_point(rng.choices(per_item, k=len(per_item))) for _ in range(resamples)]
    se = [statistics.stdev(column) for column in zip(*boot, strict=True)]
    return {
        "task_accuracy": accuracy,
        "task_accuracy_se": se[0],
        "perplexity": perplexity,
        "perplexity_se": se[1],
        "agreement_with_undefended": agreement,
        "agreement_se": se[2],
        "items": len(per_item),
        "tokens": sum(p["tokens"] for p in per_item),
    }


def score_student(model: Any, tokenizer: Any, settings: FrontierSettings, evals: Evals) -> dict[str, Any]:
    """Fidelity to the undefended teacher on held-out prompts, and task accuracy on held-out items."""
    from distillscope.evaluate import evaluate_student, student_greedy, task_accuracy

    report = evaluate_student(
        (model, tokenizer),
        teacher=evals.teacher,
        prompts=evals.conversations,
        max_new_tokens=24,
        tasks=(),
        identity=False,
        reference_cache=settings.out / "reference.json",
    )
    tasks = task_accuracy(lambda c: student_greedy(model, tokenizer, c, 32), evals.items)
    fidelity = report["fidelity"]
    return {
        "agreement": fidelity["agreement"],
        "kl": fidelity["kl"],
        "tokens": fidelity["tokens"],
        "task_accuracy": tasks["accuracy"],
        "task_items": tasks["items"],
    }


def train_and_score(
    settings: FrontierSettings, condition: Condition, method: str, seed: int, evals: Evals
) -> dict[str, Any]:
    """One student trained on ``condition``'s answers by ``method`` with ``seed``, scored (cached)."""
    path = settings.out / "scores" / f"{condition.name}-{method}-s{seed}.json"
    cached = _read(path)
    if cached is not None:
        return cached
    import time

    from distillscope.models import load_model
    from distillscope.train import TrainSettings, train_student

    student = settings.out / "students" / f"{condition.name}-{method}-s{seed}"
    started = time.monotonic()
    train_student(
        TrainSettings(
            dataset=settings.out / "datasets" / condition.name,
            out=student,
            method=method,
            teacher=settings.teacher,
            student_layers=settings.student_layers,
            learning_rate=settings.learning_rate,
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            max_seq_len=160,
            seed=seed,
            save_every=10_000,
            threads=settings.threads,
            progress=False,
        )
    )
    trained = time.monotonic() - started
    model, tokenizer = load_model(student)
    result = score_student(model, tokenizer, settings, evals)
    result.update({"condition": condition.name, "method": method, "seed": seed, "train_s": round(trained, 1)})
    _write(path, result)
    if not settings.keep_students:
        shutil.rmtree(student, ignore_errors=True)
    return result


# --- the run ------------------------------------------------------------------------------------


def _utility_path(settings: FrontierSettings, condition: Condition) -> Path:
    return settings.out / "utility" / f"{condition.name}.json"


def _has_utility(settings: FrontierSettings, condition: Condition) -> bool:
    return isinstance((_read(_utility_path(settings, condition)) or {}).get("per_item"), list)


def pending(settings: FrontierSettings) -> list[tuple[str, Condition | None, str | None, int | None]]:
    """What is left to compute, in order: ("untrained", ...), ("harvest", condition, ...) and
    ("train", condition, method, seed)."""
    steps: list[tuple[str, Condition | None, str | None, int | None]] = []
    if _read(settings.out / "scores" / "untrained.json") is None:
        steps.append(("untrained", None, None, None))
    for condition in settings.condition_list:
        if not _has_utility(settings, condition):
            steps.append(("harvest", condition, None, None))
    for seed in settings.seed_list:
        for condition in settings.condition_list:
            for method in condition.methods:
                if not (settings.out / "scores" / f"{condition.name}-{method}-s{seed}.json").exists():
                    steps.append(("train", condition, method, seed))
    return steps


def run_frontier(settings: FrontierSettings, progress: Callable[[str], None] = lambda _: None) -> dict:
    """Compute what is missing in ``settings.out`` (calling ``progress`` before each step), then report."""
    import torch

    from distillscope.evaluate import LocalTeacher
    from distillscope.models import build_student, load_model

    torch.set_num_threads(settings.threads)
    settings.out.mkdir(parents=True, exist_ok=True)
    check_experiment(settings)
    items, convs = conversations(settings.task, settings.n, 1)
    teacher, tokenizer = load_model(settings.teacher)
    evals = Evals(*conversations(settings.task, settings.eval_n, 777), LocalTeacher(None, teacher, tokenizer))
    untrained_path = settings.out / "scores" / "untrained.json"
    if _read(untrained_path) is None:
        progress("scoring the untrained student")
        student = build_student(teacher, settings.student_layers, tokenizer)
        _write(untrained_path, score_student(student, tokenizer, settings, evals))
    reference: list[dict] | None = None
    for condition in settings.condition_list:  # the reference comes first
        utility_done = _has_utility(settings, condition)
        if not utility_done:
            progress(f"{condition.name}: teacher answers and their utility")
        answers = harvest(settings, condition, convs)
        if condition.kind == "reference":
            reference = answers
        elif not condition.changes_text and [a["text"] for a in answers] != [
            a["text"] for a in reference or []
        ]:
            raise FrontierError(f"{condition.name}: the log-prob defence changed the text, which it must not")
        if not utility_done:
            _write(
                _utility_path(settings, condition), teacher_utility(teacher, tokenizer, items, convs, answers)
            )
        write_dataset(settings, condition.name, convs, answers)
    for step, condition, method, seed in pending(settings):
        if step == "train" and condition is not None and method is not None and seed is not None:
            progress(f"{condition.name}: student by {method}, seed {seed}")
            train_and_score(settings, condition, method, seed, evals)
    return build_report(settings)


# --- the report ---------------------------------------------------------------------------------


def _mean_sd(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "runs": values,
    }


def _paired_cost(reference: list[dict], defended: list[dict]) -> dict[str, Any]:
    """Teacher task accuracy lost, in points, paired by prompt: mean and standard error."""
    diffs = [100 * (r["score"] - d["score"]) for r, d in zip(reference, defended, strict=True)]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else None
    return {"mean": statistics.fmean(diffs), "se": se}


def _scores(out: Path) -> dict[tuple[str, str], dict[int, dict]]:
    scores: dict[tuple[str, str], dict[int, dict]] = {}
    for path in sorted((out / "scores").glob("*-s*.json")):
        row = _read(path)
        if row is not None:
            scores.setdefault((row["condition"], row["method"]), {})[row["seed"]] = row
    return scores


def build_report(settings: FrontierSettings) -> dict[str, Any]:
    """``frontier.json`` (returned too), ``frontier.png`` and ``frontier.md`` from the work directory."""
    out = settings.out
    untrained = _read(out / "scores" / "untrained.json")
    utility = {p.stem: _read(p) for p in sorted((out / "utility").glob("*.json"))}
    if untrained is None or not (utility.get("reference") or {}).get("per_item"):
        raise FrontierError(f"{out} holds no finished reference yet: run without --report-only first")
    scores = _scores(out)
    ref_util = utility["reference"]
    rows = []
    for name, util in utility.items():  # a condition whose students are not trained yet shows its teacher
        if not util or not util.get("per_item"):
            continue
        condition = parse_condition(name)
        for method in condition.methods:
            by_seed = scores.get((name, method), {})
            rows.append(
                _row(
                    condition,
                    method,
                    by_seed,
                    scores.get(("reference", method), {}),
                    untrained,
                    util,
                    ref_util,
                )
            )
    order = {c.name: i for i, c in enumerate(settings.condition_list)}
    rows.sort(key=lambda r: (r["method"], order.get(r["condition"], len(order)), r["condition"]))
    best = best_response(rows)
    result = {
        "format": FORMAT,
        "experiment": settings.experiment(),
        "task": settings.task,
        "train_answers": settings.n,
        "eval_prompts": settings.eval_n,
        "student_layers": settings.student_layers,
        "epochs": settings.epochs,
        "learning_rate": settings.learning_rate,
        "max_tokens": settings.max_tokens,
        "untrained_student": untrained,
        "reference_teacher": {k: v for k, v in ref_util.items() if k != "per_item"},
        "rows": rows,
        "best_response": best,
        "goal": {
            "gain_cut": GOAL_GAIN_CUT,
            "max_relative_accuracy_cost": GOAL_RELATIVE_ACCURACY_COST,
            "met_by": [f"{r['condition']} ({r['method']})" for r in rows if r["meets_goal"]],
            "met_against_best_response": [b["condition"] for b in best if b["meets_goal"]],
        },
        "machine": MACHINE,
    }
    report_dir = settings.report_dir or out
    report_dir.mkdir(parents=True, exist_ok=True)
    _write(report_dir / "frontier.json", result)
    (report_dir / "frontier.md").write_text(markdown(result) + "\n", encoding="utf-8")
    plot(result, report_dir / "frontier.png")
    return result


def _row(
    condition: Condition,
    method: str,
    by_seed: dict[int, dict],
    reference: dict[int, dict],
    untrained: dict,
    util: dict,
    ref_util: dict,
) -> dict[str, Any]:
    """One frontier row: a condition's teacher utility and its students (over seeds) against the reference."""
    seeds = sorted(by_seed)
    gains = [by_seed[s]["agreement"] - untrained["agreement"] for s in seeds]
    paired = [s for s in seeds if s in reference]
    cuts = []
    for s in paired:
        ref_gain = reference[s]["agreement"] - untrained["agreement"]
        if ref_gain > 0:
            cuts.append(1 - (by_seed[s]["agreement"] - untrained["agreement"]) / ref_gain)
    cost = _paired_cost(ref_util["per_item"], util["per_item"])
    relative = cost["mean"] / (100 * ref_util["task_accuracy"]) if ref_util["task_accuracy"] else None
    gain_cut = _mean_sd(cuts)
    per_point = gain_cut["mean"] / cost["mean"] if gain_cut and cost["mean"] > 0 else None
    meets = bool(
        condition.kind != "reference"
        and len(cuts) >= 1
        and gain_cut is not None
        and gain_cut["mean"] >= GOAL_GAIN_CUT
        and relative is not None
        and relative <= GOAL_RELATIVE_ACCURACY_COST
    )
    return {
        "condition": condition.name,
        "kind": condition.kind,
        "strength": condition.options,
        "method": method,
        "seeds": seeds,
        "teacher": {k: v for k, v in util.items() if k != "per_item"},
        "teacher_accuracy_cost_points": cost["mean"],
        "teacher_accuracy_cost_se": cost["se"],
        "teacher_accuracy_cost_relative": relative,
        "student_agreement": _mean_sd([by_seed[s]["agreement"] for s in seeds]),
        "student_kl": _mean_sd([by_seed[s]["kl"] for s in seeds]),
        "student_task_accuracy": _mean_sd([by_seed[s]["task_accuracy"] for s in seeds]),
        "fidelity_gain": _mean_sd(gains),
        "gain_cut": gain_cut,
        "gain_cut_per_accuracy_point": per_point,
        "meets_goal": meets,
    }


def best_response(rows: list[dict]) -> list[dict[str, Any]]:
    """Per condition, the distiller's best method: the largest mean gain of any method on its answers.

    Text that a countermeasure left unchanged trains the same SFT student as the
    reference's, so a log-prob defence's SFT gain is the reference's SFT gain.
    The cut is against the reference's best method.
    """
    gains: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    costs: dict[str, float | None] = {}
    for row in rows:
        if row["fidelity_gain"]:
            gains.setdefault(row["condition"], {})[row["method"]] = row["fidelity_gain"]["mean"]
            kinds[row["condition"]] = row["kind"]
            costs[row["condition"]] = row.get("teacher_accuracy_cost_relative")
    reference = gains.get("reference", {})
    if not reference:
        return []
    best_ref = max(reference.values())
    out = []
    for name, by_method in gains.items():
        if not parse_condition(name).changes_text and "sft" in reference:
            by_method = {**by_method, "sft": reference["sft"]}
        method, gain = max(by_method.items(), key=lambda kv: kv[1])
        cut = 1 - gain / best_ref if best_ref > 0 else None
        cost = costs[name]
        out.append(
            {
                "condition": name,
                "kind": kinds[name],
                "best_method": method,
                "best_gain": gain,
                "gain_cut": cut,
                "teacher_accuracy_cost_relative": cost,
                "meets_goal": bool(
                    name != "reference"
                    and cut is not None
                    and cut >= GOAL_GAIN_CUT
                    and cost is not None
                    and cost <= GOAL_RELATIVE_ACCURACY_COST
                ),
            }
        )
    return out


def _cell(stat: dict | None, digits: int = 3) -> str:
    if not stat:
        return "–"
    sd = f" ± {stat['sd']:.{digits}f}" if stat.get("sd") is not None else ""
    return f"{stat['mean']:.{digits}f}{sd}"


def _pm(value: float | None, se: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")


def markdown(result: dict[str, Any]) -> str:
    """The frontier as a Markdown table: one row per condition and training method."""
    lines = [
        "| condition | student by | teacher task acc. | acc. cost (points) | teacher ppl (undefended) "
        "| teacher agreement | student agreement | student KL | student task acc. | gain cut | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        t = row["teacher"]
        lines.append(
            f"| {row['condition']} | {row['method']} "
            f"| {_pm(t['task_accuracy'], t.get('task_accuracy_se'), 3)} "
            f"| {_pm(row['teacher_accuracy_cost_points'], row.get('teacher_accuracy_cost_se'), 1)} "
            f"| {_pm(t['perplexity'], t.get('perplexity_se'), 2)} "
            f"| {_pm(t['agreement_with_undefended'], t.get('agreement_se'), 3)} "
            f"| {_cell(row['student_agreement'])} | {_cell(row['student_kl'], 2)} "
            f"| {_cell(row['student_task_accuracy'])} | {_cell(row['gain_cut'], 2)} | {len(row['seeds'])} |"
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Left: SFT students' gain cut against the teacher's accuracy cost. Right: top-k KD students'
    gain cut per condition (log-prob defences leave the text, so the teacher's cost is zero)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {
        "reference": "black",
        "antidistill": "tab:red",
        "watermark": "tab:blue",
        "logprobs": "tab:green",
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for row in (r for r in result["rows"] if r["method"] == "sft" and r["gain_cut"]):
        x, y = row["teacher_accuracy_cost_points"], row["gain_cut"]
        left.errorbar(
            x, y["mean"], xerr=row.get("teacher_accuracy_cost_se") or 0, yerr=y["sd"] or 0, fmt="o",
            color=colors.get(row["kind"], "tab:purple"), capsize=3,
        )  # fmt: skip
        left.annotate(row["condition"], (x, y["mean"]), fontsize=7, xytext=(3, 4), textcoords="offset points")
    goal_x = 100 * GOAL_RELATIVE_ACCURACY_COST * result["reference_teacher"]["task_accuracy"]
    left.axhline(GOAL_GAIN_CUT, color="grey", ls=":", lw=1)
    left.axvline(goal_x, color="grey", ls=":", lw=1)
    left.set_xlabel("teacher task accuracy lost (points, paired by prompt; ± se)")
    left.set_ylabel("student fidelity gain cut (± sd over seeds)")
    left.set_title(f"SFT students on {result['train_answers']} defended answers")
    kd = [r for r in result["rows"] if r["method"] == "topk-kd" and r["gain_cut"]]
    for i, row in enumerate(kd):
        y = row["gain_cut"]
        right.errorbar(
            i, y["mean"], yerr=y["sd"] or 0, fmt="o", color=colors.get(row["kind"], "tab:purple"), capsize=3
        )
    right.set_xticks(range(len(kd)), [r["condition"] for r in kd], rotation=30, ha="right", fontsize=8)
    right.axhline(GOAL_GAIN_CUT, color="grey", ls=":", lw=1)
    right.set_ylim(min(-0.1, *(r["gain_cut"]["mean"] - 0.1 for r in kd)) if kd else -0.1, 1.05)
    right.set_ylabel("student fidelity gain cut (± sd over seeds)")
    right.set_title("top-k KD students (teacher text unchanged: cost 0)")
    fig.suptitle(
        "utility vs distillability; dotted: the goal (≥ 50 % cut for ≤ 5 % of the teacher's accuracy)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
