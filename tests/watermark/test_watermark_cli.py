"""`distillscope watermark ...` end to end: detect, radioactivity, cost, new-secret, key."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.processor import processors_for_account

runner = CliRunner()


def detect(log, config, model, *options: str):
    """`distillscope watermark detect LOG -c CONFIG --model MODEL OPTIONS...`"""
    args = ["watermark", "detect", str(log), "-c", str(config), "--model", str(model), *options]
    return runner.invoke(app, args)


def err(result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


@pytest.fixture
def config_file(tmp_path, secret_env):
    path = tmp_path / "wm.toml"
    path.write_text("[watermark]\nmode = 'per-account'\ndelta = 4.0\nmin_tokens = 20\n")
    return path


@pytest.fixture
def exchanges_file(tmp_path, tiny_model_dir, secret_env):
    """Answers of a tiny model watermarked for alice, as an exchange log, plus one malformed line."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = LlamaForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    processor = processors_for_account(WatermarkSettings(delta=4.0), "alice")
    torch.manual_seed(0)
    prompt = torch.randint(0, 49152, (3, 4), generator=torch.Generator().manual_seed(1))
    out = model.generate(
        prompt, logits_processor=processor, do_sample=True, max_new_tokens=40, pad_token_id=0
    )
    lines = []
    for i, ids in enumerate(out[:, 4:].tolist()):
        text = tokenizer.decode(ids, skip_special_tokens=True)
        lines.append(
            json.dumps(
                {
                    "id": f"x{i}",
                    "ts": 1.0,
                    "account": "alice",
                    "messages": [{"role": "user", "content": "hi"}],
                    "response_text": text,
                }
            )
        )
    lines.insert(1, "{not json")
    lines.append(
        json.dumps(
            {
                "id": "y",
                "ts": 1.0,
                "account": "bob",
                "messages": [{"role": "user", "content": "x"}],
                "response_text": "An ordinary answer, written without any watermark at all.",
            }
        )
    )
    path = tmp_path / "exchanges.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_detect_names_the_account_from_an_exchange_log(config_file, exchanges_file, tiny_model_dir):
    result = detect(exchanges_file, config_file, tiny_model_dir, "--controls", "2", "--json")
    assert result.exit_code == 0, result.output
    unwrapped = "".join(result.stderr.split())
    assert "skipped" in unwrapped and "exchanges.jsonl:2:invalidJSON" in unwrapped  # the bad line, by number
    report = json.loads(result.stdout)
    assert report["attributed"] == ["alice"]
    assert {k["name"] for k in report["keys"]} == {"alice", "bob", "control-1", "control-2"}
    assert report["correction"] == "holm"
    assert "watermark detected" in err(result)


