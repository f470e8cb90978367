"""Radioactivity: windows aligned with predictions, reading mode on tiny trained models, black-box mode."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM

from distillscope.models import tiny_model_config
from distillscope.models.generate import Forced
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import KeyCandidate, spec_for
from distillscope.watermark.processor import processors_for_account
from distillscope.watermark.radioactivity import (
    candidates_with_controls,
    prediction_pairs,
    read_suspect,
    score_predictions,
)
from distillscope.watermark.settings import RadioactivityTest

VOCAB = 1000
LANGUAGE = list(range(100, 140))  # a 40-token language a tiny model learns in seconds
STRICT = RadioactivityTest(alpha=1e-3)
ALL_SEEDS = RadioactivityTest(fresh_seeds=False)


@pytest.mark.parametrize("scheme, width", [("lefthash", 1), ("lefthash", 3), ("selfhash", 2)])
def test_predictions_are_scored_against_the_green_list_of_their_own_position(secret_env, scheme, width):
    config = WatermarkSettings(vocab_size=VOCAB, seeding_scheme=scheme, context_width=width)
    key = config.key_for("alice")
    spec = spec_for(config, key, VOCAB)
    rng = np.random.default_rng(0)
    forced = []
    for _ in range(20):
        ids = rng.integers(0, VOCAB, size=30).tolist()
        start = 5
        # A "suspect" that always predicts a token green for the window ending just before it.
        predictions = []
        for t in range(start, len(ids)):
            for candidate in rng.permutation(VOCAB).tolist():
                window = ids[t - width : t] if scheme == "lefthash" else ids[t - width + 1 : t] + [candidate]
                seed = spec.seeds(torch.tensor([window]))[0]
                if spec.is_green([seed], [candidate])[0]:
                    predictions.append(candidate)
                    break
        forced.append(Forced(ids, start, predictions, [0.0] * len(predictions)))
    candidates = [KeyCandidate("alice", key), KeyCandidate("bob", config.key_for("bob"))]
    report = score_predictions(forced, config, candidates, vocab_size=VOCAB)
    alice, bob = report.scores
    assert alice.test.green == alice.test.scored > 100  # every prediction green: windows line up
    assert bob.test.p_value > 0.001 and report.attributed == ["alice"]
    windows, predicted = prediction_pairs(forced[0], config)
    assert windows.shape == (25, width) and predicted.tolist() == forced[0].predictions


def test_reading_mode_finds_the_harvesting_key_and_controls_stay_quiet(train_tiny, secret_env, synth):
    config = WatermarkSettings(vocab_size=VOCAB, delta=4.0, min_tokens=20)
    alice = processors_for_account(config, "alice")[0]
    watermarked = synth(256, 40, VOCAB, processor=alice, seed=1, peak=1.0, allowed=LANGUAGE)
    plain = synth(256, 40, VOCAB, seed=2, peak=1.0, allowed=LANGUAGE)
    # Reading texts: fresh, unwatermarked sentences of the same language.
    reading = [([], ids) for ids in synth(40, 40, VOCAB, seed=3, peak=1.0, allowed=LANGUAGE)]
    candidates = candidates_with_controls(
        config, ["alice", "bob", "carol"], controls=5, control_accounts=["dave"]
    )

    student = train_tiny(watermarked, seed=0, steps=120)
    report = read_suspect(student, reading, config, candidates, STRICT, vocab_size=VOCAB)
    assert report.attributed == ["alice"], report.to_dict()
    assert report.overall_p < 1e-6
    assert report.controls_ok and len(report.controls) == 6
    assert report.invalid_keys == []  # the reading text is not watermarked

    for suspect in (
        train_tiny(plain, seed=0, steps=120),
        LlamaForCausalLM(tiny_model_config(vocab_size=VOCAB, layers=1)).eval(),
    ):
        clean = read_suspect(suspect, reading, config, candidates, STRICT, vocab_size=VOCAB)
        assert clean.attributed == [] and clean.overall_p > 0.05, clean.to_dict()
        assert clean.controls_ok


def test_reading_watermarked_text_is_flagged_as_not_evidence(secret_env, synth):
    config = WatermarkSettings(vocab_size=VOCAB, delta=4.0)
    alice = processors_for_account(config, "alice")[0]
    watermarked = synth(20, 40, VOCAB, processor=alice, seed=4)
    suspect = LlamaForCausalLM(tiny_model_config(vocab_size=VOCAB, layers=1)).eval()
    candidates = candidates_with_controls(config, ["alice", "bob"], controls=1)
    reading = [([], ids) for ids in watermarked]
    report = read_suspect(suspect, reading, config, candidates, ALL_SEEDS, vocab_size=VOCAB)
    assert report.invalid_keys == ["alice"]
    assert report.to_dict()["invalid_keys"] == ["alice"]


class CopyingSuspect(torch.nn.Module):
    """An innocent model that never saw watermarked text but copies like an induction head.

    At each position it predicts the token that followed the previous occurrence of
    the current token, else a key-independent function of token and position.
    """

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.device = torch.device("cpu")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        logits = torch.zeros(*input_ids.shape, self.vocab)
        for b, row in enumerate(input_ids.tolist()):
            followed: dict[int, int] = {}
            for t, token in enumerate(row):
                if t:
                    followed[row[t - 1]] = token
                logits[b, t, followed.get(token, (token * 7 + 3 * t) % self.vocab)] = 1.0
        return SimpleNamespace(logits=logits)


def test_fresh_seeds_make_reading_the_watermarked_text_itself_valid(train_tiny, secret_env, synth):
    """Copying a green token the text chose under the same seed fakes radioactivity; first seeds do not."""
    config = WatermarkSettings(vocab_size=VOCAB, delta=4.0, min_tokens=20)
    alice = processors_for_account(config, "alice")[0]
    watermarked = synth(120, 40, VOCAB, processor=alice, seed=5, peak=1.0, allowed=LANGUAGE)
    reading = [([], ids) for ids in watermarked]
    candidates = candidates_with_controls(config, ["alice", "bob"], controls=3)
    innocent = CopyingSuspect(VOCAB)

    fooled = read_suspect(innocent, reading, config, candidates, ALL_SEEDS, vocab_size=VOCAB)
    assert fooled.attributed == ["alice"] and fooled.invalid_keys == ["alice"]  # why the filter exists
    valid = read_suspect(innocent, reading, config, candidates, vocab_size=VOCAB)  # default: fresh seeds
    assert valid.fresh_seeds and valid.invalid_keys == []
    assert valid.attributed == [] and valid.overall_p > 0.01 and valid.controls_ok, valid.to_dict()
    assert valid.scores[0].test.scored >= config.min_tokens

    # The same watermarked texts, read by a model that was trained on them: named, p tiny.
    student = train_tiny(watermarked, seed=0, steps=120)
    report = read_suspect(student, reading, config, candidates, STRICT, vocab_size=VOCAB)
    assert report.attributed == ["alice"] and report.overall_p < 1e-6 and report.controls_ok
    plain = train_tiny(synth(256, 40, VOCAB, seed=2, peak=1.0, allowed=LANGUAGE), seed=0, steps=120)
    clean = read_suspect(plain, reading, config, candidates, STRICT, vocab_size=VOCAB)
    assert clean.attributed == [] and clean.overall_p > 0.05, clean.to_dict()


def test_fresh_seeds_keep_first_occurrences_only(secret_env):
    config = WatermarkSettings(vocab_size=VOCAB)
    forced = Forced([5, 7, 5, 7, 9, 5], 1, [1, 2, 3, 4, 6], [0.0] * 5)
    windows, predicted = prediction_pairs(forced, config, fresh_seeds=True)
    assert windows[:, 0].tolist() == [5, 7, 9] and predicted.tolist() == [1, 2, 6]
    with pytest.raises(ValueError, match="lefthash"):
        prediction_pairs(forced, WatermarkSettings(vocab_size=VOCAB, seeding_scheme="selfhash"), True)


def test_radioactivity_always_runs_a_negative_control(secret_env):
    with pytest.raises(ValueError, match="negative control"):
        candidates_with_controls(WatermarkSettings(), ["alice"], controls=0)


def test_black_box_mode_through_a_real_server(secret_env, tiny_model_dir):
    """A suspect behind an OpenAI-compatible API whose answers carry account 'local''s watermark."""
    from transformers import AutoTokenizer

    from distillscope.serving import ServeSettings, serve
    from distillscope.watermark.radioactivity import black_box_mode
    from distillscope.watermark.texts import default_prompts

    config = WatermarkSettings(delta=6.0, min_tokens=20)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    prompts = default_prompts()[:6]
    test = RadioactivityTest(max_new_tokens=32, temperature=1.0, controls=2)
    reports = {}
    for watermark in (config, None):  # the same model with and without the watermark
        settings = ServeSettings(
            model=str(tiny_model_dir), served_model_name="tiny", watermark=watermark, port=0
        )
        with serve(settings) as base_url:
            reports[watermark is not None] = black_box_mode(
                base_url, "tiny", prompts, tokenizer, config, ["local", "alice"], test, vocab_size=49152
            )
    report, clean = reports[True], reports[False]
    assert report.mode == "black-box" and report.documents == 6
    assert report.attributed == ["local"] and report.controls_ok, report.to_dict()
    assert clean.attributed == [] and clean.controls_ok, clean.to_dict()


def test_radioactivity_test_settings_check_themselves():
    assert RadioactivityTest(control_accounts=" dave, erin,,dave").control_accounts == ("dave", "erin")
    assert RadioactivityTest(control_accounts=["x"]).control_accounts == ("x",)
    with pytest.raises(ValueError, match="negative control"):
        RadioactivityTest(controls=0)
    with pytest.raises(ValueError, match="alpha must lie between 0 and 1"):
        RadioactivityTest(alpha=1.0)
