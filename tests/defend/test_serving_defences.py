"""Countermeasures through the real server (`distillscope serve` settings, the official openai client).

Each countermeasure changes what the client sees as it should; with every one off,
and for requests a ``flagged`` scope leaves alone, the answers are byte-identical
to the undefended server's.
"""

from __future__ import annotations

import json
import math
import os

import httpx
import openai
import pytest

from distillscope.errors import ConfigError
from distillscope.serving import ServeSettings, build_app, serve

PROMPT = [{"role": "user", "content": "Count: one two three"}]


def _settings(model_dir, **options) -> ServeSettings:
    return ServeSettings(model=str(model_dir), port=0, threads=1, **options)


def _chat(base_url: str, key: str = "local", **extra) -> dict:
    """The raw JSON body of a seeded chat answer (bytes as sent, minus the per-request id and time)."""
    body = {"model": "tiny", "messages": PROMPT, "max_tokens": 6, "seed": 7, "temperature": 0.0, **extra}
    response = httpx.post(
        f"{base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    return {"choices": answer["choices"], "usage": answer["usage"]}


def _client(base_url: str, key: str = "local") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def undefended(tiny_model_dir):
    """Answers of the undefended server: greedy with log-probs, and a seeded sample."""
    with serve(_settings(tiny_model_dir, served_model_name="tiny")) as base_url:
        yield {
            "greedy": _chat(base_url, logprobs=True, top_logprobs=5),
            "sampled": _chat(base_url, temperature=1.0, logprobs=True, top_logprobs=3),
            "legacy": _client(base_url)
            .completions.create(model="tiny", prompt="one two", max_tokens=5, logprobs=4, temperature=0)
            .model_dump(),
            "base_url": base_url,
        }


def test_every_countermeasure_off_builds_nothing_and_answers_byte_identical(tiny_model_dir, undefended):
    built = build_app(_settings(tiny_model_dir, served_model_name="tiny"))
    assert built.countermeasures is None
    with serve(_settings(tiny_model_dir, served_model_name="tiny", logprob_noise=0.0)) as base_url:
        assert json.dumps(_chat(base_url, logprobs=True, top_logprobs=5)) == json.dumps(undefended["greedy"])


def test_logprob_defences_change_only_the_reported_logprobs(tiny_model_dir, undefended):
    settings = _settings(
        tiny_model_dir, served_model_name="tiny", logprob_round=1, logprob_max_top=2, logprob_hide_tail=True
    )
    with serve(settings) as base_url:
        answer = _chat(base_url, logprobs=True, top_logprobs=5)
    plain = undefended["greedy"]["choices"][0]
    choice = answer["choices"][0]
    assert choice["message"] == plain["message"]  # the text never changes
    entries = choice["logprobs"]["content"]
    assert [e["token"] for e in entries] == [e["token"] for e in plain["logprobs"]["content"]]
    for entry in entries:
        assert len(entry["top_logprobs"]) == 2  # capped, though 5 were asked for
        assert all(round(t["logprob"], 1) == t["logprob"] for t in entry["top_logprobs"])
        assert round(entry["logprob"], 1) == entry["logprob"]
        # hide_tail: the reported alternatives are renormalised (to one, up to the rounding)
        assert sum(math.exp(t["logprob"]) for t in entry["top_logprobs"]) == pytest.approx(1.0, abs=0.15)
    assert entries != plain["logprobs"]["content"]


def test_logprob_noise_is_keyed_per_request_the_same_on_repeat_and_in_streams(tiny_model_dir, undefended):
    with serve(_settings(tiny_model_dir, served_model_name="tiny", logprob_noise=0.5)) as base_url:
        first = _chat(base_url, logprobs=True, top_logprobs=5)
        repeat = _chat(base_url, logprobs=True, top_logprobs=5)
        other = _chat(base_url, logprobs=True, top_logprobs=5, max_tokens=5)
        stream = _client(base_url).chat.completions.create(
            model="tiny",
            messages=PROMPT,
            max_tokens=6,
            seed=7,
            temperature=0.0,
            logprobs=True,
            top_logprobs=5,
            stream=True,
        )
        streamed = [
            e.logprob for chunk in stream for c in chunk.choices if c.logprobs for e in c.logprobs.content
        ]
    noisy = [e["logprob"] for e in first["choices"][0]["logprobs"]["content"]]
    plain = [e["logprob"] for e in undefended["greedy"]["choices"][0]["logprobs"]["content"]]
    assert first["choices"][0]["message"] == undefended["greedy"]["choices"][0]["message"]
    assert noisy != plain and all(v <= 0 for v in noisy)
    assert json.dumps(repeat) == json.dumps(first)  # averaging repeats gains nothing
    assert [e["logprob"] for e in other["choices"][0]["logprobs"]["content"]] != noisy[:5]  # another request
    assert streamed == pytest.approx(noisy)


def test_logprob_defences_apply_to_legacy_completions_and_in_front_of_an_upstream(undefended):
    settings = ServeSettings(upstream=undefended["base_url"], model="tiny", port=0, logprob_max_top=1)
    with serve(settings) as base_url:
        answer = _client(base_url).completions.create(
            model="tiny", prompt="one two", max_tokens=5, logprobs=4, temperature=0
        )
    plain = undefended["legacy"]["choices"][0]
    assert answer.choices[0].text == plain["text"]
    assert answer.choices[0].logprobs.tokens == plain["logprobs"]["tokens"]
    assert all(len(top) == 1 for top in answer.choices[0].logprobs.top_logprobs)
    assert answer.choices[0].logprobs.token_logprobs == plain["logprobs"]["token_logprobs"]


def test_antidistillation_sampling_changes_the_text_and_lambda_zero_does_not(
    tiny_model_dir, undefended, tmp_path
):
    downstream = tmp_path / "downstream.txt"
    downstream.write_text("one two three four five\nsix seven eight nine ten\n")
    options = {"antidistill_proxy": "first:1", "antidistill_downstream": str(downstream)}
    with serve(_settings(tiny_model_dir, served_model_name="tiny", antidistill_lambda=0.0, **options)) as url:
        assert json.dumps(_chat(url, logprobs=True, top_logprobs=5)) == json.dumps(undefended["greedy"])
    with serve(
        _settings(tiny_model_dir, served_model_name="tiny", antidistill_lambda=50.0, **options)
    ) as url:
        tilted = _chat(url)
    assert (
        tilted["choices"][0]["message"]["content"] != undefended["greedy"]["choices"][0]["message"]["content"]
    )


def _guard_env(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DISTILLSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", "s" * 32)
    policy = tmp_path / "policy.toml"
    policy.write_text('[risk]\nstrip_logprobs = 1.0\nthrottle = 1.0\n[accounts.mallory]\naction = "defend"\n')
    return str(policy)


def test_flagged_scope_defends_the_policys_accounts_only(tiny_model_dir, undefended, tmp_path, monkeypatch):
    from distillscope.guard.keys import KeyStore
    from distillscope.guard.logstore import open_log_store
    from distillscope.guard.secret import load_server_secret

    policy = _guard_env(tmp_path, monkeypatch)
    db = str(tmp_path / "guard.db")
    settings = _settings(
        tiny_model_dir,
        served_model_name="tiny",
        db=db,
        policy=policy,
        defend_scope="flagged",
        logprob_round=0,
    )
    with serve(settings) as base_url:
        keys = KeyStore(db, load_server_secret())
        alice, _ = keys.create_key("alice")
        mallory, _ = keys.create_key("mallory")
        honest = _chat(base_url, alice, logprobs=True, top_logprobs=5)
        flagged = _chat(base_url, mallory, logprobs=True, top_logprobs=5)
    assert json.dumps(honest) == json.dumps(undefended["greedy"])  # byte-identical for alice
    rounded = [e["logprob"] for e in flagged["choices"][0]["logprobs"]["content"]]
    assert (
        rounded == [float(round(v)) for v in rounded]
        and flagged["choices"][0]["message"] == honest["choices"][0]["message"]
    )
    decisions = {row.account: row.to_dict().get("decision") for row in open_log_store(db).iter_exchanges()}
    assert decisions == {"alice": "allow", "mallory": "defend"}


def test_watermark_delta_dial(tiny_model_dir, tmp_path, monkeypatch):
    from distillscope.watermark.config import WatermarkSettings

    secret = tmp_path / "wm.secret"
    secret.write_text("w" * 64)
    os.chmod(secret, 0o600)
    config = WatermarkSettings(secret_file=str(secret), delta=2.0)
    with serve(_settings(tiny_model_dir, served_model_name="tiny")) as url:
        plain = _chat(url, max_tokens=12)
    with serve(
        _settings(tiny_model_dir, served_model_name="tiny", watermark=config, watermark_delta=0.0)
    ) as url:
        off = _chat(url, max_tokens=12)
    with serve(
        _settings(tiny_model_dir, served_model_name="tiny", watermark=config, watermark_delta=80.0)
    ) as url:
        strong = _chat(url, max_tokens=12)
    assert json.dumps(off) == json.dumps(plain)  # delta 0: the watermark changes nothing
    assert strong["choices"][0]["message"] != plain["choices"][0]["message"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"watermark_delta": 2.0}, "needs --watermark"),
        ({"defend_scope": "flagged"}, "needs --db or --policy"),
        ({"defend_scope": "some"}, "--defend-scope"),
        ({"logprob_round": 9}, "round_to"),
        ({"upstream": "http://127.0.0.1:9/v1", "antidistill_lambda": 1.0}, "local backend only"),
    ],
)
def test_countermeasure_settings_that_cannot_be_served_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        ServeSettings(**options).check()


