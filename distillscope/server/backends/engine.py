"""Continuous (iteration-level) batching of generation over one transformers causal LM.

One worker thread owns the model. Each loop iteration it admits waiting requests
(prefilled together, left-padded), merges them into the running batch at a step
boundary, runs one decode step for every running row through the model's forward
with its KV cache (``past_key_values``), and drops rows that finished. Every row
keeps its own sampling parameters, ``logit_bias``, logits processors, random
generator, stop strings and token budget, so batching never changes what a row
would produce alone (up to floating-point noise).

Results leave the thread through each :class:`Sequence`'s ``sink`` callback (the
local backend bridges it to an asyncio queue). This module must not know about
HTTP, OpenAI's JSON shapes or the event loop.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from distillscope.errors import DistillscopeError
from distillscope.models.runtime import cache_keyword
from distillscope.models.runtime import eos_token_ids as model_eos_ids
from distillscope.server.backends.textstream import TextStream

log = logging.getLogger("distillscope.server")

#: Reported log-probabilities are clamped here so JSON never carries -inf.
LOGPROB_FLOOR = -9999.0
#: ``logit_bias`` of exactly -100 bans a token outright (OpenAI's documented meaning).
BAN_BIAS = -100.0


@dataclass
class SamplingParams:
    """How one row is generated."""

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logit_bias: dict[int, float] = field(default_factory=dict)
    top_logprobs: int | None = None  # None: no logprobs; k: the chosen token's logprob and the top k
    echo_logprobs: bool = False  # also report the prompt's own token logprobs
    processors: list[Any] = field(default_factory=list)  # transformers LogitsProcessor, this row only

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        if self.temperature < 0.0:
            raise ValueError("temperature must be >= 0")
        if not 0.0 <= self.top_p <= 1.0:
            raise ValueError("top_p must be in [0, 1]")
        if self.top_logprobs is not None and not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be in [0, 20]")
        for value in self.logit_bias.values():
            if not -100.0 <= value <= 100.0:
                raise ValueError("logit_bias values must be in [-100, 100]")
        self.stop = tuple(self.stop)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class TokenLogprob:
    """A token with its log-probability and the top alternatives (ids), when asked."""

    token_id: int
    logprob: float | None = None
    top: list[tuple[int, float]] | None = None


@dataclass
class PromptEvent:
    """The prompt's own token logprobs (first token: None)."""

    tokens: list[TokenLogprob]


@dataclass
class TokenEvent:
    """One generated token, and the text that became safe to send with it.

    The end-of-sequence token is an event too (``eos``, no text): it was generated and
    is counted in ``usage``, so the completions API lists it in every log-prob field."""

    token: TokenLogprob
    delta: str
    eos: bool = False


@dataclass
class DoneEvent:
    """The row finished: ``stop`` (EOS or a stop string), ``length`` or ``cancelled``."""

    finish_reason: str
    text: str
    completion_tokens: int
    delta: str


@dataclass
class ErrorEvent:
    """The row failed inside the engine."""

    error: BaseException


Event = PromptEvent | TokenEvent | DoneEvent | ErrorEvent


class Sequence:
    """One row to generate: prompt ids, parameters and where its events go."""

    def __init__(self, prompt_ids: list[int], params: SamplingParams, sink: Callable[[Event], None]) -> None:
        if not prompt_ids:
            raise ValueError("a sequence needs at least one prompt token")
        self.prompt_ids = list(prompt_ids)
        self.params = params
        self.sink = sink
        self.cancelled = False

    def cancel(self) -> None:
        """Stop generating at the next step boundary (e.g. the client went away)."""
        self.cancelled = True

    def emit(self, event: Event) -> None:
        try:
            self.sink(event)
        except Exception:  # a closed event loop: nobody is listening any more
            self.cancelled = True


class _Row:
    """Running state of one sequence inside the batch."""

    def __init__(self, seq: Sequence, tokenizer: Any, vocab: int) -> None:
        import torch

        self.seq = seq
        self.params = seq.params
        self.ids = list(seq.prompt_ids)
        self.position = len(seq.prompt_ids)
        self.generated = 0
        self.last = -1
        self.stream = TextStream(tokenizer, seq.params.stop)
        seed = seq.params.seed if seq.params.seed is not None else random.getrandbits(62)
        self.generator = torch.Generator().manual_seed(int(seed))
        bias = {t: v for t, v in seq.params.logit_bias.items() if 0 <= t < vocab}
        banned = [t for t, v in bias.items() if v <= BAN_BIAS]
        added = {t: v for t, v in bias.items() if v > BAN_BIAS}
        self.bias_ids = torch.tensor(list(added), dtype=torch.long) if added else None
        self.bias_values = torch.tensor(list(added.values()), dtype=torch.float32) if added else None
        self.banned = torch.tensor(banned, dtype=torch.long) if banned else None


