"""The utility-vs-distillability frontier: what each countermeasure costs the teacher and the distiller.

For each countermeasure at several strengths, the embedded teacher (SmolLM2-135M-
Instruct) is served by a real loopback ``distillscope serve`` with that
countermeasure on (the same settings as the CLI's ``--antidistill-lambda``,
``--watermark-delta``, ``--logprob-*``), and answers the same training prompts of
a task it can do (reasoning-gym ``chain_sum`` with two one-digit terms), seeded
sampling at temperature 0.7 with ``top_logprobs: 5``, through the official
``openai`` client. Then:

- **teacher utility** of the defended answers: task accuracy (reasoning-gym's
  ``score_answer``), perplexity of the answers under the *undefended* teacher,
  and agreement (share of answer tokens that are the undefended teacher's top-1);
- **distillability**: a fresh layer-subset student (``--student-layers``) trained
  on the same number of defended answers (``train_student``: SFT for every
  condition, top-k KD for the log-prob defences and the reference), scored on
  held-out prompts against the *undefended* teacher's greedy answers (top-1
  agreement, KL) and on held-out task items, once per seed.

The undefended teacher is the reference point; the untrained student is the floor.
``gain`` = agreement − untrained agreement; ``gain_cut`` = 1 − gain / reference
gain (same method, same seed). Everything is cached under ``--out``, so a stopped
run resumes; ``--report`` only rebuilds the JSON and the plot.

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python bench/defend.py --seeds 0,1,2
    PYTHONPATH=$PWD .venv/bin/python bench/defend.py --report
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TASK = "chain_sum:min_terms=2:max_terms=2:max_digits=1"
EVIDENCE = Path("docs/evidence/defend")

#: condition name -> (kind, ServeSettings options, training methods)
CONDITIONS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "reference": ("reference", {}, ("sft", "topk-kd")),
    "antidistill-0.5": ("antidistill", {"antidistill_lambda": 0.5}, ("sft",)),
    "antidistill-1": ("antidistill", {"antidistill_lambda": 1.0}, ("sft",)),
    "antidistill-3": ("antidistill", {"antidistill_lambda": 3.0}, ("sft",)),
    "watermark-1": ("watermark", {"watermark_delta": 1.0}, ("sft",)),
    "watermark-2": ("watermark", {"watermark_delta": 2.0}, ("sft",)),
    "watermark-4": ("watermark", {"watermark_delta": 4.0}, ("sft",)),
    "noise-0.5": ("logprobs", {"logprob_noise": 0.5}, ("topk-kd",)),
    "noise-1": ("logprobs", {"logprob_noise": 1.0}, ("topk-kd",)),
    "noise-2": ("logprobs", {"logprob_noise": 2.0}, ("topk-kd",)),
    "top1-hidetail": ("logprobs", {"logprob_max_top": 1, "logprob_hide_tail": True}, ("topk-kd",)),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def conversations(size: int, seed: int) -> tuple[list[Any], list[list[dict[str, str]]]]:
    from distillscope.evaluate.tasks import INSTRUCTION, task_items

    items = task_items([TASK], size, seed)
    return items, [[{"role": "user", "content": item["question"] + INSTRUCTION}] for _, _, item in items]


def downstream_file(out: Path) -> Path:
    """What antidistillation defends: the task's questions with their right answers (another seed)."""
    path = out / "downstream.txt"
    if not path.exists():
        items, _ = conversations(32, 5)
        lines = [f"{item['question']} Answer: {item['answer']}".replace("\n", " ") for _, _, item in items]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def harvest(out: Path, name: str, options: dict[str, Any], convs: list[Any], max_tokens: int) -> list[dict]:
    """The defended teacher's answers to ``convs`` through a real server (cached)."""
    path = out / "answers" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    import openai

    from distillscope.serving import ServeSettings, serve
    from distillscope.watermark.config import WatermarkSettings

    extra = dict(options)
    if "watermark_delta" in extra:
        extra["watermark"] = WatermarkSettings(mode="global", hashing_key=424242, delta=2.0)
    if "antidistill_lambda" in extra:
        extra["antidistill_downstream"] = str(downstream_file(out))
    settings = ServeSettings(port=0, threads=1, max_batch_size=16, **extra)
    started = time.monotonic()
    with serve(settings) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0, timeout=3600)
        model = client.models.list().data[0].id

        def ask(i: int) -> dict:
            answer = client.chat.completions.create(
                model=model,
                messages=convs[i],
                max_tokens=max_tokens,
                temperature=0.7,
                seed=1000 + i,
                logprobs=True,
                top_logprobs=5,
            )
            choice = answer.choices[0]
            return {
                "text": choice.message.content,
                "logprobs": [e.model_dump() for e in choice.logprobs.content],
                "completion_tokens": answer.usage.completion_tokens,
            }

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, range(len(convs))))
    log(f"{name}: {len(answers)} answers in {time.monotonic() - started:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    return answers


def write_dataset(out: Path, name: str, convs: list[Any], answers: list[dict]) -> Path:
    path = out / "datasets" / name / "exchanges.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
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
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path.parent


def teacher_utility(
    teacher: Any, tokenizer: Any, items: list[Any], convs: list[Any], answers: list[dict]
) -> dict:
    """Task accuracy of the answers; perplexity and top-1 agreement under the undefended teacher."""
    import torch

    from distillscope.evaluate.tasks import extract_answer
    from distillscope.models.runtime import prompt_ids

    correct, nll, agree, tokens = 0.0, 0.0, 0, 0
    for (_, dataset, item), messages, answer in zip(items, convs, answers, strict=True):
        extracted = extract_answer(answer["text"], str(item.get("answer")))
        correct += float(dataset.score_answer(answer=extracted, entry=item))
        prompt = prompt_ids(tokenizer, messages)
        ids = tokenizer(answer["text"], add_special_tokens=False)["input_ids"]
        if not ids:
            continue
        with torch.no_grad():
            logits = teacher(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        target = torch.tensor(ids)
        nll -= float(logp.gather(1, target[:, None]).sum())
        agree += int((logp.argmax(-1) == target).sum())
        tokens += len(ids)
    return {
        "task_accuracy": correct / len(items),
        "items": len(items),
        "perplexity": math.exp(nll / max(tokens, 1)),
        "agreement_with_undefended": agree / max(tokens, 1),
        "tokens": tokens,
    }


def train_and_score(
    out: Path, name: str, method: str, seed: int, dataset: Path, args: argparse.Namespace, evals: tuple
) -> dict:
    path = out / "scores" / f"{name}-{method}-s{seed}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from distillscope.train import TrainSettings, train_student

    started = time.monotonic()
    student_dir = train_student(
        TrainSettings(
            dataset=dataset,
            out=out / "students" / f"{name}-{method}-s{seed}",
            method=method,
            student_layers=args.student_layers,
            learning_rate=args.lr,
            batch_size=8,
            epochs=args.epochs,
            max_seq_len=160,
            seed=seed,
            save_every=10_000,
            threads=1,
            progress=False,
        )
    )
    trained = time.monotonic() - started
    from distillscope.models import load_model

    model, tokenizer = load_model(student_dir)
    result = score_student(model, tokenizer, out, evals)
    result.update({"condition": name, "method": method, "seed": seed, "train_s": round(trained, 1)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    log(f"{name} {method} seed {seed}: agreement {result['agreement']:.3f}, trained in {trained:.0f} s")
    return result


def score_student(model: Any, tokenizer: Any, out: Path, evals: tuple) -> dict:
    from distillscope.evaluate import evaluate_student
    from distillscope.evaluate.fidelity import student_greedy
    from distillscope.evaluate.tasks import task_accuracy

    eval_items, eval_convs = evals
    report = evaluate_student(
        (model, tokenizer),
        prompts=eval_convs,
        max_new_tokens=24,
        tasks=(),
        identity=False,
        reference_cache=out / "reference.json",
    )
    tasks = task_accuracy(lambda c: student_greedy(model, tokenizer, c, 32), eval_items)
    fidelity = report["fidelity"]
    return {
        "agreement": fidelity["agreement"],
        "kl": fidelity["kl"],
        "tokens": fidelity["tokens"],
        "task_accuracy": tasks["accuracy"],
        "task_items": tasks["items"],
    }


def run(args: argparse.Namespace) -> None:
    import torch

    from distillscope.models import build_student, load_model

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items, convs = conversations(args.n, 1)
    evals = conversations(args.eval_n, 777)
    teacher, tokenizer = load_model(None)
    untrained_path = out / "scores" / "untrained.json"
    if not untrained_path.exists():
        student = build_student(teacher, args.student_layers, tokenizer)
        untrained_path.parent.mkdir(parents=True, exist_ok=True)
        untrained_path.write_text(json.dumps(score_student(student, tokenizer, out, evals), indent=1))
    names = [n for n in CONDITIONS if not args.only or n in args.only.split(",")]
    reference = None
    for name in ["reference", *[n for n in names if n != "reference"]]:
        kind, options, _ = CONDITIONS[name]
        answers = harvest(out, name, options, convs, args.max_tokens)
        if name == "reference":
            reference = answers
        elif kind == "logprobs":
            same = [a["text"] for a in answers] == [a["text"] for a in reference or []]
            if not same:
                raise SystemExit(f"{name}: the log-prob defence changed the text, which it must not")
        utility_path = out / "utility" / f"{name}.json"
        if not utility_path.exists():
            utility_path.parent.mkdir(parents=True, exist_ok=True)
            utility = teacher_utility(teacher, tokenizer, items, convs, answers)
            utility_path.write_text(json.dumps(utility, indent=1))
        write_dataset(out, name, convs, answers)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in ["reference", *[n for n in names if n != "reference"]]:
            for method in CONDITIONS[name][2]:
                train_and_score(out, name, method, seed, out / "datasets" / name, args, evals)
    report(args)


def _mean_sd(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "runs": values,
    }


def report(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    untrained = json.loads((out / "scores" / "untrained.json").read_text())
    scores: dict[tuple[str, str], dict[int, dict]] = {}
    for path in sorted((out / "scores").glob("*-s*.json")):
        row = json.loads(path.read_text())
        scores.setdefault((row["condition"], row["method"]), {})[row["seed"]] = row
    utility = {p.stem: json.loads(p.read_text()) for p in (out / "utility").glob("*.json")}
    ref_util = utility["reference"]
    rows = []
    for (name, method), by_seed in sorted(scores.items()):
        ref = scores.get(("reference", method), {})
        seeds = sorted(s for s in by_seed if s in ref)
        gains = [by_seed[s]["agreement"] - untrained["agreement"] for s in seeds]
        ref_gains = [ref[s]["agreement"] - untrained["agreement"] for s in seeds]
        cuts = [1 - g / r for g, r in zip(gains, ref_gains, strict=True) if r > 0]
        util = utility.get(name, {})
        kind = CONDITIONS[name][0]
        accuracy_cost = ref_util["task_accuracy"] - util.get("task_accuracy", float("nan"))
        rows.append(
            {
                "condition": name,
                "kind": kind,
                "strength": CONDITIONS[name][1],
                "method": method,
                "seeds": seeds,
                "teacher": util,
                "teacher_accuracy_cost_points": 100 * accuracy_cost,
                "student_agreement": _mean_sd([by_seed[s]["agreement"] for s in seeds]),
                "student_kl": _mean_sd([by_seed[s]["kl"] for s in seeds]),
                "student_task_accuracy": _mean_sd([by_seed[s]["task_accuracy"] for s in seeds]),
                "fidelity_gain": _mean_sd(gains),
                "gain_cut": _mean_sd(cuts) if cuts else None,
            }
        )
    result = {
        "task": TASK,
        "train_answers": args.n,
        "eval_prompts": args.eval_n,
        "student_layers": args.student_layers,
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "max_tokens": args.max_tokens,
        "untrained_student": untrained,
        "rows": rows,
        "machine": "2-core CPU shared with other jobs, one torch thread, nice 10",
    }
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    (EVIDENCE / "frontier.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(result, EVIDENCE / "frontier.png")
    print(markdown(result))
    return result


def _cell(stat: dict | None, digits: int = 3) -> str:
    if not stat:
        return "–"
    sd = f" ± {stat['sd']:.{digits}f}" if stat.get("sd") is not None else ""
    return f"{stat['mean']:.{digits}f}{sd}"


def markdown(result: dict) -> str:
    """The frontier as a Markdown table (one row per condition and training method)."""
    lines = [
        "| condition | student by | teacher task acc. | teacher ppl (undefended) | teacher agreement "
        "| student agreement | student KL | student task acc. | gain cut | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(CONDITIONS)
    for row in sorted(result["rows"], key=lambda r: (r["method"], order.index(r["condition"]))):
        teacher = row["teacher"]
        lines.append(
            f"| {row['condition']} | {row['method']} | {teacher.get('task_accuracy', float('nan')):.3f} "
            f"| {teacher.get('perplexity', float('nan')):.2f} "
            f"| {teacher.get('agreement_with_undefended', float('nan')):.3f} "
            f"| {_cell(row['student_agreement'])} | {_cell(row['student_kl'], 2)} "
            f"| {_cell(row['student_task_accuracy'])} | {_cell(row['gain_cut'], 2)} | {len(row['seeds'])} |"
        )
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    colors = {
        "reference": "black",
        "antidistill": "tab:red",
        "watermark": "tab:blue",
        "logprobs": "tab:green",
    }
    for ax, method in zip(axes, ("sft", "topk-kd"), strict=True):
        for row in result["rows"]:
            if row["method"] != method:
                continue
            # SFT: the text changed, so its perplexity under the undefended teacher is the cost;
            # top-k KD: the text is the reference's, the x axis is the log-prob noise.
            x = row["teacher"]["perplexity"] if method == "sft" else row["strength"].get("logprob_noise", 0.0)
            y = row["student_agreement"]
            ax.errorbar(x, y["mean"], yerr=y["sd"] or 0, fmt="o", color=colors[row["kind"]], capsize=3)
            ax.annotate(
                row["condition"], (x, y["mean"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        ax.axhline(result["untrained_student"]["agreement"], color="grey", ls=":", label="untrained student")
        if method == "sft":
            ax.set_xscale("log")
            ax.set_xlabel("teacher cost: perplexity of its defended answers under the undefended teacher")
        else:
            ax.set_xlabel("log-prob noise sd (nats); the text is the reference's")
        ax.set_ylabel("student top-1 agreement with the undefended teacher")
        ax.set_title(f"student trained by {method} on {result['train_answers']} defended answers")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="runs/defend-frontier")
    parser.add_argument("--n", type=int, default=64, help="training prompts (answers per condition)")
    parser.add_argument("--eval-n", type=int, default=24, help="held-out prompts and task items")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--student-layers", default="spread:6")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--only", default="", help="comma-separated conditions (default: all)")
    parser.add_argument("--report", action="store_true", help="only rebuild the JSON and the plot")
    args = parser.parse_args()
    if args.report:
        report(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
