"""The batching engine alone: rows joining a running batch mid-decode still decode exactly as alone."""

from __future__ import annotations

import threading

import pytest

from distillscope.server.backends.engine import (
    BatchEngine,
    DoneEvent,
    SamplingParams,
    Sequence,
    TokenEvent,
    wait_idle,
)

from .helpers import TinyServer, greedy_ids


class Collector:
    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.done = threading.Event()
        self.reason: str | None = None
        self.third = threading.Event()

    def __call__(self, event) -> None:
        if isinstance(event, TokenEvent):
            self.tokens.append(event.token.token_id)
            if len(self.tokens) == 3:
                self.third.set()
        elif isinstance(event, DoneEvent):
            self.reason = event.finish_reason
            self.done.set()


@pytest.fixture()
def engine(tiny_server: TinyServer):
    backend = tiny_server.backend
    engine = BatchEngine(backend.model, backend.tokenizer, max_batch_size=4, threads=1)
    yield engine
    engine.close(timeout=60)


def test_rows_joining_mid_decode_match_plain_greedy(engine: BatchEngine, tiny_server: TinyServer) -> None:
    tokenizer = tiny_server.backend.tokenizer
    banned = tuple(engine.eos_token_ids)
    bias = {t: -100.0 for t in banned}
    medium = tokenizer("A medium prompt about the weather today")["input_ids"]
    longer = tokenizer("A much longer prompt that has many more tokens than the first one, really many more")[
        "input_ids"
    ]
    short = tokenizer("Hi")["input_ids"]
    first, second, third = Collector(), Collector(), Collector()
    engine.submit(Sequence(medium, SamplingParams(max_new_tokens=40, temperature=0, logit_bias=bias), first))
    assert first.third.wait(60)
    # Joins a running batch: a longer prompt (the running cache gets left-padded) ...
    engine.submit(Sequence(longer, SamplingParams(max_new_tokens=40, temperature=0, logit_bias=bias), second))
    assert second.third.wait(60)
    # ... and a shorter one (its own cache gets left-padded), after the first row may have left.
    engine.submit(Sequence(short, SamplingParams(max_new_tokens=6, temperature=0, logit_bias=bias), third))
    for collector in (first, second, third):
        assert collector.done.wait(60) and collector.reason == "length"
    model = tiny_server.backend.model
    assert first.tokens == greedy_ids(model, medium, 40, banned)
    assert second.tokens == greedy_ids(model, longer, 40, banned)
    assert third.tokens == greedy_ids(model, short, 6, banned)
    assert engine.stats["max_rows"] >= 2 and engine.stats["prefills"] == 3
    assert wait_idle(engine)


def test_batch_size_limit_queues_the_rest(engine: BatchEngine, tiny_server: TinyServer) -> None:
    ids = tiny_server.backend.tokenizer("count")["input_ids"]
    collectors = [Collector() for _ in range(7)]
    for collector in collectors:
        engine.submit(Sequence(ids, SamplingParams(max_new_tokens=5, temperature=0), collector))
    for collector in collectors:
        assert collector.done.wait(60)
    assert engine.stats["max_rows"] <= 4
    assert len({tuple(c.tokens) for c in collectors}) == 1


def test_closed_engine_refuses_work_and_params_are_validated(engine: BatchEngine) -> None:
    from distillscope.server.backends.engine import EngineClosedError

    engine.close(timeout=60)
    with pytest.raises(EngineClosedError):
        engine.submit(Sequence([1], SamplingParams(max_new_tokens=1), lambda event: None))
    for bad in (
        {"max_new_tokens": -1},
        {"max_new_tokens": 1, "top_p": 2},
        {"max_new_tokens": 1, "top_logprobs": 21},
    ):
        with pytest.raises(ValueError):
            SamplingParams(**bad)
