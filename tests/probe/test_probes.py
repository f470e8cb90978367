"""Probes against real servers on loopback (the official openai client on the wire)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.probe.endpoint import Endpoint, ProbeError
from distillscope.probe.equality import permutation_test, probe_equality
from distillscope.probe.hidden_size import choose_tokens, estimate_rank, probe_hidden_size
from distillscope.probe.identity import find_names, probe_identity

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


# -- identity -----------------------------------------------------------------------------


def test_find_names_ignores_case_spacing_and_hyphens() -> None:
    names = ["Hugging Face", "SmolLM", "Acme AI"]
    assert find_names("I was trained by huggingface.", names) == ["Hugging Face"]
    assert find_names("I am SmolLM2, from Hugging-Face", names) == ["Hugging Face", "SmolLM"]
    assert find_names("I'm an AI assistant made by ACME  ai", names) == ["Acme AI"]
    assert find_names("I am a helpful assistant.", names) == []
    assert find_names("unsmollmish", ["SmolLM"]) == []  # not glued to a preceding word


def test_identity_probe_through_a_real_server(tiny_url: str) -> None:
    result = probe_identity(Endpoint(tiny_url), watch_names=["Hugging Face", "SmolLM"], max_tokens=8)
    assert len(result.answers) == 5
    assert all(a.answer for a in result.answers)  # the random model says *something*
    assert not result.leaked and result.leak_rate == 0.0  # and it is not any watched name
    assert result.to_dict()["watch_names"] == ["Hugging Face", "SmolLM"]


@pytest.mark.slow
def test_identity_probe_catches_smollm2(teacher_dir: Path) -> None:
    from distillscope.serving import ServeSettings, serve

    with serve(ServeSettings(model=str(teacher_dir), port=0)) as url:
        result = probe_identity(Endpoint(url, timeout=600), max_tokens=48)
    # Greedy SmolLM2 names itself in answer to at least one phrasing ("What model are you, exactly?").
    assert result.leaked, [a.answer for a in result.answers]


def test_identity_cli(tiny_url: str, tmp_path: Path) -> None:
    out = tmp_path / "identity.json"
    result = runner.invoke(
        app, ["probe", "identity", "--url", tiny_url, "--question", "Who made you?", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert [a["question"] for a in saved["answers"]] == ["Who made you?"]
    assert "api_key" not in out.read_text(encoding="utf-8")


def test_unreachable_endpoint_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ProbeError, match="could not list models|Connection"):
        probe_identity(Endpoint(f"http://127.0.0.1:{port}/v1", timeout=5))
    with pytest.raises(ProbeError, match=r"\*\*\*@") as refused:
        probe_identity(Endpoint(f"http://op:hunter2@127.0.0.1:{port}/v1?key=hunter2", timeout=5))
    assert "hunter2" not in str(refused.value)
    assert "hunter2" not in Endpoint("http://op:hunter2@h/v1", model="m").label()
    result = runner.invoke(app, ["probe", "identity", "--url", "ftp://nowhere"])
    assert result.exit_code == 2 and "http(s) URL" in _flat(result.output)
    result = runner.invoke(app, ["probe", "identity", "--url", "http://x/v1", "--key-env", "DS_NO_SUCH_VAR"])
    assert result.exit_code == 2 and "DS_NO_SUCH_VAR" in _flat(result.output)


# -- hidden size --------------------------------------------------------------------------


def test_estimate_rank_on_a_known_low_rank_matrix() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(60, 12)) @ rng.normal(size=(12, 50)) + 1e-7 * rng.normal(size=(60, 50))
    rank, ratio, values = estimate_rank(matrix)
    assert rank == 12 and ratio > 1e3 and len(values) == 49


def test_hidden_size_of_the_tiny_model_through_the_real_server(tiny_url: str, tiny_model_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    hidden = AutoConfig.from_pretrained(str(tiny_model_dir)).hidden_size
    assert hidden == 64
    result = probe_hidden_size(Endpoint(tiny_url), tokenizer, prompts=72, tokens=72)
    assert result.estimate == hidden, result.to_dict()
    assert not result.lower_bound_only
    assert result.queries == 72 * 4  # ceil(72 / 19) biased requests per prompt


def test_hidden_size_says_lower_bound_when_the_sample_is_too_small(
    tiny_url: str, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    result = probe_hidden_size(Endpoint(tiny_url), tokenizer, prompts=30, tokens=38)
    assert result.estimate is None and result.lower_bound_only


def test_hidden_size_with_the_wrong_tokenizer_fails_clearly(tiny_url: str) -> None:
    class ShiftedTokenizer:  # names ids the server decodes to other strings
        all_special_ids: list[int] = []

        def __len__(self) -> int:
            return 300

        def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
            return f"<tok{ids[0]}>"

    with pytest.raises(ProbeError, match="reference token is missing"):
        probe_hidden_size(Endpoint(tiny_url), ShiftedTokenizer(), prompts=4, tokens=4)


def test_choose_tokens_are_unique_strings(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    ids = choose_tokens(tokenizer, 50)
    texts = [tokenizer.decode([i]) for i in ids]
    assert len(set(texts)) == 50 and ids == choose_tokens(tokenizer, 50)


# -- equality -----------------------------------------------------------------------------


def test_permutation_test_is_calibrated_on_identical_samples() -> None:
    same = np.ones((8, 8))
    statistic, p_value = permutation_test([same, same], samples_per_side=4, permutations=99)
    assert statistic == 0.0 and p_value == 1.0


def test_equality_same_model_vs_different_model(sharp_urls: tuple[str, str]) -> None:
    url_a, url_b = sharp_urls
    same = probe_equality(
        Endpoint(url_a), Endpoint(url_a), prompts=8, samples=6, max_tokens=6, permutations=499
    )
    other = probe_equality(
        Endpoint(url_a), Endpoint(url_b), prompts=8, samples=6, max_tokens=6, permutations=499
    )
    assert same.greedy_agreement == 1.0
    assert same.p_value > 0.05, same.to_dict()
    assert other.p_value < 0.01, other.to_dict()
    assert other.greedy_agreement < 1.0
    assert "different models" in other.verdict() and "no evidence" in same.verdict()


def test_equality_cli(sharp_urls: tuple[str, str]) -> None:
    url_a, url_b = sharp_urls
    result = runner.invoke(
        app,
        [
            "probe",
            "equality",
            "--url-a",
            url_a,
            "--url-b",
            url_b,
            "--prompts",
            "4",
            "--samples",
            "4",
            "--permutations",
            "99",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert 0 < payload["p_value"] <= 1 and payload["prompts"] == 4