class EngineClosedError(DistillscopeError, RuntimeError):
    """The engine no longer accepts work (the server is shutting down)."""


class BatchEngine:
    """A worker thread that generates for many sequences at once over one model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 32,
        context_length: int | None = None,
        eos_token_ids: Iterable[int] | None = None,
        threads: int | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if threads is not None and threads < 1:
            raise ValueError("threads must be >= 1")
        self.threads = threads
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.context_length = context_length or _context_length(model)
        configured = eos_token_ids if eos_token_ids is not None else model_eos_ids(model, tokenizer)
        self.eos_token_ids = set(configured)
        self.vocab = int(model.get_output_embeddings().weight.shape[0])
        # The model may sit on an accelerator; bookkeeping and sampling stay on the CPU, so seeded
        # sampling gives the same tokens wherever the model runs.
        self.device = getattr(model, "device", None) or next(model.parameters()).device
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else next(iter(self.eos_token_ids), 0))
        self._pending: queue.Queue[Sequence | None] = queue.Queue()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._cache_arg = cache_keyword(model)
        self.stats = {"steps": 0, "prefills": 0, "tokens": 0, "max_rows": 0, "errors": 0}

    # -- public --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="distillscope-engine", daemon=True)
            self._thread.start()

    def submit(self, seq: Sequence) -> None:
        if self._closed:
            raise EngineClosedError("the server is shutting down")
        self.start()
        self._pending.put(seq)

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting work, finish what is running and waiting, stop the thread."""
        self._closed = True
        self._pending.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> int:
        return len(self._rows)

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        import torch

        if self.threads is not None:
            # Per thread: tiny models on a busy CPU are faster without intra-op thread hand-offs.
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            while True:
                fresh = self._take_pending(block=not self._rows)
                if fresh is None:
                    return
                # Echo rows need logits at every prompt position ([1, L, vocab]); prefilled one
                # by one so a group of long prompts never holds [n, L, vocab] at once.
                plain = [seq for seq in fresh if not seq.params.echo_logprobs]
                echo = [[seq] for seq in fresh if seq.params.echo_logprobs]
                for group in ([plain] if plain else []) + echo:
                    self._prefill_safely(group)
                if self._rows:
                    self._decode_safely()

    def _take_pending(self, block: bool) -> list[Sequence] | None:
        """Waiting sequences that fit in the batch; None when closed and nothing is left."""
        taken: list[Sequence] = []
        room = self.max_batch_size - len(self._rows)
        while len(taken) < room:
            try:
                item = self._pending.get(timeout=0.1) if block and not taken else self._pending.get_nowait()
            except queue.Empty:
                if block and not taken:
                    if self._closed and self._pending.empty():
                        return None
                    continue
                break
            if item is None:
                continue
            if item.cancelled:
                item.emit(DoneEvent("cancelled", "", 0, ""))
                continue
            taken.append(item)
        return taken

    def _prefill_safely(self, seqs: list[Sequence]) -> None:
        try:
            self._prefill(seqs)
        except Exception as exc:
            log.exception("prefill failed")
            self.stats["errors"] += 1
            for seq in seqs:
                seq.emit(ErrorEvent(exc))

    def _decode_safely(self) -> None:
        try:
            self._drop_cancelled()
            if self._rows:
                self._decode_step()
        except Exception as exc:
            log.exception("decode step failed")
            self.stats["errors"] += 1
            for row in self._rows:
                row.seq.emit(ErrorEvent(exc))
            self._rows, self._cache, self._mask = [], None, None

    # -- prefill -------------------------------------------------------------------------

    def _prefill(self, seqs: list[Sequence]) -> None:
        import torch

        lengths = [len(s.prompt_ids) for s in seqs]
        width = max(lengths)
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, seq in enumerate(seqs):
            input_ids[i, width - lengths[i] :] = torch.tensor(seq.prompt_ids, dtype=torch.long)
            mask[i, width - lengths[i] :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        echo = any(s.params.echo_logprobs for s in seqs)
        mask = mask.to(self.device)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask,
            position_ids=positions.to(self.device),
            use_cache=True,
            logits_to_keep=0 if echo else 1,
        )
        self.stats["prefills"] += 1
        rows = [_Row(seq, self.tokenizer, self.vocab) for seq in seqs]
        for i, row in enumerate(rows):
            if row.params.echo_logprobs:
                row.seq.emit(PromptEvent(self._prompt_logprobs(row, out.logits[i, width - lengths[i] :])))
        keep = [i for i, row in enumerate(rows) if row.params.max_new_tokens > 0]
        for row in rows:
            if row.params.max_new_tokens == 0:
                self._finish(row, "length")
        if not keep:
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        cache = _output_cache(out)
        if len(keep) < len(rows):
            _select_rows(cache, index)
        rows = [rows[i] for i in keep]
        finished = self._accept(rows, self._choose(rows, out.logits[index, -1, :]))
        self._merge(rows, cache, mask.index_select(0, index))
        if any(finished):
            self._drop([len(self._rows) - len(rows) + i for i, done in enumerate(finished) if done])

    def _prompt_logprobs(self, row: _Row, logits: Any) -> list[TokenLogprob]:
        import torch

        ids = row.seq.prompt_ids
        out = [TokenLogprob(ids[0], None, None)]
        if len(ids) == 1:
            return out
        logprobs = torch.log_softmax(logits[:-1].float(), dim=-1)
        targets = torch.tensor(ids[1:], dtype=torch.long, device=logprobs.device)
        chosen = logprobs.gather(1, targets[:, None])[:, 0].tolist()
        k = row.params.top_logprobs or 0
        top_v, top_i = logprobs.topk(k, dim=-1) if k else (None, None)
        for j, token in enumerate(ids[1:]):
            top = _pairs(top_i[j], top_v[j]) if k else []
            out.append(TokenLogprob(token, _floor(chosen[j]), top))
        return out

    # -- decode --------------------------------------------------------------------------

    def _decode_step(self) -> None:
        import torch

        rows = self._rows
        input_ids = torch.tensor([[row.last] for row in rows], dtype=torch.long)
        positions = torch.tensor([[row.position] for row in rows], dtype=torch.long)
        self._mask = torch.cat([self._mask, self._mask.new_ones((len(rows), 1))], dim=1)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=self._mask,
            position_ids=positions.to(self.device),
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_arg: self._cache},
        )
        self._cache = _output_cache(out)
        for row in rows:
            row.position += 1
        self.stats["steps"] += 1
        self.stats["max_rows"] = max(self.stats["max_rows"], len(rows))
        finished = self._accept(rows, self._choose(rows, out.logits[:, -1, :]))
        if any(finished):
            self._drop([i for i, done in enumerate(finished) if done])

    def _choose(self, rows: list[_Row], logits: Any) -> list[TokenLogprob]:
        """Pick each row's next token: logit_bias, then its processors, then temperature/top-p."""
        import torch

        scores = logits.to(device="cpu", dtype=torch.float32, copy=True)
        for i, row in enumerate(rows):
            if row.bias_ids is not None:
                scores[i].index_add_(0, row.bias_ids, row.bias_values)
            if row.banned is not None:
                scores[i, row.banned] = float("-inf")
            if row.params.processors:
                self._process_row(row, scores, i)
        wanted = [i for i, row in enumerate(rows) if row.params.top_logprobs is not None]
        logprobs = torch.log_softmax(scores[wanted], dim=-1) if wanted else None
        greedy = scores.argmax(dim=-1).tolist()
        chosen = [greedy[i] if row.params.greedy else _sample(scores[i], row) for i, row in enumerate(rows)]
        out = [TokenLogprob(token) for token in chosen]
        if logprobs is not None:
            k = max(rows[i].params.top_logprobs or 0 for i in wanted)
            top_v, top_i = logprobs.topk(k, dim=-1) if k else (None, None)
            for j, i in enumerate(wanted):
                out[i].logprob = _floor(float(logprobs[j, chosen[i]]))
                kk = rows[i].params.top_logprobs or 0
                out[i].top = _pairs(top_i[j, :kk], top_v[j, :kk]) if kk else []
        return out

    def _process_row(self, row: _Row, scores: Any, i: int) -> None:
        """Run the row's own logits processors on its row only; a failing one fails that row only."""
        import torch

        ids = torch.tensor([row.ids], dtype=torch.long)
        processed = scores[i : i + 1]
        try:
            for processor in row.params.processors:
                processed = processor(ids, processed)
            scores[i] = processed[0]
        except Exception as exc:
            log.exception("a logits processor failed; failing its request only")
            self.stats["errors"] += 1
            row.seq.emit(ErrorEvent(exc))
            row.seq.cancel()

    def _accept(self, rows: list[_Row], tokens: list[TokenLogprob]) -> list[bool]:
        """Append each row's token, send its event; return which rows finished."""
        finished = []
        for row, token in zip(rows, tokens, strict=True):
            row.generated += 1
            row.ids.append(token.token_id)
            row.last = token.token_id
            self.stats["tokens"] += 1
            if token.token_id in self.eos_token_ids:
                row.seq.emit(TokenEvent(token, "", eos=True))
                self._finish(row, "stop")
                finished.append(True)
                continue
            delta = row.stream.push(token.token_id)
            row.seq.emit(TokenEvent(token, delta))
            if row.stream.stopped:
                self._finish(row, "stop")
            elif row.generated >= row.params.max_new_tokens or row.position >= self.context_length:
                self._finish(row, "length")
            else:
                finished.append(False)
                continue
            finished.append(True)
        return finished

    def _finish(self, row: _Row, reason: str) -> None:
        delta = row.stream.flush()
        row.seq.emit(DoneEvent(reason, row.stream.text, row.generated, delta))

    # -- batch bookkeeping ---------------------------------------------------------------

    def _drop_cancelled(self) -> None:
        gone = [i for i, row in enumerate(self._rows) if row.seq.cancelled]
        for i in gone:
            self._finish(self._rows[i], "cancelled")
        if gone:
            self._drop(gone)

    def _drop(self, gone: list[int]) -> None:
        import torch

        gone_set = set(gone)
        keep = [i for i in range(len(self._rows)) if i not in gone_set]
        if not keep:
            self._rows, self._cache, self._mask = [], None, None
            return
        index = torch.tensor(keep, dtype=torch.long, device=self._mask.device)
        _select_rows(self._cache, index)
        self._mask = self._mask.index_select(0, index)
        self._rows = [self._rows[i] for i in keep]
        # Columns that are padding for every remaining row cost attention time: trim them.
        first = int(self._mask.any(dim=0).int().argmax())
        if first > 0:
            for layer in self._cache.layers:
                layer.keys = layer.keys[:, :, first:, :]
                layer.values = layer.values[:, :, first:, :]
            self._mask = self._mask[:, first:]

    def _merge(self, rows: list[_Row], cache: Any, mask: Any) -> None:
        import torch

        if not self._rows:
            self._rows, self._cache, self._mask = list(rows), cache, mask
            return
        old_width, new_width = self._mask.shape[1], mask.shape[1]
        if old_width < new_width:
            self._mask = _pad_left(self._cache, self._mask, new_width - old_width)
        elif new_width < old_width:
            mask = _pad_left(cache, mask, old_width - new_width)
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([old.keys, new.keys], dim=0)
            old.values = torch.cat([old.values, new.values], dim=0)
        self._mask = torch.cat([self._mask, mask], dim=0)
        self._rows.extend(rows)


