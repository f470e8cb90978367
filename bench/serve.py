"""Benchmark: generated tokens/s of `distillscope serve` (local SmolLM2) against plain batched `generate`.

Both sides run in this process on the same model object, the same chat prompts,
greedy decoding and exactly ``--max-tokens`` new tokens per request (EOS is
suppressed on both sides, so the work is identical). The baseline is transformers'
``model.generate`` on left-padded batches of ``--batch-size`` (8); the server is
measured through the official ``openai`` client over real HTTP on loopback at each
concurrency level (closed loop: each client sends its next request when the last
one returns). It prints tokens/s and the ratios the server aims for:

- concurrency 8 >= 0.8x batched generate (batch 8);
- concurrency 8 >= 3x the server's own concurrency 1.

Both sides use one torch thread by default (``--threads``): on a shared CPU, intra-op
thread hand-offs make every small op wait for a time slice, which swamps both
sides with noise. Absolute numbers on a shared 2-core machine are noise; the
ratios are the point.
The baseline runs before and after the server levels and its mean is used, so
drifting load on the machine hits both sides.

    .venv/bin/python bench/serve.py                       # a few minutes on an idle 2-core CPU
    .venv/bin/python bench/serve.py --max-tokens 128 --rounds 4 --concurrency 1,8,16,32,64 --threads 0
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a compiler does.",
    "Give three tips for learning a new language.",
    "What causes the seasons on Earth?",
    "Describe a cat to someone who has never seen one.",
    "How do vaccines work?",
    "Write a short poem about autumn.",
    "What is the difference between weather and climate?",
    "Suggest a name for a friendly robot.",
    "Why is the sky blue?",
    "List some healthy breakfast ideas.",
    "What is photosynthesis?",
    "How does a bicycle stay upright?",
    "Tell me a fun fact about octopuses.",
    "What is machine learning in one paragraph?",
]


@dataclass
class Result:
    label: str
    concurrency: int
    requests: int
    tokens: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def chat_ids(tokenizer: Any, prompt: str) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"])


def run_generate(model: Any, tokenizer: Any, prompts: list[str], batch_size: int, max_tokens: int) -> Result:
    """Plain transformers generate, greedy, left-padded batches, exactly max_tokens new tokens each."""
    import torch

    tokenizer.padding_side = "left"
    tokens = 0
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            batch = [chat_ids(tokenizer, p) for p in prompts[start : start + batch_size]]
            width = max(len(ids) for ids in batch)
            pad = tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_tokens,
                min_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
            tokens += (out.shape[1] - width) * len(batch)
    return Result(
        f"generate (batch {batch_size})", batch_size, len(prompts), tokens, time.perf_counter() - started
    )


async def run_server_level(
    base_url: str, model_name: str, prompts: list[str], concurrency: int, max_tokens: int, eos: list[int]
) -> Result:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=3600)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts:
        queue.put_nowait(prompt)
    tokens = 0

    async def worker() -> None:
        nonlocal tokens
        while not queue.empty():
            prompt = queue.get_nowait()
            response = await client.chat.completions.create(
                model=model_name,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0,
                logit_bias={str(t): -100 for t in eos},
            )
            tokens += response.usage.completion_tokens

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.close()
    return Result(f"server (concurrency {concurrency})", concurrency, len(prompts), tokens, elapsed)


def prompts_for(count: int) -> list[str]:
    return [PROMPTS[i % len(PROMPTS)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None, help="model directory (default: the embedded SmolLM2)")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per request (default 64)")
    parser.add_argument("--batch-size", type=int, default=8, help="baseline generate batch size (default 8)")
    parser.add_argument("--concurrency", default="1,8,32", help="server concurrency levels (default 1,8,32)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="scale: the baseline runs 16 x rounds prompts; concurrency 1 gets 4 x rounds requests, "
        "concurrency c >= 2 gets max(16, c) x rounds (default 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for both sides (default 1: on a shared CPU, thread hand-offs make small "
        "ops slow and the numbers erratic; 0 = torch's default)",
    )
    args = parser.parse_args()

    import torch

    from distillscope.models import load_model
    from distillscope.server.app import create_app
    from distillscope.server.backends.local import LocalBackend
    from distillscope.server.runner import serve_in_thread

    threads = args.threads or None
    if threads:
        torch.set_num_threads(threads)
    levels = [int(c) for c in args.concurrency.split(",")]
    model, tokenizer = load_model(args.model)
    backend = LocalBackend(model, tokenizer, max_batch_size=max(levels), threads=threads)
    eos = sorted(backend.engine.eos_token_ids)
    baseline_prompts = prompts_for(16 * args.rounds)
    print(
        f"model={args.model or 'smollm2-135m-instruct'} max_tokens={args.max_tokens} "
        f"torch_threads={torch.get_num_threads()} levels={levels} rounds={args.rounds}",
        flush=True,
    )

    run_generate(model, tokenizer, baseline_prompts[:2], 2, 4)  # warm-up
    before = run_generate(model, tokenizer, baseline_prompts, args.batch_size, args.max_tokens)
    print(f"  {before.label:<28} {before.rate:8.1f} tok/s  (before the server runs)", flush=True)
    results: list[Result] = []
    with serve_in_thread(create_app(backend, model_name="bench")) as base_url:
        asyncio.run(run_server_level(base_url, "bench", prompts_for(2), 2, 4, eos))  # warm-up
        for level in levels:
            count = args.rounds * (4 if level == 1 else max(16, level))
            result = asyncio.run(
                run_server_level(base_url, "bench", prompts_for(count), level, args.max_tokens, eos)
            )
            results.append(result)
            print(
                f"  {result.label:<28} {result.rate:8.1f} tok/s  (max rows in a step so far: "
                f"{backend.engine.stats['max_rows']})",
                flush=True,
            )
    after = run_generate(model, tokenizer, baseline_prompts, args.batch_size, args.max_tokens)
    print(f"  {after.label:<28} {after.rate:8.1f} tok/s  (after the server ran)", flush=True)

    baseline = (before.rate + after.rate) / 2
    single = next((r.rate for r in results if r.concurrency == 1), None)
    print()
    print(f"{'run':<30}{'requests':>9}{'tokens':>8}{'seconds':>9}{'tok/s':>9}{'x generate':>12}{'x c=1':>11}")
    print(
        f"{'generate (mean of 2 runs)':<30}{before.requests:>9}{before.tokens:>8}"
        f"{(before.seconds + after.seconds) / 2:>9.1f}{baseline:>9.1f}{1.0:>12.2f}{'':>11}"
    )
    for r in results:
        vs_single = f"{r.rate / single:>11.2f}" if single else f"{'':>11}"
        print(
            f"{r.label:<30}{r.requests:>9}{r.tokens:>8}{r.seconds:>9.1f}{r.rate:>9.1f}"
            f"{r.rate / baseline:>12.2f}{vs_single}"
        )
    at8 = next((r for r in results if r.concurrency == 8), None)
    if at8 is not None:
        print()
        print(
            f"goal: concurrency 8 >= 0.8x batched generate: {at8.rate / baseline:.2f}x "
            f"{'MET' if at8.rate / baseline >= 0.8 else 'MISSED'}"
        )
        if single:
            print(
                f"goal: concurrency 8 >= 3x concurrency 1:      {at8.rate / single:.2f}x "
                f"{'MET' if at8.rate / single >= 3 else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
