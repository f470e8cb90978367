"""Batched generation from a local causal LM, with optional top-k log-probs in OpenAI's wire format.

Used by evaluation (greedy continuations of teacher and student), the active
strategy's probe, and to write teacher exchanges straight from a local model
(the same ``logprobs.content`` shape an OpenAI-compatible API returns: decoded
token text, its UTF-8 ``bytes``, and ``top_logprobs``). Log-probs are those of
the model's raw next-token distribution (temperature 1), as APIs report them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from distillscope.models.runtime import prompt_ids
from distillscope.models.tokens import unicode_to_bytes
from distillscope.records import Exchange, new_exchange_id
from distillscope.train.vocab import is_byte_level


@dataclass
class Generation:
    text: str
    ids: list[int]
    finish_reason: str
    logprobs: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _token_bytes(tokenizer: Any, token_id: int, byte_level: bool) -> bytes:
    if byte_level and token_id not in tokenizer.all_special_ids:
        decoder = unicode_to_bytes()
        raw = tokenizer.convert_ids_to_tokens(token_id)
        if all(ch in decoder for ch in raw):
            return bytes(decoder[ch] for ch in raw)
    return tokenizer.decode([token_id], skip_special_tokens=False).encode("utf-8")


def _entry(tokenizer: Any, token_id: int, logprob: float, byte_level: bool) -> dict[str, Any]:
    raw = _token_bytes(tokenizer, token_id, byte_level)
    return {"token": raw.decode("utf-8", errors="replace"), "logprob": logprob, "bytes": list(raw)}


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[list[dict[str, Any]]],
    max_new_tokens: int = 64,
    batch_size: int = 8,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_logprobs: int = 0,
    seed: int = 0,
    progress: Any = None,
) -> list[Generation]:
    """Answer each conversation through the chat template (left-padded batches)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id
    byte_level = is_byte_level(tokenizer)
    results: list[Generation] = []
    torch.manual_seed(seed)
    for start in range(0, len(conversations), batch_size):
        chunk = [prompt_ids(tokenizer, c) for c in conversations[start : start + batch_size]]
        width = max(len(p) for p in chunk)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        kwargs: dict[str, Any] = {"do_sample": do_sample, "max_new_tokens": max_new_tokens}
        if do_sample:
            kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            pad_token_id=pad,
            eos_token_id=eos,
            return_dict_in_generate=True,
            output_logits=top_logprobs > 0,
            **kwargs,
        )
        new = out.sequences[:, width:]
        for row, prompt in enumerate(chunk):
            results.append(
                _one(tokenizer, new[row].tolist(), out, row, eos, top_logprobs, byte_level, prompt)
            )
        if progress is not None:
            progress(len(chunk))
    return results


def _one(
    tokenizer: Any,
    ids: list[int],
    out: Any,
    row: int,
    eos: int,
    top_logprobs: int,
    byte_level: bool,
    prompt: list[int],
) -> Generation:
    finish = "length"
    if eos in ids:
        ids = ids[: ids.index(eos)]
        finish = "stop"
    logprobs = None
    if top_logprobs > 0:
        logprobs = []
        for step, token_id in enumerate(ids):
            dist = torch.log_softmax(out.logits[step][row].float(), dim=-1)
            values, indices = torch.topk(dist, top_logprobs)
            entry = _entry(tokenizer, token_id, float(dist[token_id]), byte_level)
            entry["top_logprobs"] = [
                _entry(tokenizer, int(i), float(v), byte_level)
                for v, i in zip(values.tolist(), indices.tolist(), strict=True)
            ]
            logprobs.append(entry)
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return Generation(text, ids, finish, logprobs, len(prompt))


def exchanges_from_model(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[list[dict[str, Any]]],
    teacher_name: str,
    max_new_tokens: int = 64,
    top_logprobs: int = 20,
    temperature: float = 0.0,
    batch_size: int = 8,
    seed: int = 0,
    metas: Sequence[dict[str, Any]] | None = None,
    strategy: str = "local",
    progress: Any = None,
    price_per_million: tuple[float, float] = (0.0, 0.0),
) -> list[Exchange]:
    """Teacher exchanges written as harvest writes them, generated directly from a local model.

    ``price_per_million`` = (input, output) USD per million tokens, to give the
    exchanges a ``cost_usd`` as a priced API would (a local model costs nothing).
    """
    generations = generate(
        model,
        tokenizer,
        conversations,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        do_sample=temperature > 0,
        temperature=temperature or 1.0,
        top_logprobs=top_logprobs,
        seed=seed,
        progress=progress,
    )
    now = time.time()
    params = {"temperature": temperature, "max_tokens": max_new_tokens, "logprobs": True}
    params["top_logprobs"] = top_logprobs
    out = []
    for index, (messages, gen) in enumerate(zip(conversations, generations, strict=True)):
        meta = dict(metas[index]) if metas else {}
        out.append(
            Exchange(
                id=new_exchange_id(),
                ts=now + index * 1e-3,
                account="local",
                messages=list(messages),
                model=teacher_name,
                endpoint="/v1/chat/completions",
                params=params,
                response_text=gen.text,
                finish_reason=gen.finish_reason,
                prompt_tokens=gen.prompt_tokens,
                completion_tokens=len(gen.ids),
                logprobs=gen.logprobs,
                cost_usd=(gen.prompt_tokens * price_per_million[0] + len(gen.ids) * price_per_million[1])
                / 1e6,
                provenance={"teacher": teacher_name, "strategy": strategy, "query_meta": meta},
                status=200,
            )
        )
    return out
