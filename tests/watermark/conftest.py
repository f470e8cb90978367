"""Fixtures for the watermark tests: a master secret in the environment and a fast synthetic LM.

The synthetic LM draws each next token from random logits (plus the watermark
bias when a processor is given) over a small vocabulary, so statistical tests
can run hundreds of texts in seconds; the real tokenizer and tiny models are
used where the text path matters.
"""

from __future__ import annotations

import pytest
import torch

from distillscope.watermark import processor as processor_module
from distillscope.watermark.config import WatermarkSettings

SECRET = "test-master-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors on a shared 2-core machine: one thread is 5-10x faster than a contended pool."""
    from distillscope.watermark.greenlist import single_thread

    with single_thread():
        yield


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISTILLSCOPE_WATERMARK_SECRET", SECRET)
    processor_module._cached_processor.cache_clear()
    yield SECRET
    processor_module._cached_processor.cache_clear()


@pytest.fixture
def small_config(secret_env: str) -> WatermarkSettings:
    """Per-account keys over a 1000-token vocabulary (fast permutations)."""
    return WatermarkSettings(vocab_size=1000, delta=2.0, gamma=0.25, min_tokens=20)


def synthetic_texts(
    count: int,
    length: int,
    vocab: int,
    processor: object | None = None,
    seed: int = 0,
    peak: float = 2.0,
    allowed: list[int] | None = None,
) -> list[list[int]]:
    """Token sequences from a random 'language model', watermarked when ``processor`` is given.

    ``allowed`` restricts the language to a few tokens (a small, learnable one).
    """
    generator = torch.Generator().manual_seed(seed)
    pool = torch.tensor(allowed) if allowed else torch.arange(vocab)
    ids = pool[torch.randint(0, len(pool), (count, 1), generator=generator)]
    blocked = torch.full((vocab,), float("-inf"))
    blocked[pool] = 0.0
    for _ in range(length):
        logits = torch.randn(count, vocab, generator=generator) * peak + blocked
        if processor is not None:
            logits = processor(ids, logits)
        step = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        ids = torch.cat([ids, step], dim=1)
    return ids[:, 1:].tolist()


@pytest.fixture
def synth():
    """The synthetic generator above, as a fixture (test modules do not import conftest)."""
    return synthetic_texts


def train_tiny_student(sequences: list[list[int]], seed: int, steps: int, vocab: int = 1000) -> object:
    """A one-layer Llama fitted to ``sequences`` (the suspect student of the radioactivity tests)."""
    from transformers import LlamaForCausalLM

    from distillscope.models import tiny_model_config

    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_model_config(vocab_size=vocab, layers=1, hidden=64))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = torch.tensor(sequences)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = data[torch.randint(0, len(data), (16,), generator=generator)]
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


@pytest.fixture
def train_tiny():
    """The tiny student trainer above, as a fixture."""
    return train_tiny_student
