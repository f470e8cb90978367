"""Shared pieces of the server tests: a test gateway, a trivial logits processor, reference computations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


def chat_ids(tokenizer: Any, content: str) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"])


def next_logprobs(model: Any, ids: list[int]) -> Any:
    """log-softmax of the model's next-token logits after ``ids`` (one plain forward pass)."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    return torch.log_softmax(logits, dim=-1)


def all_logprobs(model: Any, ids: list[int]) -> Any:
    """log-softmax at every position of ``ids`` (row j predicts ids[j + 1])."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, dim=-1)


def greedy_ids(model: Any, ids: list[int], steps: int, banned: tuple[int, ...] = ()) -> list[int]:
    """Greedy continuation by plain forward passes (no cache, no batching)."""
    out: list[int] = []
    for _ in range(steps):
        logprobs = next_logprobs(model, ids + out)
        for token in banned:
            logprobs[token] = float("-inf")
        out.append(int(logprobs.argmax()))
    return out


TINY = "tiny"


class HeaderGateway:
    """Account from ``x-account``; ``x-strip-logprobs`` turns on the strip policy; records kept."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.started = False
        self.stopped = False

    async def admit(self, request: Any, endpoint: str, body: dict[str, Any]) -> Any:
        from distillscope.server.errors import APIError
        from distillscope.server.gateway import Admission, client_meta

        if request.headers.get("x-account") == "blocked":
            raise APIError(403, "this account is blocked", "permission_error", code="blocked")
        strip = request.headers.get("x-strip-logprobs") == "1"
        return Admission(
            account=request.headers.get("x-account", "local"),
            key_id="key-test",
            strip_logprobs=strip,
            reasons=["strip header"] if strip else [],
            meta=client_meta(request),
        )

    async def record(self, exchange: Any) -> None:
        self.records.append(exchange)

    def router(self) -> Any:
        from fastapi import APIRouter

        router = APIRouter()

        @router.get("/gateway-ping")
        async def ping() -> dict[str, int]:
            return {"records": len(self.records)}

        return router

    async def startup(self) -> None:
        self.started = True

    async def shutdown(self) -> None:
        self.stopped = True


class ForceToken:
    """A trivial logits processor: only ``token_id`` may be chosen."""

    def __init__(self, token_id: int) -> None:
        self.token_id = token_id
        self.calls = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        assert input_ids.shape[0] == 1 and scores.shape[0] == 1, "a processor must see its own row only"
        self.calls += 1
        out = torch.full_like(scores, float("-inf"))
        out[:, self.token_id] = 0.0
        return out


FORCED_TOKEN = 1_000


class Explode:
    """A logits processor that fails, to show a failure stays in its own row."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        raise RuntimeError("processor exploded")


def processors_for(account: str) -> list[Any]:
    if account == "broken":
        return [Explode()]
    return [ForceToken(FORCED_TOKEN)] if account == "watermarked" else []


@dataclass
class TinyServer:
    base_url: str
    root: str
    backend: Any
    gateway: HeaderGateway
    model_dir: Path

    def client(self, **headers: str) -> Any:
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key="test", max_retries=0, default_headers=headers)

    def async_client(self, **headers: str) -> Any:
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url, api_key="test", max_retries=0, default_headers=headers
        )
