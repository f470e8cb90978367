"""Risk controls that a harvester could walk around (issue 14, item 5, the gateway's part).

When ``strip_logprobs`` is in force, no form of log-prob output gets through
(completions ``logprobs: 0``, ``echo`` with log-probs, chat ``logprobs``/``top_logprobs``,
streams); a batched completions request is charged one request and its tokens per
prompt. Real server on loopback, tiny local model, the official openai client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from distillscope.guard.logstore import open_log_store
from distillscope.records import Exchange

from .stack import guard_gateway, serve_backend

MODEL = "tiny"


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir: Path) -> tuple[Any, Any]:
    from distillscope.models import load_model

    return load_model(str(tiny_model_dir))


@pytest.fixture
def backend(tiny_model: tuple[Any, Any]) -> Any:
    from distillscope.server.backends.local import LocalBackend

    return LocalBackend(*tiny_model, max_batch_size=8)  # a server's shutdown closes its backend


@contextlib.contextmanager
def _serving(db_url: str, backend: Any, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    gateway, keys = guard_gateway(db_url, policy)
    key, _ = keys.create_key("harvester")
    with serve_backend(gateway, backend, MODEL) as base_url:
        yield base_url, key


def _logged(db_url: str) -> list[Exchange]:
    store = open_log_store(db_url)
    try:
        return list(store.iter_exchanges())
    finally:
        store.close()


ALWAYS_STRIP = {"risk": {"strip_logprobs": 0.0, "throttle": None, "block": None}}


def test_every_form_of_logprobs_is_stripped(sqlite_url: str, backend: Any) -> None:
    with _serving(sqlite_url, backend, ALWAYS_STRIP) as (base_url, key):
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        common = {"model": MODEL, "prompt": "The capital of France is", "temperature": 0}
        answers = [
            client.completions.create(**common, max_tokens=2, logprobs=0),
            client.completions.create(**common, max_tokens=1, logprobs=0, echo=True),
            client.completions.create(**common, max_tokens=0, logprobs=5, echo=True),
            client.completions.create(**{**common, "prompt": [[1, 2, 3], [4, 5]]}, max_tokens=1, logprobs=2),
        ]
        assert all(c.logprobs is None for a in answers for c in a.choices)
        assert answers[2].choices[0].text == common["prompt"]  # still answered, without log-probs
        streamed = list(client.completions.create(**common, max_tokens=3, logprobs=3, echo=True, stream=True))
        assert streamed and all(c.logprobs is None for chunk in streamed for c in chunk.choices)
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        answer = client.chat.completions.create(**chat, logprobs=True, top_logprobs=5)
        assert answer.choices[0].logprobs is None and answer.choices[0].message.content is not None
        chunks = list(client.chat.completions.create(**chat, logprobs=True, stream=True))
        assert all(c.logprobs is None for chunk in chunks for c in chunk.choices)
        # The answer is an HTTP 200, so a header says what was removed; nothing is said when none was asked.
        said = client.chat.completions.with_raw_response.create(**chat, logprobs=True, top_logprobs=2)
        assert said.headers["x-distillscope-logprobs"] == "removed"
        said = client.completions.with_raw_response.create(**common, max_tokens=1, logprobs=0)
        assert said.headers["x-distillscope-logprobs"] == "removed"
        silent = client.chat.completions.with_raw_response.create(**chat)
        assert "x-distillscope-logprobs" not in silent.headers
    rows = _logged(sqlite_url)
    assert len(rows) == 10
    asked, not_asked = rows[:-1], rows[-1]
    assert all(r.extra["decision"] == "strip_logprobs" and r.extra["logprobs_stripped"] for r in asked)
    assert "logprobs_stripped" not in not_asked.extra, not_asked.extra


def test_each_prompt_of_a_batch_is_charged(sqlite_url: str, backend: Any) -> None:
    policy = {"limits": {"rpm": 10, "tpm": 1000}, "risk": {"strip_logprobs": None, "throttle": None}}
    with _serving(sqlite_url, backend, policy) as (base_url, key):
        headers = {"Authorization": f"Bearer {key}"}

        def complete(prompt: Any, max_tokens: int = 1) -> httpx.Response:
            body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
            return httpx.post(base_url + "/completions", json=body, headers=headers, timeout=60)

        four = complete(["a", "b", "c", "d"], max_tokens=2)
        assert four.status_code == 200 and len(four.json()["choices"]) == 4
        assert four.headers["x-ratelimit-remaining-requests"] == "6"  # 10 - 4 prompts
        # 4 prompts x 2 new tokens (+ 1 token of text) were charged before the answer
        assert 1000 - int(four.headers["x-ratelimit-remaining-tokens"]) >= 4 * 2
        seven = complete(["x"] * 7)
        assert seven.status_code == 429 and "requests per minute" in seven.json()["error"]["message"]
        eleven = complete(["x"] * 11)
        assert eleven.status_code == 429 and "too large" in eleven.json()["error"]["message"]
        ids = complete(list(range(10, 1510)))  # one prompt of 1,500 token ids: more than the TPM
        assert ids.status_code == 429 and "tokens" in ids.json()["error"]["message"]
    statuses = [r.status for r in _logged(sqlite_url)]
    assert statuses == [200, 429, 429, 429]
