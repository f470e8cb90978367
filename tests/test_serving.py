"""The serving stack built in one place: ServeSettings -> build_app / serve, through a real server."""

from __future__ import annotations

import json
import os

import openai
import pytest

from distillscope.errors import ConfigError
from distillscope.serving import ServeSettings, build_app, serve, watermark_hook


def test_open_mode_refuses_a_public_address():
    with pytest.raises(ConfigError, match="loopback only"):
        ServeSettings(host="0.0.0.0").check()
    ServeSettings(host="0.0.0.0", db="guard.db").check()  # the guard may serve anywhere


def test_watermark_with_an_upstream_is_refused_not_ignored():
    with pytest.raises(ConfigError, match="local backend only"):
        ServeSettings(upstream="http://127.0.0.1:9/v1", watermark="wm.toml").check()


def test_unknown_model_directory_is_a_config_error_before_torch_loads(tmp_path):
    with pytest.raises(ConfigError):
        build_app(ServeSettings(model=str(tmp_path / "no-such-model"), port=0))


def test_open_mode_serves_and_logs_to_jsonl(tiny_model_dir, tmp_path):
    log = tmp_path / "log.jsonl"
    settings = ServeSettings(model=str(tiny_model_dir), port=0, threads=1, log_jsonl=str(log))
    with serve(settings) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="local")
        [model] = [m.id for m in client.models.list().data]
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
    assert answer.choices[0].finish_reason in ("stop", "length")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["account"] == "local"


def test_guarded_and_watermarked_server_from_settings(tiny_model_dir, tmp_path, monkeypatch):
    """db + watermark in the settings: keys are required, exchanges are logged, each account gets its key."""
    from distillscope.guard.keys import KeyStore
    from distillscope.guard.logstore import open_log_store
    from distillscope.guard.secret import load_server_secret
    from distillscope.watermark.config import WatermarkSettings

    monkeypatch.setenv("DISTILLSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", "s" * 32)
    secret = tmp_path / "wm.secret"
    secret.write_text("w" * 64)
    os.chmod(secret, 0o600)
    db = str(tmp_path / "guard.db")
    settings = ServeSettings(
        model=str(tiny_model_dir),
        port=0,
        threads=1,
        db=db,
        watermark=WatermarkSettings(secret_file=str(secret)),
    )
    built_mode = settings.mode
    processors_for = watermark_hook(settings)
    [alice] = processors_for("alice")
    [bob] = processors_for("bob")
    assert alice.key_id != bob.key_id  # per-account keys
    with serve(settings) as base_url:
        key, _ = KeyStore(db, load_server_secret()).create_key("alice")
        refused = openai.OpenAI(base_url=base_url, api_key="ds-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            refused.models.list()
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        model = client.models.list().data[0].id
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    assert built_mode.startswith("guarded")
    logged = list(open_log_store(db).iter_exchanges())
    assert [row.account for row in logged] == ["alice"]
