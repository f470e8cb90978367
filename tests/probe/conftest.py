"""Real servers on loopback for the probes: the tiny model (hidden 64) and two 'sharp' tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_url(tiny_model_dir: Path) -> Iterator[str]:
    from distillscope.serving import ServeSettings, serve

    with serve(ServeSettings(model=str(tiny_model_dir), port=0)) as url:
        yield url


def _sharp_model(out: Path, teacher_dir: Path, seed: int) -> Path:
    """A random 2-layer model with a sharpened, untied LM head, so that samples concentrate.

    (A tied random model mostly repeats its input token; an untied one at temperature 1 is
    near-uniform over 49k tokens. Scaling the head makes distributions peaked but distinct.)
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from distillscope.models import tiny_model_config

    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir))
    config = tiny_model_config(vocab_size=len(tokenizer))
    config.tie_word_embeddings = False
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(40)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def sharp_urls(teacher_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from distillscope.serving import ServeSettings, serve

    a = _sharp_model(tmp_path_factory.mktemp("sharp-a"), teacher_dir, 0)
    b = _sharp_model(tmp_path_factory.mktemp("sharp-b"), teacher_dir, 1)
    with (
        serve(ServeSettings(model=str(a), served_model_name="sharp-a", port=0)) as url_a,
        serve(ServeSettings(model=str(b), served_model_name="sharp-b", port=0)) as url_b,
    ):
        yield url_a, url_b
