"""Fixtures for the server tests: a real uvicorn server on loopback over the tiny model.

The server runs with a small test gateway (a real implementation of the Gateway
protocol) that takes the account from an ``x-account`` header, strips logprobs
when ``x-strip-logprobs`` is set, and keeps every recorded exchange in a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import TINY, HeaderGateway, TinyServer, processors_for


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir: Path) -> Iterator[TinyServer]:
    from distillscope.server.app import create_app
    from distillscope.server.backends.local import LocalBackend
    from distillscope.server.runner import serve_in_thread

    backend = LocalBackend.from_model_path(tiny_model_dir, max_batch_size=8, threads=1)
    gateway = HeaderGateway()
    app = create_app(backend, model_name=TINY, gateway=gateway, logits_processors_for=processors_for)
    with serve_in_thread(app) as base_url:
        yield TinyServer(base_url, base_url.removesuffix("/v1"), backend, gateway, tiny_model_dir)
    assert gateway.stopped, "gateway.shutdown() must run when the server stops"


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_server: TinyServer) -> Any:
    return tiny_server.backend.tokenizer
