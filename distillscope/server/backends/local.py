"""The local backend: a transformers causal LM in-process, behind the batching engine.

It turns validated OpenAI requests into engine rows (chat template, token budget
against the context, per-row seed, logit_bias, logits processors, stop strings;
``n`` rows per prompt), bridges the engine thread's events into asyncio without
ever blocking the event loop, and shapes the answers as OpenAI JSON (full bodies
or stream chunks, logprobs in the chat and the legacy completions format). This
module must not parse HTTP or know about gateways.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.config import EMBEDDED_TEACHER
from distillscope.models.runtime import NoChatTemplateError, prompt_ids
from distillscope.models.tokens import TokenTexts
from distillscope.server.backends.base import BackendResult, RequestContext, fingerprint
from distillscope.server.backends.engine import (
    BatchEngine,
    DoneEvent,
    EngineClosedError,
    ErrorEvent,
    Event,
    PromptEvent,
    SamplingParams,
    Sequence,
    TokenEvent,
    TokenLogprob,
)
from distillscope.server.errors import APIError, invalid_request, server_error
from distillscope.server.schemas import ChatCompletionRequest, CompletionRequest, SamplingRequest

#: Completion budget when a chat request names no max_tokens (OpenAI's is the whole context).
DEFAULT_CHAT_MAX_TOKENS = 512
#: Most rows (prompts x n) one request may ask for: one request must not flood the batch queue.
MAX_ROWS_PER_REQUEST = 128


def default_model_name(model: str | os.PathLike[str] | None) -> str:
    """The id a model is served under: the embedded teacher's name, else the directory's name."""
    from distillscope.models import EMBEDDED_ALIASES

    if model is None or str(model).lower() in EMBEDDED_ALIASES:
        return EMBEDDED_TEACHER
    return Path(model).expanduser().resolve().name


@dataclass
class _Choice:
    """Everything one row produced."""

    prompt: list[TokenLogprob] | None = None
    tokens: list[TokenLogprob] = field(default_factory=list)  # the text's tokens
    eos: TokenLogprob | None = None  # the end-of-sequence token, when the row generated one
    text: str = ""
    finish_reason: str | None = None
    completion_tokens: int = 0


class _Generation:
    """The rows of one request, with their engine events bridged onto the event loop."""

    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        self.seqs: list[Sequence] = []
        self.open = 0

    def submit(self, rows: list[tuple[list[int], SamplingParams]]) -> None:
        for index, (ids, params) in enumerate(rows):
            seq = Sequence(ids, params, self._sink(index))
            self.seqs.append(seq)
        try:
            for seq in self.seqs:
                self.engine.submit(seq)
                self.open += 1
        except EngineClosedError as exc:
            self.cancel()
            raise APIError(503, str(exc), "server_error", code="shutting_down") from exc

    def _sink(self, index: int) -> Any:
        def sink(event: Event) -> None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (index, event))

        return sink

    def cancel(self) -> None:
        for seq in self.seqs:
            seq.cancel()

    async def events(self) -> AsyncIterator[tuple[int, Event]]:
        """Events of all rows until every row is done; cancels the rows if abandoned."""
        try:
            while self.open:
                index, event = await self.queue.get()
                if isinstance(event, ErrorEvent):
                    raise server_error(f"generation failed: {type(event.error).__name__}: {event.error}")
                if isinstance(event, DoneEvent):
                    self.open -= 1
                yield index, event
        finally:
            if self.open:
                self.cancel()

    async def collect(self) -> list[_Choice]:
        choices = [_Choice() for _ in self.seqs]
        async for index, event in self.events():
            choice = choices[index]
            if isinstance(event, PromptEvent):
                choice.prompt = event.tokens
            elif isinstance(event, TokenEvent):
                if event.eos:
                    choice.eos = event.token
                else:
                    choice.tokens.append(event.token)
            elif isinstance(event, DoneEvent):
                choice.text = event.text
                choice.finish_reason = event.finish_reason
                choice.completion_tokens = event.completion_tokens
        return choices


class LocalBackend:
    """A transformers model served with continuous batching."""

    kind = "local"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 32,
        default_max_tokens: int = DEFAULT_CHAT_MAX_TOKENS,
        identity: str = "local",
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.engine = BatchEngine(model, tokenizer, max_batch_size=max_batch_size, threads=threads)
        self.texts = TokenTexts(tokenizer)
        self.default_max_tokens = default_max_tokens
        self.fingerprint = fingerprint(identity)

    @classmethod
    def from_model_path(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        max_batch_size: int = 32,
        dtype: Any = None,
        threads: int | None = None,
    ) -> LocalBackend:
        """Load a local HF model directory (or the embedded teacher when None) and wrap it.

        ``threads`` sets the engine thread's torch intra-op threads (None: torch's default).
        """
        from distillscope.models import load_model, resolve_model_path

        model, tokenizer = load_model(path, dtype=dtype)
        identity = str(resolve_model_path(path))
        return cls(model, tokenizer, max_batch_size=max_batch_size, identity=identity, threads=threads)

    @property
    def context_length(self) -> int:
        return self.engine.context_length

    async def startup(self) -> None:
        self.engine.start()

    async def shutdown(self) -> None:
        await asyncio.to_thread(self.engine.close)

    def health(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "running_rows": self.engine.running,
            "max_batch_size": self.engine.max_batch_size,
            "context_length": self.engine.context_length,
            "engine": dict(self.engine.stats),
        }

    # -- chat ----------------------------------------------------------------------------

    async def chat(self, request: ChatCompletionRequest, ctx: RequestContext) -> BackendResult:
        messages = []
        for message in request.messages:
            item = {"role": message.role, "content": message.text()}
            if message.name:
                item["name"] = message.name
            messages.append(item)
        ids = self._chat_ids(messages)
        budget = self._budget(len(ids), request.token_limit, "messages", default=self.default_max_tokens)
        top = (request.top_logprobs or 0) if request.logprobs else None
        rows = [(ids, self._params(request, ctx, budget, i, top, False)) for i in range(request.n)]
        generation = _Generation(self.engine)
        generation.submit(rows)
        if request.stream:
            return self._chat_stream(generation, request, ctx, len(ids))
        choices = await generation.collect()
        return {
            **self._head(ctx, "chat.completion", "chatcmpl-"),
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c.text, "refusal": None},
                    "logprobs": {"content": [self._chat_logprob(t) for t in c.tokens], "refusal": None}
                    if request.logprobs
                    else None,
                    "finish_reason": c.finish_reason,
                }
                for i, c in enumerate(choices)
            ],
            "usage": _usage(len(ids), sum(c.completion_tokens for c in choices)),
        }

    def _chat_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        try:
            return prompt_ids(self.tokenizer, messages, transcript=False)
        except NoChatTemplateError:
            raise invalid_request(
                "this model has no chat template, so it cannot serve /v1/chat/completions; "
                "use /v1/completions with a plain prompt",
                param="messages",
                code="no_chat_template",
            ) from None
        except Exception as exc:  # jinja raises its own errors for message orders a template refuses
            raise invalid_request(
                f"the chat template rejected the messages: {exc}", param="messages"
            ) from exc

    async def _chat_stream(
        self, generation: _Generation, request: ChatCompletionRequest, ctx: RequestContext, prompt_tokens: int
    ) -> AsyncIterator[dict[str, Any]]:
        head = self._head(ctx, "chat.completion.chunk", "chatcmpl-")

        def chunk(index: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> dict:
            return {
                **head,
                "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
            }

        for index in range(request.n):
            yield chunk(index, {"role": "assistant", "content": "", "refusal": None})
        completion = 0
        async for index, event in generation.events():
            if isinstance(event, TokenEvent):
                if event.eos:  # chat answers, as OpenAI's, list the message's tokens only
                    continue
                if event.delta or request.logprobs:
                    logprobs = (
                        {"content": [self._chat_logprob(event.token)], "refusal": None}
                        if request.logprobs
                        else None
                    )
                    yield chunk(index, {"content": event.delta}, logprobs)
            elif isinstance(event, DoneEvent):
                completion += event.completion_tokens
                yield chunk(index, {"content": event.delta} if event.delta else {}, None, event.finish_reason)
        if request.include_usage:
            yield {**head, "choices": [], "usage": _usage(prompt_tokens, completion)}

    def _chat_logprob(self, token: TokenLogprob) -> dict[str, Any]:
        top = [self.texts.entry(i, lp) for i, lp in token.top or []]
        return self.texts.entry(token.token_id, token.logprob) | {"top_logprobs": top}

    # -- completions ---------------------------------------------------------------------

    async def complete(self, request: CompletionRequest, ctx: RequestContext) -> BackendResult:
        if len(request.prompts()) * request.n > MAX_ROWS_PER_REQUEST:
            raise invalid_request(
                f"this request asks for {len(request.prompts()) * request.n} completions (prompts x n); "
                f"at most {MAX_ROWS_PER_REQUEST} are allowed per request",
                param="prompt",
            )
        prompts = [self._prompt_ids(p) for p in request.prompts()]
        texts = [
            p if isinstance(p, str) else self.tokenizer.decode(ids)
            for p, ids in zip(request.prompts(), prompts, strict=True)
        ]
        rows = []
        for p, ids in enumerate(prompts):
            budget = self._budget(len(ids), request.max_tokens, "prompt", default=16)
            for i in range(request.n):
                index = p * request.n + i
                rows.append((ids, self._params(request, ctx, budget, index, request.logprobs, request.echo)))
        generation = _Generation(self.engine)
        generation.submit(rows)
        prompt_tokens = sum(len(ids) for ids in prompts)
        prompt_of = [texts[i // request.n] for i in range(len(rows))]
        if request.stream:
            return self._completion_stream(generation, request, ctx, prompt_tokens, prompt_of)
        choices = await generation.collect()
        out = []
        for i, c in enumerate(choices):
            prompt_text = prompt_of[i]
            logprobs = None
            if request.logprobs is not None:
                # Every generated token, EOS included: clients such as lm-evaluation-harness drop
                # the last entry as "the generated token"; without EOS they would drop a prompt token.
                generated = c.tokens + ([c.eos] if c.eos is not None else [])
                tokens = (c.prompt or []) + generated if request.echo else generated
                logprobs = self._legacy_logprobs(tokens, 0 if request.echo else len(prompt_text))
            text = prompt_text + c.text if request.echo else c.text
            out.append({"text": text, "index": i, "logprobs": logprobs, "finish_reason": c.finish_reason})
        return {
            **self._head(ctx, "text_completion", "cmpl-"),
            "choices": out,
            "usage": _usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
        }

    def _prompt_ids(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            ids = prompt_ids(self.tokenizer, text=prompt)
        else:
            vocab = self.engine.vocab
            bad = [t for t in prompt if not 0 <= t < vocab]
            if bad:
                raise invalid_request(
                    f"token ids {bad[:5]} are outside the vocabulary (0..{vocab - 1})", "prompt"
                )
            ids = list(prompt)
        if not ids:
            raise invalid_request("the prompt must not be empty", param="prompt")
        return ids

    async def _completion_stream(
        self,
        generation: _Generation,
        request: CompletionRequest,
        ctx: RequestContext,
        prompt_tokens: int,
        prompt_of: list[str],
    ) -> AsyncIterator[dict[str, Any]]:
        head = self._head(ctx, "text_completion", "cmpl-")
        offsets = [0 if request.echo else len(p) for p in prompt_of]
        want = request.logprobs is not None

        def chunk(index: int, text: str, tokens: list[TokenLogprob], finish: str | None = None) -> dict:
            logprobs = None
            if want and tokens:
                logprobs = self._legacy_logprobs(tokens, offsets[index])
                offsets[index] += sum(len(self.texts.text(t.token_id)) for t in tokens)
            choice = {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}
            return {**head, "choices": [choice]}

        completion = 0
        echoed: set[int] = set()
        async for index, event in generation.events():
            if request.echo and index not in echoed:
                echoed.add(index)
                prompt_tokens_lp = event.tokens if isinstance(event, PromptEvent) else []
                yield chunk(index, prompt_of[index], prompt_tokens_lp)
                if isinstance(event, PromptEvent):
                    continue
            if isinstance(event, TokenEvent):
                if event.delta or want:
                    yield chunk(index, event.delta, [event.token])
            elif isinstance(event, DoneEvent):
                completion += event.completion_tokens
                yield chunk(index, event.delta, [], event.finish_reason)
        if request.include_usage:
            yield {**head, "choices": [], "usage": _usage(prompt_tokens, completion)}

    def _legacy_logprobs(self, tokens: list[TokenLogprob], offset: int) -> dict[str, Any]:
        out: dict[str, list[Any]] = {
            "tokens": [],
            "token_logprobs": [],
            "top_logprobs": [],
            "text_offset": [],
        }
        for token in tokens:
            text = self.texts.text(token.token_id)
            out["tokens"].append(text)
            out["token_logprobs"].append(token.logprob)
            out["top_logprobs"].append(
                None if token.top is None else {self.texts.text(i): lp for i, lp in token.top}
            )
            out["text_offset"].append(offset)
            offset += len(text)
        return out

    # -- shared --------------------------------------------------------------------------

    def _budget(self, prompt_len: int, requested: int | None, param: str, default: int) -> int:
        """The completion budget, or a clear 400 when prompt + completion exceed the context."""
        limit = self.engine.context_length
        wanted = requested if requested is not None else min(default, limit - prompt_len)
        if wanted < 0 or prompt_len + wanted > limit or (requested is None and wanted == 0):
            asked = prompt_len + max(wanted, 1)
            raise APIError(
                400,
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{asked} tokens ({prompt_len} in the {param}, {asked - prompt_len} in the completion). "
                f"Please reduce the length of the {param} or completion.",
                code="context_length_exceeded",
                param=param,
            )
        return wanted

    def _params(
        self,
        request: SamplingRequest,
        ctx: RequestContext,
        budget: int,
        index: int,
        top_logprobs: int | None,
        echo: bool,
    ) -> SamplingParams:
        bias = request.bias()
        bad = [t for t in bias if t >= self.engine.vocab]
        if bad:
            raise invalid_request(
                f"logit_bias token ids {bad[:5]} are outside the vocabulary (0..{self.engine.vocab - 1})",
                param="logit_bias",
            )
        seed = request.seed
        if seed is not None and index:
            seed = (seed * 1_000_003 + index) % (1 << 62)
        return SamplingParams(
            max_new_tokens=budget,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=None if seed is None else seed % (1 << 62),
            stop=tuple(request.stop_list()),
            logit_bias=bias,
            top_logprobs=top_logprobs,
            echo_logprobs=echo,
            processors=list(ctx.processors),
        )

    def _head(self, ctx: RequestContext, obj: str, prefix: str) -> dict[str, Any]:
        return {
            "id": prefix + ctx.request_id,
            "object": obj,
            "created": ctx.created,
            "model": ctx.model_name,
            "system_fingerprint": self.fingerprint,
        }


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
