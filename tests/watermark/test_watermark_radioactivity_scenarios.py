"""Adaptive-attacker scenarios: the mixing ratio, the paraphrase step, control keys, the pooled test."""

from __future__ import annotations

import pytest

from distillscope.models.generate import generate, teacher_force
from distillscope.models.runtime import prompt_ids
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.processor import processors_for_account
from distillscope.watermark.radioactivity import candidates_with_controls, pooled_reading, read_suspect
from distillscope.watermark.scenarios import (
    mix_by_share,
    paraphrase,
    paraphrase_messages,
    shared_ngrams,
    spread_accounts,
)
from distillscope.watermark.settings import RadioactivityTest

VOCAB = 1000


def _items(prefix: str, lengths: list[int]) -> list[tuple[str, int]]:
    return [(f"{prefix}-{i}", n) for i, n in enumerate(lengths)]


@pytest.mark.parametrize("share", [0.10, 0.05, 0.5])
def test_mixing_gives_the_asked_token_share_and_keeps_every_watermarked_item(share):
    marked = _items("wm", [40, 55, 30, 61] * 4)
    filler = _items("plain", [20 + (7 * i) % 50 for i in range(600)])
    mixed = mix_by_share(marked, filler, share, lambda item: item[1], seed=3)
    names = [name for name, _ in mixed.items]
    assert {n for n, _ in marked} <= set(names) and len(names) == len(set(names))
    assert mixed.marked == len(marked) and mixed.filler == len(names) - len(marked)
    total = sum(n for _, n in mixed.items)
    assert mixed.marked_tokens + mixed.filler_tokens == total
    assert mixed.share == pytest.approx(mixed.marked_tokens / total)
    longest = max(n for _, n in filler)
    assert share - longest / total <= mixed.share <= share  # enough filler, at most one item over
    assert names != [n for n, _ in marked] + [n for n, _ in filler[: mixed.filler]]  # shuffled
    again = mix_by_share(marked, filler, share, lambda item: item[1], seed=3)
    assert again.items == mixed.items  # the seed fixes it
    assert mixed.to_dict()["share"] == mixed.share


def test_mixing_refuses_too_little_filler_and_bad_shares():
    marked = _items("wm", [50] * 4)
    with pytest.raises(ValueError, match="filler too small"):
        mix_by_share(marked, _items("plain", [50] * 10), 0.1, lambda item: item[1])
    for share in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="share"):
            mix_by_share(marked, _items("plain", [50] * 100), share, lambda item: item[1])
    with pytest.raises(ValueError, match="no watermarked"):
        mix_by_share([], _items("plain", [50]), 0.1, lambda item: item[1])
    assert mix_by_share(marked, [], 1.0, lambda item: item[1]).share == 1.0


def test_paraphrase_asks_the_model_to_rewrite_each_text(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    texts = ["Bees make honey from nectar.", "  The moon orbits the Earth.  "]
    request = paraphrase_messages(texts[1])
    assert request[0]["role"] == "user" and "The moon orbits the Earth." in request[0]["content"]
    assert "Rewrite" in request[0]["content"]

    greedy = paraphrase(model, tokenizer, texts, max_new_tokens=6, temperature=0.0)
    expected = generate(
        model, tokenizer, [prompt_ids(tokenizer, paraphrase_messages(t)) for t in texts], max_new_tokens=6
    )
    assert greedy == [tokenizer.decode(a.ids, skip_special_tokens=True).strip() for a in expected]
    sampled = paraphrase(model, tokenizer, texts, max_new_tokens=6, temperature=0.7, seed=1)
    assert len(sampled) == 2 and sampled == paraphrase(
        model, tokenizer, texts, max_new_tokens=6, temperature=0.7, seed=1
    )


def test_shared_ngrams_measure_what_a_rewrite_copied():
    assert shared_ngrams([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert shared_ngrams([1, 2, 3, 4], [5, 6, 7]) == 0.0
    assert shared_ngrams([1, 2, 3, 4], [1, 2, 9, 3, 4]) == pytest.approx(2 / 4)
    assert shared_ngrams([1, 2], [1]) == 0.0


def test_twenty_control_keys_are_distinct_and_unused(secret_env):
    config = WatermarkSettings(vocab_size=VOCAB)
    accounts = spread_accounts(24)
    assert accounts[0] == "sybil-001" and len(set(accounts)) == 24
    candidates = candidates_with_controls(config, accounts, controls=20)
    controls = [c.key for c in candidates if c.role == "control"]
    assert len(controls) == len(set(controls)) == 20
    assert not set(controls) & {config.key_for(a) for a in accounts}
    with pytest.raises(ValueError):
        spread_accounts(0)


def test_pooled_reading_names_a_harvest_spread_thin_over_many_accounts(train_tiny, secret_env, synth):
    """Each of 12 keys sees 12 short texts; pooled under each text's own key the training shows.

    Each account asks about its own topic (here: its own 20-token sub-language), as
    accounts of a spread harvest do; the student learns each topic under its key.
    """
    config = WatermarkSettings(vocab_size=VOCAB, delta=4.0, min_tokens=20)
    accounts = spread_accounts(12)
    texts, plain_texts, owners = [], [], []
    for i, account in enumerate(accounts):
        processor = processors_for_account(config, account)[0]
        topic = list(range(100 + 20 * i, 120 + 20 * i))
        texts += synth(12, 30, VOCAB, processor=processor, seed=10 + i, peak=1.0, allowed=topic)
        plain_texts += synth(12, 30, VOCAB, seed=50 + i, peak=1.0, allowed=topic)
        owners += [account] * 12
    student = train_tiny(texts, seed=0, steps=150)
    forced = teacher_force(student, [([], ids) for ids in texts], batch_size=32)
    report = pooled_reading(forced, owners, config, vocab_size=VOCAB, controls=20, alpha=1e-3)
    assert report.named and report.pooled.test.p_value < 1e-6, report.to_dict()
    assert len(report.controls) == 20 and report.controls_ok, report.to_dict()
    assert report.accounts == 12 and report.documents == len(texts)
    assert report.to_dict()["pooled"]["role"] == "accounts"

    # The pooled test is stronger than any one account's key read on all texts.
    per_key = read_suspect(
        student,
        [([], ids) for ids in texts],
        config,
        candidates_with_controls(config, accounts, controls=1),
        RadioactivityTest(alpha=1e-3),
        vocab_size=VOCAB,
    )
    assert report.pooled.test.p_value < min(s.test.p_value for s in per_key.accounts)

    plain = train_tiny(plain_texts, seed=0, steps=150)
    innocent = pooled_reading(
        teacher_force(plain, [([], ids) for ids in texts], batch_size=32),
        owners,
        config,
        vocab_size=VOCAB,
        controls=20,
        alpha=1e-3,
    )
    assert not innocent.named and innocent.pooled.test.p_value > 0.01, innocent.to_dict()


def test_pooled_reading_checks_its_inputs(secret_env):
    config = WatermarkSettings(vocab_size=VOCAB)
    with pytest.raises(ValueError, match="owners"):
        pooled_reading([], ["alice"], config, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="control"):
        pooled_reading([], [], config, vocab_size=VOCAB, controls=0)
