"""Answers of a local causal LM to chat conversations, with optional top-k log-probs in OpenAI's wire format.

The generation itself is :func:`distillscope.models.generate.generate` (prompts
rendered as the server renders them); this module adds the text and the wire
format. Used by evaluation (greedy continuations of teacher and student),
on-policy sampling, and to write teacher exchanges straight from a local model
(the same ``logprobs.content`` shape an OpenAI-compatible API returns: decoded
token text, its UTF-8 ``bytes``, and ``top_logprobs``). Log-probs are those of
the model's raw next-token distribution (temperature 1), as APIs report them.

This module must not load a model, score anything or hold a generation loop of its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from distillscope.models.generate import Generated, generate
from distillscope.models.runtime import prompt_ids
from distillscope.models.tokens import TokenTexts
from distillscope.records import Exchange, new_exchange_id


@dataclass
class Generation:
    text: str
    ids: list[int]
    finish_reason: str
    logprobs: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def generate_answers(
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
    """Answer each conversation as the server renders it (:func:`distillscope.models.generate.generate`);
    ``progress(n)`` is told how many conversations each batch answered."""
    prompts = [prompt_ids(tokenizer, c) for c in conversations]
    generated = generate(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
        do_sample=do_sample, temperature=temperature, seed=seed, keep_logits=top_logprobs > 0,
        progress=_increments(progress),
    )  # fmt: skip
    texts = TokenTexts(tokenizer)
    return [_one(tokenizer, texts, g, top_logprobs) for g in generated]


def _increments(progress: Any) -> Any:
    """Turn ``progress(n_more)`` into the ``progress(done, total)`` the model runtime calls."""
    if progress is None:
        return None
    told = [0]

    def tell(done: int, total: int) -> None:
        progress(done - told[0])
        told[0] = done

    return tell


def _one(tokenizer: Any, texts: TokenTexts, gen: Generated, top_logprobs: int) -> Generation:
    logprobs = None
    if top_logprobs > 0 and gen.logits is not None:
        logprobs = []
        for step, token_id in enumerate(gen.ids):
            dist = torch.log_softmax(gen.logits[step], dim=-1)
            values, indices = torch.topk(dist, top_logprobs)
            entry = texts.entry(token_id, float(dist[token_id]))
            entry["top_logprobs"] = [
                texts.entry(int(i), float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)
            ]
            logprobs.append(entry)
    text = tokenizer.decode(gen.ids, skip_special_tokens=True)
    return Generation(text, gen.ids, gen.finish_reason, logprobs, gen.prompt_tokens)


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
    generations = generate_answers(
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
