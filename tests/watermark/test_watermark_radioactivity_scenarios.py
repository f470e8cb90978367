"""Adaptive-attacker scenarios: the mixing ratio, the paraphrase step, control keys, the pooled test."""

from __future__ import annotations

import pytest

from distillscope.models.generate import generate, teacher_force
from distillscope.models.runtime import prompt_ids
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.processor import processors_for_account
from distillscope.watermark.radioactivity import (
    candidates_with_controls,
    pooled_reading,
    read_suspect,
    score_own_texts,
    score_predictions,
)
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


def _two_harvesters_and_a_bystander(config, synth):
    """Each account asks about its own topic (a 20-token sub-language); its texts carry its key."""
    texts, plain, owners = [], [], []
    for i, account in enumerate(["attacker-1", "attacker-2", "bystander-1"]):
        processor = processors_for_account(config, account)[0]
        topic = list(range(100 + 20 * i, 120 + 20 * i))
        texts += synth(16, 30, VOCAB, processor=processor, seed=10 + i, peak=1.0, allowed=topic)
        plain += synth(16, 30, VOCAB, seed=50 + i, peak=1.0, allowed=topic)
        owners += [account] * 16
    return texts, plain, owners


def test_own_text_reading_names_each_harvester_more_strongly_and_reads_controls_the_same_way(
    train_tiny, secret_env, synth
):
    """A key read on its own account's texts is not diluted by the other accounts' texts.

    The student learns attacker-1's and attacker-2's answers, never bystander-1's; all
    three accounts' served texts are read, each under its own key. Every control key is
    read on every account's texts (20 keys x 3 text sets).
    """
    config = WatermarkSettings(vocab_size=VOCAB, delta=4.0, min_tokens=20)
    texts, plain, owners = _two_harvesters_and_a_bystander(config, synth)
    harvested = [t for t, o in zip(texts, owners, strict=True) if o != "bystander-1"]
    student = train_tiny(harvested, seed=0, steps=150)
    forced = teacher_force(student, [([], ids) for ids in texts], batch_size=32)
    accounts = ["attacker-1", "attacker-2", "bystander-1"]
    own = score_own_texts(forced, owners, config, accounts, vocab_size=VOCAB, controls=20, alpha=1e-3)
    everyone = score_predictions(
        forced,
        config,
        candidates_with_controls(config, accounts, controls=20),
        vocab_size=VOCAB,
        alpha=1e-3,
        fresh_seeds=True,
    )
    by_name = {s.name: s for s in own.scores}
    diluted = {s.name: s for s in everyone.scores}
    for account in ["attacker-1", "attacker-2"]:
        assert by_name[account].flagged, own.to_dict()
        assert by_name[account].test.p_value < diluted[account].test.p_value
        assert by_name[account].test.scored < diluted[account].test.scored  # fewer pairs, more green
    assert not by_name["bystander-1"].flagged and by_name["bystander-1"].test.p_value > 0.01
    assert set(own.attributed) == {"attacker-1", "attacker-2"}
    controls = own.controls
    assert len(controls) == 60 and {c.name.split("@")[1] for c in controls} == set(accounts)
    assert own.controls_ok and sum(c.test.p_value < 0.05 for c in controls) <= 9, own.to_dict()
    assert own.mode == "reading-own-texts" and own.reading_text_p["attacker-1"] < 1e-6

    innocent = score_own_texts(
        teacher_force(train_tiny(plain, seed=0, steps=150), [([], ids) for ids in texts], batch_size=32),
        owners,
        config,
        accounts,
        vocab_size=VOCAB,
        controls=20,
        alpha=1e-3,
    )
    assert not innocent.attributed, innocent.to_dict()
    assert min(s.test.p_value for s in innocent.accounts) > 0.01


def test_own_text_reading_checks_its_inputs(secret_env, tiny_model_dir):
    from distillscope.models import load_model
    from distillscope.watermark.radioactivity import reading_mode
    from distillscope.watermark.texts import Document

    config = WatermarkSettings(vocab_size=VOCAB)
    with pytest.raises(ValueError, match="owners"):
        score_own_texts([], ["alice"], config, ["alice"], vocab_size=VOCAB)
    with pytest.raises(ValueError, match="control"):
        score_own_texts([], [], config, ["alice"], vocab_size=VOCAB, controls=0)
    with pytest.raises(ValueError, match="per-account"):
        score_own_texts([], [], WatermarkSettings(vocab_size=VOCAB, mode="global"), ["*"], vocab_size=VOCAB)
    model, tokenizer = load_model(tiny_model_dir)
    documents = [Document(id="a", text="hello there", account="alice"), Document(id="b", text="no owner")]
    with pytest.raises(ValueError, match="'b' has none"):
        reading_mode(
            model,
            tokenizer,
            documents,
            config,
            ["alice"],
            RadioactivityTest(own_texts=True),
            vocab_size=VOCAB,
        )
    empty = score_own_texts([], [], config, ["alice"], vocab_size=VOCAB)
    assert empty.accounts[0].test.too_short and empty.accounts[0].test.scored == 0