def test_detect_in_rounds_names_the_account_then_tests_the_rest(config_file, exchanges_file, tiny_model_dir):
    result = detect(exchanges_file, config_file, tiny_model_dir, "--rounds", "--controls", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["attributed"] == ["alice"]
    first, *rest = report["rounds"]
    assert first["round"] == 1 and first["named"] == ["alice"] and first["alpha"] == 0.005
    assert first["explained"] >= 1 and first["documents"] == 4  # alice's three answers and bob's one
    # Round 2 tests bob (and the controls again) on what alice's key did not explain, at alpha / 4.
    assert rest and rest[0]["alpha"] == 0.0025 and rest[0]["named"] == []
    assert rest[0]["documents"] == 4 - first["explained"]
    assert {k["name"] for k in rest[0]["keys"]} == {"bob", "control-1", "control-2"}
    assert "round 1 names alice" in err(result)
    bad = detect(exchanges_file, config_file, tiny_model_dir, "--rounds", "--per-document")
    assert bad.exit_code == 2 and "--rounds is a pooled" in err(bad)


def test_detect_strict_stops_at_a_malformed_line(config_file, exchanges_file, tiny_model_dir):
    result = detect(exchanges_file, config_file, tiny_model_dir, "--strict")
    assert result.exit_code == 2 and "line 2" not in result.stdout
    assert "invalid JSON" in err(result)


def test_detect_short_text_says_too_short(config_file, tiny_model_dir):
    for text in ("", "Too short."):
        result = runner.invoke(
            app,
            [
                "watermark",
                "detect",
                "--text",
                text,
                "-c",
                str(config_file),
                "--accounts",
                "alice,bob",
                "--model",
                str(tiny_model_dir),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["too_short"] and report["overall_p"] is None
        assert all(k["p_value"] is None for k in report["keys"])
        assert "too short to test" in err(result)


def test_clear_errors_for_bad_setups(tmp_path, config_file, tiny_model_dir, monkeypatch):
    result = runner.invoke(
        app, ["watermark", "detect", "--text", "x", "-c", str(config_file), "--model", str(tiny_model_dir)]
    )
    assert result.exit_code == 2 and "name the accounts" in err(result)
    result = runner.invoke(
        app, ["watermark", "detect", str(tmp_path / "absent.jsonl"), "-c", str(config_file)]
    )
    assert result.exit_code == 2 and "no such file" in err(result)
    monkeypatch.delenv("DISTILLSCOPE_WATERMARK_SECRET")
    result = runner.invoke(
        app, ["watermark", "detect", "--text", "x", "-c", str(config_file), "--accounts", "a"]
    )
    assert result.exit_code == 2 and "master secret is not set" in err(result)
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["watermark", "radioactivity", "-c", str(config_file), "--accounts", "a"])
    assert result.exit_code == 2 and "exactly one of --suspect" in err(result)


def test_radioactivity_reading_mode_prints_keys_and_controls(tmp_path, config_file, tiny_model_dir):
    texts = tmp_path / "reading.txt"
    texts.write_text(
        "The quick brown fox jumps over the lazy dog. " * 3 + "Rivers flow to the sea, and rain "
        "falls on the hills where the forests grow tall and green every spring."
    )
    result = runner.invoke(
        app,
        [
            "watermark",
            "radioactivity",
            "-c",
            str(config_file),
            "--suspect",
            str(tiny_model_dir),
            "--teacher",
            str(tiny_model_dir),
            "--texts",
            str(texts),
            "--accounts",
            "alice,bob",
            "--controls",
            "3",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "reading" and len([k for k in report["keys"] if k["role"] == "control"]) == 3
    assert report["attributed"] == []  # a random tiny model never saw watermarked text
    assert report["fresh_seeds"] is True and "negative controls" in err(result)

    selfhash = tmp_path / "selfhash.toml"
    selfhash.write_text(config_file.read_text() + "seeding_scheme = 'selfhash'\ncontext_width = 2\n")
    args = ["watermark", "radioactivity", "-c", str(selfhash), "--suspect", str(tiny_model_dir)]
    args += ["--teacher", str(tiny_model_dir), "--texts", str(texts), "--accounts", "alice", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fresh_seeds"] is False
    assert "every position is scored" in err(result)


def test_radioactivity_black_box_mode_through_a_real_server(
    tmp_path, config_file, tiny_model_dir, monkeypatch
):
    """The suspect is an API whose answers carry alice's watermark: the command names alice, not bob.

    The suspect is the guarded, watermarked server itself, queried with alice's key, so every
    answer is marked with alice's per-account key, exactly as the server marks her harvest.
    """
    from distillscope.guard.keys import KeyStore
    from distillscope.guard.secret import load_server_secret
    from distillscope.serving import ServeSettings, serve

    config = WatermarkSettings.from_file(config_file)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(f"Tell me about topic number {i}." for i in range(6)) + "\n")
    monkeypatch.setenv("DISTILLSCOPE_SERVER_SECRET", "a-test-server-secret-of-32-bytes")
    db = str(tmp_path / "guard.db")
    alice_key, _ = KeyStore(db, load_server_secret()).create_key("alice")
    monkeypatch.setenv("SUSPECT_KEY", alice_key)
    suspect = ServeSettings(
        model=str(tiny_model_dir), served_model_name="tiny", port=0, db=db, watermark=config
    )
    with serve(suspect) as base_url:
        args = ["watermark", "radioactivity", "-c", str(config_file), "--suspect-url", base_url]
        args += ["--suspect-model", "tiny", "--api-key-env", "SUSPECT_KEY", "--prompts", str(prompts)]
        args += ["--teacher", str(tiny_model_dir), "--accounts", "alice,bob", "--max-new-tokens", "32"]
        args += ["--temperature", "1.0", "--seed", "7", "--alpha", "0.001"]
        result = runner.invoke(app, [*args, "--json"])
        missing = runner.invoke(app, [*args, "--api-key-env", "NO_SUCH_VAR"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "black-box" and report["documents"] == 6
    assert report["attributed"] == ["alice"] and report["controls_ok"]
    assert "radioactive" in err(result) and "negative controls" in err(result)
    assert missing.exit_code != 0 and "$NO_SUCH_VAR is not set" in err(missing)


def test_cost_reports_agreement_and_perplexity(tmp_path, secret_env, tiny_model_dir):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Say hello.\nName a colour.\nCount to three.\n")
    outcomes = {}
    for delta in (0.0, 8.0):
        config = tmp_path / f"wm{delta}.json"
        config.write_text(json.dumps({"delta": delta}))
        result = runner.invoke(
            app,
            [
                "watermark",
                "cost",
                "-c",
                str(config),
                "--model",
                str(tiny_model_dir),
                "--prompts",
                str(prompts),
                "--n",
                "3",
                "--max-new-tokens",
                "8",
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        outcomes[delta] = json.loads(result.stdout)
    assert outcomes[0.0]["exact_match"] == 1.0 and outcomes[0.0]["agreement"] == 1.0
    assert outcomes[8.0]["agreement"] < 0.9 and outcomes[8.0]["perplexity_ratio"] > 1.0
    assert outcomes[8.0]["green_fraction_watermarked"] > 0.8


def test_new_secret_and_key_reveal(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    assert runner.invoke(app, ["watermark", "new-secret", str(secret)]).exit_code == 0
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600 and len(secret.read_text().strip()) == 64
    again = runner.invoke(app, ["watermark", "new-secret", str(secret)])
    assert again.exit_code == 2 and "refusing to overwrite" in err(again)
    config = tmp_path / "wm.json"
    config.write_text(json.dumps({"secret_file": "secret"}))
    hidden = json.loads(runner.invoke(app, ["watermark", "key", "alice", "-c", str(config)]).stdout)
    assert "transformers_watermarking_config" not in hidden
    shown = json.loads(
        runner.invoke(app, ["watermark", "key", "alice", "-c", str(config), "--reveal"]).stdout
    )
    expected = WatermarkSettings.from_file(config).key_for("alice")
    assert shown["transformers_watermarking_config"]["hashing_key"] == expected
    assert shown["key_id"] == hidden["key_id"]


def test_options_come_from_the_settings_and_bad_values_are_clear(config_file, tiny_model_dir):
    """--control-accounts, --all-seeds and --alpha reach the RadioactivityTest; a bad alpha is one line."""
    bad = runner.invoke(
        app, ["watermark", "radioactivity", "-c", str(config_file), "--suspect", "x", "--alpha", "1.5"]
    )
    assert (
        bad.exit_code == 2 and "alpha must lie between 0 and 1" in err(bad) and "Traceback" not in bad.output
    )
    bad = runner.invoke(app, ["watermark", "detect", "--text", "x", "-c", str(config_file), "--alpha", "0"])
    assert bad.exit_code == 2 and "alpha must lie between 0 and 1" in err(bad)
    args = ["watermark", "radioactivity", "-c", str(config_file), "--suspect", str(tiny_model_dir)]
    args += ["--teacher", str(tiny_model_dir), "--accounts", "alice", "--control-accounts", "dave,erin"]
    result = runner.invoke(app, [*args, "--controls", "1", "--all-seeds", "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    controls = sorted(k["name"] for k in report["keys"] if k["role"] == "control")
    assert controls == ["control-key-1", "control:dave", "control:erin"]
    assert report["fresh_seeds"] is False and report["documents"] == 2


def test_radioactivity_own_texts_reads_each_key_on_its_accounts_texts(
    config_file, tiny_model_dir, exchanges_file
):
    """--own-texts: alice's key reads alice's texts only; each control key reads each account's texts."""
    args = ["watermark", "radioactivity", "-c", str(config_file), "--suspect", str(tiny_model_dir)]
    args += ["--teacher", str(tiny_model_dir), "--accounts", "alice,bob,carol", "--controls", "2"]
    result = runner.invoke(app, [*args, "--texts", str(exchanges_file), "--own-texts", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "reading-own-texts" and report["documents"] == 4  # the malformed line skipped
    keys = {k["name"]: k for k in report["keys"]}
    controls = sorted(k["name"] for k in report["keys"] if k["role"] == "control")
    assert controls == [
        "control-key-1@alice",
        "control-key-1@bob",
        "control-key-2@alice",
        "control-key-2@bob",
    ]
    assert keys["carol"]["scored"] == 0 and keys["carol"]["p_value"] is None  # no texts: no test
    assert 0 < keys["bob"]["scored"] < keys["alice"]["scored"]  # bob's one short text, alice's three
    assert keys["control-key-1@bob"]["scored"] == keys["bob"]["scored"]
    assert report["attributed"] == []  # the tiny model never trained on alice's answers

    missing = runner.invoke(app, [*args, "--own-texts"])
    assert missing.exit_code != 0 and "--own-texts reads each key on its account's texts" in err(missing)