def _output_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _select_rows(cache: Any, index: Any) -> None:
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(0, index)
        layer.values = layer.values.index_select(0, index)


def _pad_left(cache: Any, mask: Any, amount: int) -> Any:
    import torch

    for layer in cache.layers:
        shape = list(layer.keys.shape)
        shape[2] = amount
        layer.keys = torch.cat([layer.keys.new_zeros(shape), layer.keys], dim=2)
        layer.values = torch.cat([layer.values.new_zeros(shape), layer.values], dim=2)
    return torch.cat([mask.new_zeros((mask.shape[0], amount)), mask], dim=1)


def _sample(scores: Any, row: _Row) -> int:
    import torch

    probs = torch.softmax(scores / row.params.temperature, dim=-1)
    if row.params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        # Keep the smallest head whose mass reaches top_p (always at least one token).
        sorted_probs[(sorted_probs.cumsum(0) - sorted_probs) > row.params.top_p] = 0.0
        pick = torch.multinomial(sorted_probs, 1, generator=row.generator)
        return int(order[pick])
    return int(torch.multinomial(probs, 1, generator=row.generator))


def _pairs(ids: Any, values: Any) -> list[tuple[int, float]]:
    return [(int(i), _floor(float(v))) for i, v in zip(ids.tolist(), values.tolist(), strict=True)]


def _floor(value: float) -> float:
    return value if value > LOGPROB_FLOOR else LOGPROB_FLOOR


def _context_length(model: Any) -> int:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def wait_idle(engine: BatchEngine, timeout: float = 10.0) -> bool:
    """Wait until the engine has no running rows and nothing waiting (for tests and drains)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not engine.running and engine._pending.empty():
            return True
        time.sleep(0.01)
    return False
