"""Interoperability with transformers' own watermark: same green lists, same processor, both ways."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM, WatermarkDetector, WatermarkingConfig
from transformers.generation.logits_process import WatermarkLogitsProcessor

from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import KeyCandidate, detect_sequences
from distillscope.watermark.greenlist import GreenListSpec, single_thread
from distillscope.watermark.processor import GreenListLogitsProcessor, processors_for_account

VOCAB = 49152  # SmolLM2's vocabulary: the real size, so the real permutation is exercised
BIG_KEY = 2**62 + 987_654_321  # overflows int64 in selfhash products, like any derived key


def _reference(key: int, scheme: str, width: int, gamma: float = 0.25) -> WatermarkLogitsProcessor:
    return WatermarkLogitsProcessor(
        vocab_size=VOCAB,
        device="cpu",
        greenlist_ratio=gamma,
        bias=2.0,
        hashing_key=key,
        seeding_scheme=scheme,
        context_width=width,
    )


@pytest.mark.parametrize(
    "scheme, width", [("lefthash", 1), ("lefthash", 4), ("selfhash", 1), ("selfhash", 3)]
)
@pytest.mark.parametrize("key", [15485863, BIG_KEY])
def test_green_lists_are_identical_to_transformers(scheme, width, key):
    reference = _reference(key, scheme, width)
    spec = GreenListSpec(key=key, vocab_size=VOCAB, gamma=0.25, scheme=scheme, context_width=width)
    windows = torch.randint(0, VOCAB, (6, width), generator=torch.Generator().manual_seed(width))
    for window, seed in zip(windows, spec.seeds(windows), strict=True):
        assert torch.equal(spec.green_ids(seed), reference._get_greenlist_ids(window))


@pytest.mark.parametrize("scheme, width", [("lefthash", 1), ("lefthash", 2), ("selfhash", 2)])
def test_processor_output_is_identical_to_transformers(scheme, width):
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(0, VOCAB, (3, 7), generator=generator)
    scores = torch.randn(3, VOCAB, generator=generator)
    ours = GreenListLogitsProcessor(
        BIG_KEY, gamma=0.25, delta=2.0, seeding_scheme=scheme, context_width=width
    )
    expected = _reference(BIG_KEY, scheme, width)(input_ids, scores)
    got = ours(input_ids, scores)
    assert torch.equal(got, expected)
    assert (got != scores).any()  # the processor did something


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir):
    return LlamaForCausalLM.from_pretrained(str(tiny_model_dir)).eval()


def _prompt_ids(rows: int = 3) -> torch.Tensor:
    return torch.randint(0, VOCAB, (rows, 4), generator=torch.Generator().manual_seed(11))


def test_text_watermarked_by_transformers_is_detected_by_us(tiny_lm, secret_env):
    config = WatermarkSettings(delta=4.0)
    key = config.key_for("alice")  # the per-account key, used as transformers' plain hashing_key
    hf_config = WatermarkingConfig(greenlist_ratio=0.25, bias=4.0, hashing_key=key, seeding_scheme="lefthash")
    torch.manual_seed(0)
    prompt = _prompt_ids()
    with single_thread():  # transformers' randperm is slow on a busy thread pool
        out = tiny_lm.generate(
            prompt, watermarking_config=hf_config, do_sample=True, max_new_tokens=30, pad_token_id=0
        )
    answers = out[:, prompt.shape[1] :]
    hf = WatermarkDetector(model_config=tiny_lm.config, device="cpu", watermarking_config=hf_config)(
        answers, return_dict=True
    )
    candidates = [KeyCandidate("alice", key), KeyCandidate("bob", config.key_for("bob"))]
    for row, ids in enumerate(answers.tolist()):
        report = detect_sequences([ids], config, candidates, VOCAB, dedup=False)
        alice = report.scores[0].test
        # Same counts as transformers' detector (no de-duplication on either side).
        assert (alice.scored, alice.green) == (hf.num_tokens_scored[row], hf.num_green_tokens[row])
        assert report.attributed == ["alice"]


def test_text_watermarked_by_us_is_detected_by_transformers(tiny_lm, secret_env):
    config = WatermarkSettings(delta=4.0)
    torch.manual_seed(1)
    prompt = _prompt_ids()
    with single_thread():
        out = tiny_lm.generate(
            prompt,
            logits_processor=processors_for_account(config, "bob"),
            do_sample=True,
            max_new_tokens=30,
            pad_token_id=0,
        )
    answers = out[:, prompt.shape[1] :]
    hf_config = WatermarkingConfig(greenlist_ratio=0.25, bias=4.0, hashing_key=config.key_for("bob"))
    detector = WatermarkDetector(model_config=tiny_lm.config, device="cpu", watermarking_config=hf_config)
    result = detector(answers, return_dict=True)
    assert result.prediction.all()
    wrong_key = WatermarkingConfig(greenlist_ratio=0.25, bias=4.0, hashing_key=config.key_for("alice"))
    other = WatermarkDetector(model_config=tiny_lm.config, device="cpu", watermarking_config=wrong_key)
    assert not other(answers, return_dict=True).prediction.any()
    ours = detect_sequences(
        answers.tolist(), config, [KeyCandidate("bob", config.key_for("bob"))], VOCAB, dedup=False
    )
    assert ours.scores[0].test.green == int(result.num_green_tokens.sum())
