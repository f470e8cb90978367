"""Scoring only where the watermark could act: greedy low-entropy text names its key, controls stay quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import candidates_for, detect_sequences
from distillscope.watermark.informative import informative_positions, open_to_watermark
from distillscope.watermark.processor import processor_for_key


def test_the_rule_keeps_near_ties_and_spread_out_choices_only() -> None:
    def row(*lead: float) -> torch.Tensor:
        logits = torch.zeros(100)
        logits[: len(lead)] = torch.tensor(lead)
        return torch.log_softmax(logits, dim=-1)

    certain = row(12.0)  # the top leads by 12: nothing to choose
    near_tie = row(9.0, 8.0)  # leads by 1 < delta 2: a green runner-up would win
    spread = row(3.0)  # leads by 3, but 99 others share 83% of the mass: a sampler chooses
    entropy = float(-(spread.exp() * spread).sum())
    rows = torch.stack([certain, near_tie, spread])
    assert open_to_watermark(rows, 2.0, 1.0) == [False, True, True]
    assert open_to_watermark(rows, 2.0, entropy + 0.01) == [False, True, False]
    assert open_to_watermark(rows, 0.5, 99.0) == [False, False, False]
    assert open_to_watermark(torch.zeros((0, 4)), 2.0, 1.0) == []
    # At the answer's own temperature: greedy keeps only the near tie (the spread-out row's top token
    # wins with or without the watermark), a cold sampler sees the tempered entropy, a hot one more.
    assert open_to_watermark(rows, 2.0, 1.0, temperature=0.0) == [False, True, False]
    assert open_to_watermark(rows, 2.0, 1.0, temperature=0.3) == [False, True, False]
    assert open_to_watermark(rows, 2.0, entropy + 0.01, temperature=1.5) == [False, True, True]
    assert open_to_watermark(rows, 2.0, 1.0, temperature=1.0) == open_to_watermark(rows, 2.0, 1.0)


def _greedy_texts(
    processor: object | None, count: int, length: int, vocab: int, seed: int
) -> tuple[list[list[int]], list[list[bool]]]:
    """Greedy text from a mostly-certain random LM (80% of steps one token leads by 6 logits), with
    the open positions its own unwatermarked distribution shows."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (count, 1), generator=generator)
    masks: list[list[bool]] = [[] for _ in range(count)]
    for _ in range(length):
        logits = torch.randn(count, vocab, generator=generator)
        certain = torch.rand(count, generator=generator) < 0.8
        logits[certain, torch.randint(0, vocab, (int(certain.sum()),), generator=generator)] += 6.0
        for row, keep in enumerate(open_to_watermark(torch.log_softmax(logits, dim=-1), 2.0, 99.0)):
            masks[row].append(keep)
        if processor is not None:
            logits = processor(ids, logits)
        ids = torch.cat([ids, logits.argmax(dim=-1, keepdim=True)], dim=1)
    # scored positions: every generated token after the first (its context is the token before)
    return ids[:, 1:].tolist(), [m[1:] for m in masks]


def test_greedy_low_entropy_text_names_its_key_only_on_open_positions(
    small_config: WatermarkSettings,
) -> None:
    vocab = 1000
    greedy = processor_for_key(small_config, small_config.key_for("greedy-harvester"))
    sampled = [processor_for_key(small_config, small_config.key_for(f"other-{i}")) for i in range(3)]
    texts, masks = _greedy_texts(greedy, 6, 60, vocab, seed=1)
    for i, processor in enumerate(sampled):  # other harvesters' greedy text pooled with it
        more, more_masks = _greedy_texts(processor, 12, 60, vocab, seed=10 + i)
        texts, masks = texts + more, masks + more_masks
    candidates = candidates_for(small_config, ["greedy-harvester", "other-0", "bystander"], controls=20)
    everywhere = detect_sequences(texts, small_config, candidates, vocab, alpha=1e-6)
    selected = detect_sequences(texts, small_config, candidates, vocab, alpha=1e-6, keep=masks)
    by_name = {s.name: s for s in selected.scores}
    plain = {s.name: s for s in everywhere.scores}
    assert by_name["greedy-harvester"].flagged and by_name["other-0"].flagged
    assert not plain["greedy-harvester"].flagged  # drowned in the certain steps
    assert by_name["greedy-harvester"].test.z_score > 1.5 * plain["greedy-harvester"].test.z_score
    assert not by_name["bystander"].flagged and not any(c.flagged for c in selected.controls)
    assert min(c.test.p_value for c in selected.controls) > 1e-4


def test_keep_must_match_the_scored_positions(small_config: WatermarkSettings) -> None:
    candidates = candidates_for(small_config, ["a"])
    texts = [[1, 2, 3, 4], [5, 6, 7]]
    full = detect_sequences(texts, small_config, candidates, 1000)
    kept = detect_sequences(texts, small_config, candidates, 1000, keep=[[True] * 3, [True] * 2])
    assert kept.scores[0].test == full.scores[0].test
    none = detect_sequences(texts, small_config, candidates, 1000, keep=[[False] * 3, [False] * 2])
    assert none.scores[0].test.scored == 0
    with pytest.raises(ValueError, match=r"keep\[1\] has 3 entries for 2 scored positions"):
        detect_sequences(texts, small_config, candidates, 1000, keep=[[True] * 3, [True] * 3])


def test_positions_come_from_the_model_on_the_real_chat_path(tiny_model_dir: Path, secret_env: str) -> None:
    from distillscope.models import load_model
    from distillscope.watermark.detector import tokenize

    model, tokenizer = load_model(tiny_model_dir)
    config = WatermarkSettings()
    conversations = [[{"role": "user", "content": "What is 2 + 3?"}], [{"role": "user", "content": "Hi"}]]
    sequences = tokenize(tokenizer, ["2 + 3 = 5, so the answer is 5.", "Hello"])
    everything = informative_positions(model, tokenizer, conversations, sequences, config, min_entropy=0.0)
    assert [len(m) for m in everything.keep] == [len(s) - 1 for s in sequences]  # one per scored token
    assert everything.kept == everything.positions == sum(len(s) - 1 for s in sequences)
    nothing = informative_positions(
        model, tokenizer, conversations, sequences, WatermarkSettings(delta=0.0), min_entropy=1e9
    )
    assert nothing.kept == 0 and nothing.positions == everything.positions
    with pytest.raises(ValueError, match="one conversation per answer"):
        informative_positions(model, tokenizer, conversations[:1], sequences, config)
