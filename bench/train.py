"""Training throughput and peak memory: `train --method sft` vs TRL's SFTTrainer, and topk-kd vs sft.

Same student (the layer-subset copy of the embedded teacher unless --student),
same data (reasoning-gym gsm_symbolic worked answers as the teacher's text, with
the teacher's top-k log-probs computed by one teacher-forced pass), same batch
size, sequence cap, learning rate and number of steps. Each arm runs in a fresh
child process (spawned by this one, one after another) so that its peak RSS is
its own; the ratios printed compare arms of this one run.

Run: .venv/bin/python bench/train.py [--steps 6 --batch-size 4 --examples 48 --top-k 20]
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

    from distillscope.evaluate.generate import _entry
    from distillscope.models import load_model
    from distillscope.records import Exchange, write_jsonl
    from distillscope.train.data import prompt_ids
    from distillscope.train.vocab import is_byte_level

    model, tokenizer = load_model()
    byte_level = is_byte_level(tokenizer)
    rows = []
    for i, item in enumerate(reasoning_gym.create_dataset("gsm_symbolic", size=examples, seed=7)):
        messages = [{"role": "user", "content": item["question"]}]
        answer_ids = tokenizer.encode(item["metadata"]["answer_cot"], add_special_tokens=False)[:128]
        prompt = prompt_ids(tokenizer, messages)
        with torch.no_grad():
            logits = model(torch.tensor([prompt + answer_ids])).logits[0, len(prompt) - 1 : -1]
        dist = torch.log_softmax(logits.float(), -1)
        values, indices = torch.topk(dist, top_k, dim=-1)
        content = []
        for pos, token_id in enumerate(answer_ids):
            entry = _entry(tokenizer, token_id, float(dist[pos, token_id]), byte_level)
            entry["top_logprobs"] = [
                _entry(tokenizer, int(t), float(v), byte_level)
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

    from distillscope.train.data import build_examples, load_dataset
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
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp), args.examples, args.top_k, args.layers)
        shared = {"data": str(data), "batch_size": args.batch_size, "steps": args.steps}
        shared |= {"max_len": args.max_len, "layers": args.layers, "threads": args.threads}
        results = {
            "trl_sft": run_arm(arm_trl, shared),
            "sft": run_arm(arm_distillscope, shared, "sft"),
            "topk_kd": run_arm(arm_distillscope, shared, "topk-kd"),
        }
    print(f"settings: {vars(args)}")
    print(f"{'arm':<10} {'tokens/s':>10} {'peak RSS MB':>12} {'seconds':>9}")
    for name, r in results.items():
        print(f"{name:<10} {r['tokens_per_s']:>10.1f} {r['peak_mb']:>12.0f} {r['seconds']:>9.1f}")
    ratios = {
        "sft_vs_trl_tokens_per_s": results["sft"]["tokens_per_s"] / results["trl_sft"]["tokens_per_s"],
        "sft_vs_trl_peak_mem": results["sft"]["peak_mb"] / results["trl_sft"]["peak_mb"],
        "topk_vs_sft_tokens_per_s": results["topk_kd"]["tokens_per_s"] / results["sft"]["tokens_per_s"],
        "topk_vs_sft_peak_mem": results["topk_kd"]["peak_mb"] / results["sft"]["peak_mb"],
    }
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    if args.out:
        args.out.write_text(
            json.dumps({"settings": vars(args), "results": results, "ratios": ratios}, indent=2, default=str)
        )


if __name__ == "__main__":
    main()
