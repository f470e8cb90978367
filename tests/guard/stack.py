"""The one way the guard tests stand up a guarded server.

``guard_gateway`` opens the key store and log store of ``db_url`` with a policy
given as a dict (the TOML's shape); ``relay`` serves it in front of an
OpenAI-compatible upstream (a ``WireServer``) through ``serving.serve``, as
``distillscope serve --upstream`` does (any other ``ServeSettings`` field too);
``serve_backend`` serves it in front of a test's own backend (a counting or tiny
local one), the only case that needs ``create_app`` by hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from distillscope.guard.gateway import GuardGateway
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.policy import PolicySettings
from distillscope.guard.secret import load_server_secret

#: The environment variable the relay's upstream key travels in.
KEY_ENV = "DS_TEST_UPSTREAM_KEY"
#: A policy with every risk action off: what a test of logging or limits wants.
NO_RISK_ACTIONS: dict[str, Any] = {"risk": {"throttle": None, "strip_logprobs": None, "block": None}}


def guard_gateway(
    db_url: str, policy: dict[str, Any] | None = None, *, secret: bytes | None = None, **kwargs: Any
) -> tuple[GuardGateway, KeyStore]:
    """The guard over ``db_url`` with ``policy``, and its key store (to create keys with)."""
    keys = KeyStore(db_url, secret if secret is not None else load_server_secret())
    store = open_log_store(db_url, create=True)
    return GuardGateway(keys, store, PolicySettings.from_dict(policy or {}), **kwargs), keys


@contextlib.contextmanager
def relay(
    gateway: Any, upstream_url: str, model: str, *, upstream_key: str | None = None, **settings: Any
) -> Iterator[str]:
    """Serve ``gateway`` in front of the upstream at ``upstream_url`` (its model ``model``); yield the URL.

    ``upstream_key`` is the key sent upstream (through an environment variable, as
    ``--upstream-key-env`` takes it); ``settings`` are further ``ServeSettings`` fields.
    """
    from distillscope.serving import ServeSettings, serve

    # by default no upstream key: the wire server needs none, and a developer's OPENAI_API_KEY must not
    # leak into it
    with pytest.MonkeyPatch.context() as env:
        env.delenv(KEY_ENV, raising=False)
        if upstream_key is not None:
            env.setenv(KEY_ENV, upstream_key)
        served = ServeSettings(
            upstream=upstream_url, model=model, port=0, upstream_key_env=KEY_ENV, **settings
        )
        with serve(served, gateway=gateway) as base_url:
            yield base_url


@contextlib.contextmanager
def serve_backend(gateway: Any, backend: Any, model: str, **app_kwargs: Any) -> Iterator[str]:
    """Serve ``gateway`` in front of a test's own ``backend``; yield the base URL."""
    from distillscope.server.app import create_app
    from distillscope.server.runner import serve_in_thread

    with serve_in_thread(create_app(backend, model_name=model, gateway=gateway, **app_kwargs)) as base_url:
        yield base_url
