"""Training throughput and peak memory: `train --method sft` vs TRL SFTTrainer, topk-kd and on-policy vs sft.

Same student (the layer-subset copy of the embedded teacher unless --student),
same data (reasoning-gym gsm_symbolic worked answers as the teacher's text, with
the teacher's top-k log-probs computed by ``models.generate.teacher_force``), same batch
size, sequence cap, learning rate and number of steps. Each arm runs in a fresh
child process (spawned by this one, one after another) so that its peak RSS is
its own; the ratios printed compare arms of this one run.

The on-policy arm runs the whole loop of ``train --method on-policy``: the student
samples (``--sample-tokens``), the embedded teacher behind a real loopback server
(in the arm's process, sharing its CPU) scores every sample through
``/v1/completions`` with echo + top-5 logprobs, and the student takes a reverse-KL
step. It reports its training tokens/s over the whole loop (sampling and scoring
included), sampled tokens/s, and teacher scoring calls per second (of scoring
time, and of the whole loop).

With every arm in one run (the default), the on-policy loop's tokens/s is also a ratio
against TRL's SFTTrainer (``on_policy_vs_trl``), the baseline of the same process.

Run: .venv/bin/python bench/train.py [--steps 6 --batch-size 4 --examples 48 --top-k 20]
     .venv/bin/python bench/train.py --arms sft,on-policy   (a subset of the arms)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any


def make_dataset(out: Path, examples: int, top_k: int, student_layers: str) -> Path:
    """Exchanges with teacher text and teacher-forced top-k log-probs (harvest's wire format)."""
    import reasoning_gym
    import torch

    from distillscope.models import load_model
    from distillscope.models.generate import pad_token_id, teacher_force
    from distillscope.models.runtime import prompt_ids
    from distillscope.models.tokens import TokenTexts
    from distillscope.records import Exchange, write_jsonl

    model, tokenizer = load_model()
    items = list(reasoning_gym.create_dataset("gsm_symbolic", size=examples, seed=7))
    chats = [[{"role": "user", "content": item["question"]}] for item in items]
    answers = [
        tokenizer.encode(item["metadata"]["answer_cot"], add_special_tokens=False)[:128] for item in items
    ]
    pairs = [
        (prompt_ids(tokenizer, messages), answer) for messages, answer in zip(chats, answers, strict=True)
    ]
    forced = teacher_force(
        model, pairs, batch_size=1, max_length=None, pad_id=pad_token_id(tokenizer), keep_dist=True
    )
    texts = TokenTexts(tokenizer)
    rows = []
    for i, (messages, answer_ids, view) in enumerate(zip(chats, answers, forced, strict=True)):
        content = []
        if answer_ids:
            values, indices = torch.topk(view.dist, top_k, dim=-1)
            for pos, (token_id, logprob) in enumerate(zip(answer_ids, view.logprobs, strict=True)):
                entry = texts.entry(token_id, logprob)
                entry["top_logprobs"] = [
                    texts.entry(int(t), float(v))
                    for v, t in zip(values[pos].tolist(), indices[pos].tolist(), strict=True)
                ]
                content.append(entry)
        text = tokenizer.decode(answer_ids)
        rows.append(
            Exchange(id=f"b{i}", ts=float(i), account="bench", messages=messages, response_text=text,
                     finish_reason="length", logprobs=content, cost_usd=0.0)
        )  # fmt: skip
    path = out / "exchanges.jsonl"
    write_jsonl(rows, path)
    return path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def arm_distillscope(args: dict[str, Any], method: str, queue: Any) -> None:
    import torch

    from distillscope.exchanges import load_dataset
    from distillscope.train.data import build_examples
    from distillscope.train.loop import fit
    from distillscope.train.settings import TrainSettings
    from distillscope.train.student import make_student

    torch.set_num_threads(args["threads"])
    settings = TrainSettings(
        method=method, batch_size=args["batch_size"], max_steps=args["steps"], epochs=1000.0,
        max_seq_len=args["max_len"], learning_rate=5e-5, progress=False, student_layers=args["layers"],
    )  # fmt: skip
    model, tokenizer, _ = make_student(settings)
    examples, _ = build_examples(
        load_dataset(args["data"]), tokenizer, settings.max_seq_len, settings.uses_kd
    )
    start = time.perf_counter()
    report = fit(model, examples, settings, tokenizer.pad_token_id)
    seconds = time.perf_counter() - start
    queue.put({"tokens": report.tokens, "seconds": seconds, "peak_mb": _peak_mb()})


def arm_trl(args: dict[str, Any], queue: Any) -> None:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from distillscope.records import read_exchanges
    from distillscope.train.settings import TrainSettings
    from distillscope.train.student import make_student

    torch.set_num_threads(args["threads"])
    model, tokenizer, _ = make_student(TrainSettings(student_layers=args["layers"]))
    rows = [
        {"prompt": e.messages, "completion": [{"role": "assistant", "content": e.response_text}]}
        for e in read_exchanges(args["data"])
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(
            output_dir=tmp, per_device_train_batch_size=args["batch_size"], max_steps=args["steps"],
            learning_rate=5e-5, max_length=args["max_len"], report_to="none", save_strategy="no",
            logging_strategy="no", use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
            completion_only_loss=True, bf16=False, gradient_checkpointing=False,  # like ours: no recompute
        )  # fmt: skip
        trainer = SFTTrainer(
            model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer
        )
        tokens = [0]
        collator = trainer.data_collator

        def counting(features: list[dict[str, Any]]) -> dict[str, Any]:
            batch = collator(features)
            tokens[0] += (
                int(batch["attention_mask"].sum())
                if "attention_mask" in batch
                else batch["input_ids"].numel()
            )
            return batch

        trainer.data_collator = counting
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    queue.put({"tokens": tokens[0], "seconds": seconds, "peak_mb": _peak_mb()})


def arm_onpolicy(args: dict[str, Any], queue: Any) -> None:
    import torch

    from distillscope.exchanges import load_dataset, prompt_messages
    from distillscope.models.runtime import prompt_ids
    from distillscope.train.data import Example
    from distillscope.train.loop import fit
    from distillscope.train.onpolicy import OnPolicyBatches, open_scorer
    from distillscope.train.settings import TrainSettings
    from distillscope.train.student import make_student

    torch.set_num_threads(args["threads"])
    settings = TrainSettings(
        method="on-policy", alpha=1.0, batch_size=args["batch_size"], max_steps=args["steps"], epochs=1000.0,
        max_seq_len=args["max_len"], learning_rate=5e-5, progress=False, student_layers=args["layers"],
        sample_tokens=args["sample_tokens"], score_top_k=5,
    )  # fmt: skip
    model, tokenizer, _ = make_student(settings)
    conversations = [prompt_messages(e) for e in load_dataset(args["data"]).exchanges]
    with tempfile.TemporaryDirectory() as tmp, open_scorer(settings, Path(tmp)) as scorer:
        scorer.detect()
        batches = OnPolicyBatches(settings, tokenizer, conversations, scorer, None)
        examples = [Example(prompt_ids(tokenizer, c), [], []) for c in conversations]
        start = time.perf_counter()
        report = fit(model, examples, settings, batches.pad, batch_loss=batches, steps=args["steps"])
        seconds = time.perf_counter() - start
        calls, scoring_s = scorer.stats.calls, scorer.stats.seconds
    counters = batches.counters
    queue.put(
        {
            "tokens": report.tokens, "seconds": seconds, "peak_mb": _peak_mb(),
            "sampled_tokens": counters.sampled_tokens, "sample_seconds": counters.sample_seconds,
            "sampled_tokens_per_s": counters.sampled_tokens / max(counters.sample_seconds, 1e-9),
            "teacher_calls": calls, "scoring_seconds": scoring_s,
            "teacher_calls_per_s": calls / max(scoring_s, 1e-9), "loop_calls_per_s": calls / seconds,
        }
    )  # fmt: skip


def run_arm(target: Any, *extra: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*extra, queue))
    process.start()
    result = queue.get()
    process.join()
    result["tokens_per_s"] = result["tokens"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--layers", default="every-other", help="student layers (distillscope rule)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample-tokens", type=int, default=32, help="on-policy: longest student sample")
    parser.add_argument("--arms", default="trl_sft,sft,topk_kd,on_policy", help="which arms to run")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp), args.examples, args.top_k, args.layers)
        shared = {"data": str(data), "batch_size": args.batch_size, "steps": args.steps}
        shared |= {"max_len": args.max_len, "layers": args.layers, "threads": args.threads}
        shared["sample_tokens"] = args.sample_tokens
        arms = {
            "trl_sft": (arm_trl, shared),
            "sft": (arm_distillscope, shared, "sft"),
            "topk_kd": (arm_distillscope, shared, "topk-kd"),
            "on_policy": (arm_onpolicy, shared),
        }
        wanted = [a.strip().replace("-", "_") for a in args.arms.split(",") if a.strip()]
        unknown = sorted(set(wanted) - set(arms))
        if unknown:
            parser.error(f"unknown arms {unknown}; choose from {', '.join(arms)}")
        results = {name: run_arm(*arms[name]) for name in arms if name in wanted}
    print(f"settings: {vars(args)}")
    print(f"{'arm':<10} {'tokens/s':>10} {'peak RSS MB':>12} {'seconds':>9}")
    for name, r in results.items():
        print(f"{name:<10} {r['tokens_per_s']:>10.1f} {r['peak_mb']:>12.0f} {r['seconds']:>9.1f}")
    if "on_policy" in results:
        r = results["on_policy"]
        print(
            f"on-policy loop: {r['sampled_tokens_per_s']:.1f} sampled tokens/s while sampling, "
            f"{r['teacher_calls_per_s']:.2f} teacher calls/s while scoring, "
            f"{r['loop_calls_per_s']:.2f} calls/s over the loop"
        )
    pairs = {
        "sft_vs_trl": ("sft", "trl_sft"),
        "topk_vs_sft": ("topk_kd", "sft"),
        "on_policy_vs_sft": ("on_policy", "sft"),
        "on_policy_vs_trl": ("on_policy", "trl_sft"),
    }
    ratios = {}
    for name, (a, b) in pairs.items():
        if a in results and b in results:
            ratios[f"{name}_tokens_per_s"] = results[a]["tokens_per_s"] / results[b]["tokens_per_s"]
            ratios[f"{name}_peak_mem"] = results[a]["peak_mb"] / results[b]["peak_mb"]
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    if args.out:
        args.out.write_text(
            json.dumps({"settings": vars(args), "results": results, "ratios": ratios}, indent=2, default=str)
        )


if __name__ == "__main__":
    main()