def test_serve_cli_lists_the_countermeasure_options():
    from typer.testing import CliRunner

    from distillscope.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--logprob-noise",
        "--logprob-max-top",
        "--antidistill-lambda",
        "--watermark-delta",
        "--defend-scope",
    ):
        assert option in result.output
    refused = CliRunner().invoke(app, ["serve", "--watermark-delta", "3"])
    assert refused.exit_code == 2 and "needs --watermark" in refused.output


def test_policy_defend_action_by_account_risk_and_watch_list():
    from distillscope.guard.policy import PolicyEngine, PolicySettings

    config = PolicySettings.from_dict(
        {
            "risk": {"defend": 0.4, "throttle": None, "strip_logprobs": None},
            "watch": {"defend": True, "throttle": False, "strip_logprobs": False},
            "accounts": {"mallory": {"action": "defend"}},
        }
    )
    engine = PolicyEngine(config)
    body = {"messages": PROMPT}
    assert not engine.decide("alice", 0.1, [], body, 0.0).defend
    risky = engine.decide("alice", 0.5, ["burst"], body, 0.0)
    assert risky.defend and risky.action == "defend" and "defend threshold" in risky.reasons[0]
    assert engine.decide("mallory", 0.0, [], body, 0.0).defend
    assert engine.decide("bob", 0.0, [], body, 0.0, watched="campaign c1").defend
    with pytest.raises(ValueError, match="risk.defend"):
        PolicySettings.from_dict({"risk": {"defend": 2}})
    with pytest.raises(ValueError, match="watch.defend"):
        PolicySettings.from_dict({"watch": {"defend": "yes"}})


def test_a_global_watermark_with_an_explicit_key_needs_no_master_secret(monkeypatch):
    from distillscope.serving import watermark_hook
    from distillscope.watermark.config import WatermarkSettings

    monkeypatch.delenv("DISTILLSCOPE_WATERMARK_SECRET", raising=False)
    hook = watermark_hook(ServeSettings(watermark=WatermarkSettings(mode="global", hashing_key=7, delta=3.0)))
    assert hook is not None
    [processor] = hook("anyone")
    assert processor.delta == 3.0
    with pytest.raises(ConfigError, match="master secret"):
        watermark_hook(ServeSettings(watermark=WatermarkSettings()))
