"""Hand-built exchanges datasets in harvest's format (OpenAI ``logprobs.content`` with token strings)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from distillscope.records import Exchange, write_jsonl

ANSWERS = [
    "The answer is 42.",
    "Paris is the capital of France.",
    "2 + 2 = 4, so the result is four.",
    "Hello! I am a helpful assistant.",
    "Sorting the words gives: apple, banana, cherry.",
    "Water boils at 100 degrees Celsius.",
]


def token_entry(tokenizer: Any, token_id: int, logprob: float) -> dict[str, Any]:
    text = tokenizer.decode([token_id])
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}


def logprobs_for(tokenizer: Any, text: str, k: int, rng: random.Random) -> list[dict[str, Any]]:
    """OpenAI-shaped logprobs.content for ``text``: the real token first, k-1 random alternatives."""
    content = []
    for token_id in tokenizer.encode(text, add_special_tokens=False):
        alternatives = rng.sample(range(100, 5000), k - 1)
        weights = [rng.random() + 0.1 for _ in range(k)]
        weights[0] += 2.0
        total = sum(weights) / 0.9  # the top-k hold 90% of the mass, 10% is tail
        top = [
            token_entry(tokenizer, i, math.log(w / total))
            for i, w in zip([token_id, *alternatives], weights, strict=True)
        ]
        entry = dict(top[0])
        entry["top_logprobs"] = top
        content.append(entry)
    return content


def make_exchanges(tokenizer: Any, n: int = 12, k: int = 5, seed: int = 0) -> list[Exchange]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        answer = ANSWERS[i % len(ANSWERS)]
        out.append(
            Exchange(
                id=f"ex{i}",
                ts=1000.0 + i,
                account="harvest",
                messages=[{"role": "user", "content": f"Question number {i}?"}],
                response_text=answer,
                finish_reason="stop",
                logprobs=logprobs_for(tokenizer, answer, k, rng),
                cost_usd=0.001,
                provenance={"teacher": "test-teacher", "strategy": "random"},
                status=200,
            )
        )
    return out


@pytest.fixture
def dataset_file(tiny_model_dir: Path, tmp_path: Path) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    path = tmp_path / "data" / "exchanges.jsonl"
    write_jsonl(make_exchanges(tokenizer), path)
    (path.parent / "manifest.json").write_text('{"terms": "test terms allow distillation"}')
    return path
