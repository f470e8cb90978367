"""Detector: power at a fixed false-positive rate, calibration, de-duplication, attribution, short text."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import KeyCandidate, candidates_for, detect_sequences, detect_texts
from distillscope.watermark.processor import processors_for_account
from distillscope.watermark.stats import binomial_test, holm

VOCAB = 1000
ALPHA = 0.01


def _one(config: WatermarkSettings, account: str = "alice") -> list[KeyCandidate]:
    return [KeyCandidate(account, config.key_for(account))]


def test_binomial_p_value_is_exact_not_a_normal_approximation():
    test = binomial_test(green=9, scored=20, p0=0.25, min_tokens=1)
    exact = sum(stats.binom.pmf(k, 20, 0.25) for k in range(9, 21))
    assert test.p_value == pytest.approx(exact, rel=1e-12)
    assert test.z_score == pytest.approx((9 - 5) / np.sqrt(20 * 0.25 * 0.75))
    assert binomial_test(green=0, scored=20, p0=0.25).p_value == pytest.approx(1.0)


def test_holm_adjustment_matches_the_step_down_definition():
    assert holm([0.01, 0.04, 0.03, None]) == [
        pytest.approx(0.03),
        pytest.approx(0.06),
        pytest.approx(0.06),
        None,
    ]
    assert holm([0.5, 0.9]) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_watermarked_vs_plain_at_a_fixed_false_positive_rate(small_config, synth):
    processor = processors_for_account(small_config, "alice")[0]
    # Plain text: tokens independent of the key (the null), drawn directly for speed.
    plain = np.random.default_rng(1).integers(0, VOCAB, size=(300, 60)).tolist()
    marked = synth(100, 60, VOCAB, processor=processor, seed=2)
    candidates = _one(small_config)

    def positive(ids):
        return detect_sequences([ids], small_config, candidates, VOCAB, alpha=ALPHA).scores[0].flagged

    false_positives = sum(positive(ids) for ids in plain)
    true_positives = sum(positive(ids) for ids in marked)
    # FPR at alpha = 1%: 300 plain texts, allow 3 binomial standard deviations above 3 expected.
    assert false_positives <= 8, f"{false_positives}/300 plain texts flagged at alpha={ALPHA}"
    assert true_positives >= 95, f"only {true_positives}/100 watermarked texts detected"


def test_null_p_values_are_calibrated_on_random_tokens(small_config):
    rng = np.random.default_rng(7)
    candidates = _one(small_config)
    p_values, randomized = [], []
    for _ in range(400):
        ids = rng.integers(0, VOCAB, size=80).tolist()
        test = detect_sequences([ids], small_config, candidates, VOCAB).scores[0].test
        p_values.append(test.p_value)
        # Randomizing within the atom of the observed count makes an exact test exactly uniform.
        randomized.append(
            stats.binom.sf(test.green, test.scored, test.p0)
            + rng.uniform() * stats.binom.pmf(test.green, test.scored, test.p0)
        )
    p_values = np.array(p_values)
    for alpha in (0.01, 0.05, 0.1, 0.25, 0.5):  # validity: P(p <= alpha) <= alpha (+ sampling noise)
        assert (p_values <= alpha).mean() <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / 400)
    assert stats.kstest(randomized, "uniform").pvalue > 0.001
    assert (p_values <= 0.5).mean() > 0.35  # and not uselessly conservative


def test_repeating_a_text_does_not_inflate_the_evidence(small_config):
    candidates = _one(small_config)
    plain = np.random.default_rng(3).integers(0, VOCAB, size=(200, 40)).tolist()
    # A plain text that happens to be a little green: repeated, it would look watermarked without dedup.
    ids = next(
        ids
        for ids in plain
        if 0.05 < detect_sequences([ids], small_config, candidates, VOCAB).scores[0].test.p_value < 0.3
    )
    once = detect_sequences([ids], small_config, candidates, VOCAB).scores[0].test
    twenty = detect_sequences([ids] * 20, small_config, candidates, VOCAB).scores[0].test
    naive = detect_sequences([ids] * 20, small_config, candidates, VOCAB, dedup=False).scores[0].test
    assert (twenty.scored, twenty.green, twenty.p_value) == (once.scored, once.green, once.p_value)
    assert naive.scored == 20 * once.scored and naive.p_value < 1e-3  # the false positive dedup avoids
    # Within one text too: a phrase said ten times counts once.
    looped = detect_sequences([ids[:10] * 10], small_config, candidates, VOCAB).scores[0].test
    assert looped.scored <= 10


def test_attribution_names_the_harvesting_account_only(small_config, synth):
    alice = processors_for_account(small_config, "alice")[0]
    carol = processors_for_account(small_config, "carol")[0]
    candidates = candidates_for(small_config, ["alice", "bob", "carol", "dave"], controls=3)
    from_alice = synth(4, 50, VOCAB, processor=alice, seed=4)
    report = detect_sequences(from_alice, small_config, candidates, VOCAB, alpha=ALPHA)
    assert report.attributed == ["alice"]
    assert all(s.p_adjusted > 0.05 for s in report.accounts if s.name != "alice")
    assert not any(s.flagged for s in report.controls)
    # A campaign spread over two accounts: both are named, the others are not.
    from_carol = synth(4, 50, VOCAB, processor=carol, seed=5)
    both = detect_sequences(from_alice + from_carol, small_config, candidates, VOCAB, alpha=ALPHA)
    assert sorted(both.attributed) == ["alice", "carol"]


def test_global_mode_uses_one_key_for_everyone(secret_env, synth):
    config = WatermarkSettings(mode="global", vocab_size=VOCAB)
    texts = synth(3, 50, VOCAB, processor=processors_for_account(config, "anyone")[0], seed=6)
    report = detect_sequences(texts, config, candidates_for(config), VOCAB)
    assert [s.name for s in report.accounts] == ["*"] and report.attributed == ["*"]


def test_short_or_empty_text_gets_a_clear_answer_not_a_p_value(small_config, tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    for text in ("", "Hello there.", "the " * 200):  # the last one is long but one pair, repeated
        report = detect_texts([text], small_config, tokenizer, VOCAB * 49, accounts=["alice"])[0]
        score = report.scores[0]
        assert report.too_short and score.test.too_short
        assert score.test.p_value is None and score.test.z_score is None and not score.flagged
        assert "too short to test" in score.test.verdict(ALPHA)
        assert report.overall_p is None and report.attributed == []
