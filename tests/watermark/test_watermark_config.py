"""WatermarkSettings validation and loading, master secrets, HMAC key derivation, the server hook."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from distillscope.watermark.config import WatermarkConfigError, WatermarkSettings
from distillscope.watermark.keys import control_keys, derive_key, fingerprint
from distillscope.watermark.processor import GreenListLogitsProcessor, processors_for_account


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.0}, "gamma"),
        ({"gamma": "0.5"}, "gamma"),
        ({"delta": -1.0}, "delta"),
        ({"delta": float("inf")}, "delta"),
        ({"context_width": 0}, "context_width"),
        ({"seeding_scheme": "minhash"}, "seeding_scheme"),
        ({"mode": "per-user"}, "mode"),
        ({"hashing_key": 42}, "only for mode"),
        ({"mode": "global", "hashing_key": 0}, "hashing_key"),
        ({"mode": "global", "hashing_key": 2**63}, "hashing_key"),
        ({"min_tokens": 0}, "min_tokens"),
        ({"vocab_size": 3, "gamma": 0.1}, "green token"),
        ({"exempt_accounts": "alice"}, "exempt_accounts"),
    ],
)
def test_invalid_settings_are_rejected_with_the_setting_named(kwargs, message):
    with pytest.raises(WatermarkConfigError, match=message):
        WatermarkSettings(**kwargs)


def test_toml_and_json_files_load_the_same_config(tmp_path):
    (tmp_path / "wm.toml").write_text(
        '[watermark]\ngamma = 0.5\ndelta = 3.0\ncontext_width = 2\nseeding_scheme = "selfhash"\n'
        'secret_file = "keys/secret"\nexempt_accounts = ["internal"]\n'
    )
    data = {
        "gamma": 0.5,
        "delta": 3.0,
        "context_width": 2,
        "seeding_scheme": "selfhash",
        "secret_file": "keys/secret",
        "exempt_accounts": ["internal"],
    }
    (tmp_path / "wm.json").write_text(json.dumps(data))
    from_toml = WatermarkSettings.from_file(tmp_path / "wm.toml")
    from_json = WatermarkSettings.from_file(tmp_path / "wm.json")
    assert from_toml == from_json
    assert from_toml.exempt_accounts == ("internal",)
    assert from_toml.secret_file == str((tmp_path / "keys" / "secret").resolve())  # relative to the file


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.toml", "gamma = = 1", "invalid TOML"),
        ("bad.json", "{not json", "invalid JSON"),
        ("typo.toml", "gama = 0.5", "unknown watermark setting"),
        ("secret.toml", 'secret = "hunter2hunter2hunter2"', "do not put the master secret"),
        ("wm.yaml", "gamma: 0.5", "use a .toml or .json"),
    ],
)
def test_bad_config_files_give_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(WatermarkConfigError, match=message):
        WatermarkSettings.from_file(path)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(WatermarkConfigError, match="no such watermark config"):
        WatermarkSettings.from_file(tmp_path / "absent.toml")


def test_master_secret_from_env_or_file_and_refusals(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTILLSCOPE_WATERMARK_SECRET", raising=False)
    with pytest.raises(WatermarkConfigError, match="not set"):
        WatermarkSettings().master_secret()
    monkeypatch.setenv("DISTILLSCOPE_WATERMARK_SECRET", "short")
    with pytest.raises(WatermarkConfigError, match="too short"):
        WatermarkSettings().master_secret()
    monkeypatch.setenv("MY_SECRET", "a" * 20)
    assert WatermarkSettings(secret_env="MY_SECRET").master_secret() == b"a" * 20
    (tmp_path / "secret").write_text("b" * 32 + "\n")
    assert WatermarkSettings(secret_file=str(tmp_path / "secret")).master_secret() == b"b" * 32
    with pytest.raises(WatermarkConfigError, match="cannot read"):
        WatermarkSettings(secret_file=str(tmp_path / "nope")).master_secret()
    # A global key given explicitly needs no secret at all.
    assert WatermarkSettings(mode="global", hashing_key=15485863).key_for("anyone") == 15485863


def test_account_keys_are_hmac_sha256_of_the_account(secret_env):
    config = WatermarkSettings()
    expected = hmac.new(
        secret_env.encode(), b"distillscope-watermark/v1/account/alice", hashlib.sha256
    ).digest()
    assert config.key_for("alice") == int.from_bytes(expected[:8], "big") & (2**63 - 1)
    keys = {config.key_for(a) for a in ("alice", "bob", "carol", "Alice")}
    assert len(keys) == 4 and all(1 <= k < 2**63 for k in keys)
    assert config.key_for("alice") == WatermarkSettings().key_for("alice")  # deterministic
    assert derive_key(b"another-secret-0123456789", "alice") != config.key_for("alice")
    assert WatermarkSettings(key_label="v2").key_for("alice") != config.key_for("alice")  # rotation


def test_fingerprints_name_keys_without_revealing_them(secret_env):
    key = WatermarkSettings().key_for("alice")
    assert fingerprint(key).startswith("kid-") and str(key) not in fingerprint(key)
    assert fingerprint(key) != fingerprint(key + 1)
    processor = processors_for_account(WatermarkSettings(), "alice")[0]
    assert str(key) not in repr(processor) and fingerprint(key) in repr(processor)
    assert control_keys(3, seed=1) == control_keys(3, seed=1) != control_keys(3, seed=2)


def test_processors_for_account_per_account_global_exempt_disabled(secret_env):
    config = WatermarkSettings(exempt_accounts=("internal",))
    alice, bob = processors_for_account(config, "alice"), processors_for_account(config, "bob")
    assert len(alice) == 1 and isinstance(alice[0], GreenListLogitsProcessor)
    assert alice[0].key == config.key_for("alice") != bob[0].key
    assert processors_for_account(config, "alice")[0] is alice[0]  # cached per (config, account)
    assert processors_for_account(config, "internal") == []
    assert processors_for_account(WatermarkSettings(enabled=False), "alice") == []
    shared = WatermarkSettings(mode="global")
    assert processors_for_account(shared, "alice")[0].key == processors_for_account(shared, "bob")[0].key


def test_processors_for_account_fails_loudly_without_a_secret(monkeypatch):
    from distillscope.watermark import processor as processor_module

    processor_module._cached_processor.cache_clear()
    monkeypatch.delenv("DISTILLSCOPE_WATERMARK_SECRET", raising=False)
    with pytest.raises(WatermarkConfigError, match="not set"):
        processors_for_account(WatermarkSettings(), "alice")


def test_the_watermark_face_resolves_and_imports_lazily():
    """Every face name is the defining module's object; importing the package loads no torch."""
    import subprocess
    import sys
    from importlib import import_module

    import distillscope.watermark as face

    assert sorted(face.__all__) == sorted(face._FACE)
    for name in face.__all__:
        assert getattr(face, name) is getattr(import_module(face._FACE[name]), name), name
    code = "import sys, distillscope.watermark; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
