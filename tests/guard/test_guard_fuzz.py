"""Request-body fuzzing (hypothesis) through the guard and the real server: never a 500, always a row.

Bodies are near-valid on purpose (the right model name, messages of odd shapes,
parameters of the wrong types and ranges), so that they get past JSON parsing and
authentication into the guard's feature extraction, the policy and the server's
validation. Generation is bounded (``max_tokens`` at most 3) and so is the number
of examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distillscope.guard.logstore import open_log_store, wait_for_count

from .stack import guard_gateway, serve_backend

SECRET = b"fuzz-secret-0123456789abcdefgh"
MODEL = "tiny"

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_content = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["Solve step by step: 12 times 7", "Let's think.", ""]),
    st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]), "text": _scalars}), max_size=2
    ),
    _json,
)
_message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", "robot", ""]), "content": _content}
    ),
    _json,
)
_params = {
    "max_tokens": st.one_of(st.integers(min_value=-5, max_value=3), _scalars),
    "temperature": st.one_of(st.floats(min_value=-1, max_value=3, allow_nan=False), _scalars),
    "top_p": _scalars,
    "n": st.one_of(st.integers(min_value=-1, max_value=3), _scalars),
    "logprobs": st.one_of(st.booleans(), st.integers(min_value=-2, max_value=30), _scalars),
    "top_logprobs": st.one_of(st.integers(min_value=-2, max_value=30), _scalars),
    "logit_bias": st.one_of(st.dictionaries(st.text(max_size=6), st.floats(-200, 200), max_size=3), _json),
    "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=6), _scalars),
    "seed": _scalars,
    "stream": st.booleans(),
    "echo": _scalars,
    "unknown_field": _json,
}


_valid_params = {
    "max_tokens": st.integers(min_value=1, max_value=3),
    "temperature": st.floats(min_value=0, max_value=2),
    "top_p": st.floats(min_value=0.01, max_value=1),
    "n": st.integers(min_value=1, max_value=2),
    "logprobs": st.booleans(),
    "top_logprobs": st.integers(min_value=0, max_value=5),
    "logit_bias": st.dictionaries(st.integers(0, 1000).map(str), st.floats(-100, 100), max_size=3),
    "stop": st.lists(st.text(min_size=1, max_size=4), max_size=2),
    "seed": st.integers(min_value=0, max_value=2**31),
    "stream": st.booleans(),
}


@st.composite
def valid_bodies(draw: st.DrawFn) -> tuple[str, Any]:
    """Bodies the server accepts: they go all the way through policy, backend and log."""
    text = draw(st.one_of(st.text(max_size=60), st.sampled_from(["Solve step by step: 12 times 7", "Hi"])))
    chosen = draw(st.lists(st.sampled_from(sorted(_valid_params)), unique=True, max_size=6))
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 2}
    body.update({name: draw(_valid_params[name]) for name in chosen})
    if draw(st.booleans()):
        body["messages"] = [{"role": "user", "content": text}]
        if body.get("top_logprobs"):
            body["logprobs"] = True
        return "/chat/completions", body
    body.pop("top_logprobs", None)
    if "logprobs" in body:
        body["logprobs"] = 2 if body["logprobs"] else None
    body["prompt"] = text
    return "/completions", body


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, Any]:
    if draw(st.integers(0, 2)) == 0:
        return draw(valid_bodies())
    endpoint = draw(st.sampled_from(["/chat/completions", "/completions"]))
    if draw(st.integers(0, 9)) == 0:
        return endpoint, draw(_json)  # anything at all, also not an object
    body: dict[str, Any] = {"model": draw(st.one_of(st.just(MODEL), _scalars))}
    if endpoint == "/chat/completions":
        body["messages"] = draw(st.one_of(st.lists(_message, min_size=0, max_size=3), _json))
    else:
        body["prompt"] = draw(
            st.one_of(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=3), _json)
        )
    chosen = draw(st.lists(st.sampled_from(sorted(_params)), unique=True, max_size=5))
    for name in chosen:
        body[name] = draw(_params[name])
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] > 3:
        body["max_tokens"] = 3  # bound the generation work
    if isinstance(body.get("n"), int) and body["n"] > 2:
        body["n"] = 2
    return endpoint, body


_HOSTILE_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800", "\ufeff", "x" * 3000]),
)


@st.composite
def raw_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """Bodies as bytes: broken JSON, other encodings, lone surrogates, NULs, NaN, deep nesting."""
    endpoint = draw(st.sampled_from(["/chat/completions", "/completions"]))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return endpoint, draw(st.binary(max_size=60))
    if kind == 1:
        depth = draw(st.integers(20, 5000))
        return endpoint, b'{"model": "tiny", "messages": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == 2:
        number = draw(st.sampled_from([b"NaN", b"-Infinity", b"9" * 5000, b"1e999"]))
        return endpoint, b'{"model": "tiny", "max_tokens": ' + number + b', "prompt": "x"}'
    text = draw(_HOSTILE_TEXT)
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 2}
    if endpoint == "/chat/completions":
        body["messages"] = [{"role": draw(st.sampled_from(["user", "system"])), "content": text}]
    else:
        body["prompt"] = text
    encoded = json.dumps(body)  # ASCII escapes: lone surrogates stay \udXXX escapes
    if kind == 3:
        return endpoint, encoded.encode("utf-16")
    return endpoint, encoded.encode()


#: Requests sent to the fuzz server so far (each must become exactly one row).
_sent = {"n": 0}


def _expect_row(db: str) -> None:
    _sent["n"] += 1
    store = open_log_store(db)
    try:
        assert wait_for_count(store, _sent["n"], timeout=20) == _sent["n"], "a request left no row"
    finally:
        store.close()


@pytest.fixture(scope="module")
def fuzz_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str, str]]:
    from distillscope.server.backends.local import LocalBackend

    db = str(tmp_path_factory.mktemp("fuzz") / "guard.db")
    policy = {"risk": {"throttle": None, "strip_logprobs": 0.5, "block": None}}
    gateway, keys = guard_gateway(db, policy, secret=SECRET)
    key, _ = keys.create_key("fuzzer")
    admin, _ = keys.create_key("ops", admin=True)
    backend = LocalBackend.from_model_path(str(tiny_model_dir), max_batch_size=4)
    with serve_backend(gateway, backend, MODEL) as base_url:
        yield base_url, key, admin, db


@settings(
    max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)
@given(case=bodies(), auth=st.sampled_from(["valid", "valid", "valid", "garbage", "none"]))
def test_fuzzed_bodies_never_500(
    fuzz_server: tuple[str, str, str, str], case: tuple[str, Any], auth: str
) -> None:
    base_url, key, _, db = fuzz_server
    endpoint, body = case
    headers = {"valid": {"Authorization": f"Bearer {key}"}, "garbage": {"Authorization": "Bearer ds-\x7f?"}}
    answer = httpx.post(base_url + endpoint, json=body, headers=headers.get(auth, {}), timeout=60)
    assert answer.status_code < 500, (answer.status_code, answer.text)
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert isinstance(error["message"], str) and error["type"]
    if auth != "valid":
        assert answer.status_code == 401  # no key: refused before the body matters
    _expect_row(db)


@settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)
@given(case=raw_bodies(), auth=st.sampled_from(["valid", "valid", "none"]))
def test_hostile_raw_bodies_never_500_and_each_is_one_row(
    fuzz_server: tuple[str, str, str, str], case: tuple[str, bytes], auth: str
) -> None:
    base_url, key, _, db = fuzz_server
    endpoint, raw = case
    headers = {"Content-Type": "application/json"}
    if auth == "valid":
        headers["Authorization"] = f"Bearer {key}"
    answer = httpx.post(base_url + endpoint, content=raw, headers=headers, timeout=60)
    assert answer.status_code < 500, (answer.status_code, answer.text)
    if answer.status_code >= 400:
        assert answer.json()["error"]["message"]
    if auth != "valid":
        assert answer.status_code == 401
    _expect_row(db)


@settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)
@given(body=_json)
def test_fuzzed_admin_bodies_never_500(fuzz_server: tuple[str, str, str, str], body: Any) -> None:
    base_url, _, admin, _ = fuzz_server
    root = base_url.removesuffix("/v1")
    answer = httpx.post(
        root + "/admin/keys", json=body, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    )
    assert answer.status_code in (200, 400), answer.text


def test_server_still_healthy_after_fuzzing(fuzz_server: tuple[str, str, str, str]) -> None:
    base_url, key, _, db = fuzz_server
    answer = httpx.post(
        base_url + "/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert answer.status_code == 200
    _expect_row(db)
