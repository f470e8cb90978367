"""Log-prob defences on real OpenAI-shaped payloads: what changes, what never does."""

from __future__ import annotations

import math

import pytest

from distillscope.defend.logprobs import LogprobDefence, defend_logprobs


def _chat() -> dict:
    return {
        "content": [
            {
                "token": "Paris",
                "logprob": -0.123456,
                "bytes": [80, 97, 114, 105, 115],
                "top_logprobs": [
                    {"token": "Paris", "logprob": -0.123456, "bytes": None},
                    {"token": "Lyon", "logprob": -2.5, "bytes": None},
                    {"token": "Nice", "logprob": -3.75, "bytes": None},
                ],
            }
        ]
    }


def _legacy() -> dict:
    return {
        "tokens": ["The", " end"],
        "token_logprobs": [None, -0.987654],
        "top_logprobs": [None, {" end": -0.987654, " start": -1.5, " middle": -4.0}],
        "text_offset": [0, 3],
    }


def test_off_returns_the_same_object():
    payload = _chat()
    assert defend_logprobs(payload, LogprobDefence()) is payload
    assert defend_logprobs(None, LogprobDefence(noise=1.0)) is None


def test_rounding_and_the_top_cap_on_chat_payloads():
    payload = _chat()
    out = defend_logprobs(payload, LogprobDefence(round_to=1, max_top=2))
    entry = out["content"][0]
    assert entry["token"] == "Paris" and entry["bytes"] == [80, 97, 114, 105, 115]
    assert entry["logprob"] == -0.1
    assert [t["token"] for t in entry["top_logprobs"]] == ["Paris", "Lyon"]
    assert [t["logprob"] for t in entry["top_logprobs"]] == [-0.1, -2.5]
    assert payload == _chat()  # the input is not modified


def test_hide_tail_renormalises_the_alternatives():
    out = defend_logprobs(_legacy(), LogprobDefence(max_top=2, hide_tail=True))
    top = out["top_logprobs"][1]
    assert list(top) == [" end", " start"]
    assert math.isclose(sum(math.exp(v) for v in top.values()), 1.0, rel_tol=1e-9)
    assert out["tokens"] == ["The", " end"] and out["text_offset"] == [0, 3]
    assert out["token_logprobs"][0] is None


def test_noise_is_seeded_per_answer_and_never_positive():
    defence = LogprobDefence(noise=0.5)
    a = defend_logprobs(_chat(), defence, seed="chatcmpl-1")
    b = defend_logprobs(_chat(), defence, seed="chatcmpl-1")
    c = defend_logprobs(_chat(), defence, seed="chatcmpl-2")
    assert a == b  # a repeat shows the same noise: averaging repeats gains nothing
    assert a != c
    values = [a["content"][0]["logprob"]] + [t["logprob"] for t in a["content"][0]["top_logprobs"]]
    assert all(v <= 0 for v in values) and values != [-0.123456, -0.123456, -2.5, -3.75]


@pytest.mark.parametrize("bad", [{"round_to": 9}, {"noise": -1.0}, {"noise": float("nan")}, {"max_top": -1}])
def test_bad_strengths_are_refused(bad):
    with pytest.raises(ValueError):
        LogprobDefence(**bad)
