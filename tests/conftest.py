"""Shared fixtures: the real embedded teacher (converted once) and tiny config-built models.

Tiny models use SmolLM2's real tokenizer and chat template with a 2-layer,
64-wide Llama body, so tests exercise the real text path in milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytest-xdist workers export COLUMNS=80, and rich fixes a console's width from COLUMNS when it is made
# (distillscope's console is made at import): CLI tables would be cut to 80 columns for the whole worker,
# whatever width a test asks for. Without it the width is read per print, as in a one-process run.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


@pytest.fixture(scope="session")
def teacher_dir() -> Path:
    """The embedded SmolLM2 teacher as a safetensors directory (converted on first use)."""
    from distillscope.models import embedded_teacher_dir

    return embedded_teacher_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(teacher_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer, saved as a Hugging Face directory."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from distillscope.models import tiny_model_config

    out = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir))
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_model_config(vocab_size=len(tokenizer)))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out
