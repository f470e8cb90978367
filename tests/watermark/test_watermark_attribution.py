"""Attribution in rounds: a loud harvester's answers no longer drown a quiet one; innocents stay quiet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from distillscope.watermark.attribution import PooledScorer, attribute_in_rounds
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import candidates_for, detect_sequences
from distillscope.watermark.processor import processor_for_key

VOCAB = 1000


def _sampled(processor: object, count: int, length: int, seed: int) -> list[list[int]]:
    """Answers sampled from a random LM (spread-out logits) under one account's watermark."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (count, 1), generator=generator)
    for _ in range(length):
        logits = processor(ids, torch.randn(count, VOCAB, generator=generator) * 2.0)
        ids = torch.cat([ids, torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)], 1)
    return ids[:, 1:].tolist()


def test_a_quiet_harvester_is_named_once_the_loud_ones_answers_are_explained(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("a-master-secret-for-the-test-0123456789")
    config = WatermarkSettings(secret_file=str(secret), vocab_size=VOCAB, gamma=0.25, delta=2.0)
    loud = _sampled(processor_for_key(config, config.key_for("loud")), 60, 40, seed=1)
    quiet = _sampled(processor_for_key(config, config.key_for("quiet")), 5, 40, seed=2)
    texts = loud + quiet
    candidates = candidates_for(config, ["loud", "quiet", "bystander"], controls=20)
    # The pooled test in one go: the quiet account is drowned by the loud one's pairs.
    pooled = {s.name: s for s in detect_sequences(texts, config, candidates, VOCAB, alpha=1e-6).scores}
    assert pooled["loud"].flagged and not pooled["quiet"].flagged
    scorer = PooledScorer(texts, config, candidates, VOCAB)
    # The scorer's pooled test is the detector's, number for number.
    same = scorer.report(range(len(texts)), alpha=1e-6)
    assert [(s.name, s.test.green, s.test.scored, s.positions, s.p_adjusted) for s in same.scores] == [
        (s.name, s.test.green, s.test.scored, s.positions, s.p_adjusted)
        for s in detect_sequences(texts, config, candidates, VOCAB, alpha=1e-6).scores
    ]
    result = attribute_in_rounds(scorer, alpha=1e-6)
    assert [r.named for r in result.rounds][:2] == [["loud"], ["quiet"]]
    first, second = result.rounds[0], result.rounds[1]
    assert first.alpha == 5e-7 and second.alpha == 2.5e-7  # the error budget split over the rounds
    assert first.explained >= 55 and set(second.documents) >= set(range(60, 65))  # the quiet answers stay
    score, number = result.decided["quiet"]
    assert number == 2 and score.flagged and score.p_adjusted < 2.5e-7
    assert result.named == ["loud", "quiet"]
    # Nobody innocent is named in any round: not the bystander, not a control (scored identically).
    bystander, _ = result.decided["bystander"]
    assert not bystander.flagged
    assert all(c.test.p_value is None or c.test.p_value >= budget for c, budget in result.controls())
    assert len(result.controls()) == 20 * len(result.rounds)


def test_a_round_that_names_nobody_ends_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("a-master-secret-for-the-test-0123456789")
    config = WatermarkSettings(secret_file=str(secret), vocab_size=VOCAB)
    unmarked = [list(range(i, i + 40)) for i in range(0, 400, 40)]
    candidates = candidates_for(config, ["a", "b"], 5)
    result = attribute_in_rounds(PooledScorer(unmarked, config, candidates, VOCAB), alpha=1e-6)
    assert len(result.rounds) == 1 and result.named == [] and set(result.decided) == {"a", "b"}


def test_kept_positions_are_scored_as_the_detector_scores_them(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("a-master-secret-for-the-test-0123456789")
    config = WatermarkSettings(secret_file=str(secret), vocab_size=VOCAB)
    texts = _sampled(processor_for_key(config, config.key_for("a")), 6, 30, seed=3)
    keep = [[(i + j) % 3 != 0 for j in range(29)] for i in range(6)]  # scored: every token after the first
    candidates = candidates_for(config, ["a", "b"], 3)
    scorer = PooledScorer(texts, config, candidates, VOCAB, keep=keep)
    expected = detect_sequences(texts, config, candidates, VOCAB, alpha=0.01, keep=keep).scores
    got = scorer.report(range(6), alpha=0.01).scores
    assert [(s.test.green, s.test.scored, s.positions) for s in got] == [
        (s.test.green, s.test.scored, s.positions) for s in expected
    ]
    everywhere = scorer.report(range(6), alpha=0.01, selected=False).scores
    assert [s.test.scored for s in everywhere] == [
        s.test.scored for s in detect_sequences(texts, config, candidates, VOCAB, alpha=0.01).scores
    ]
    any_length = replace(config, min_tokens=1)  # one answer alone is short: tested at any length
    alone = detect_sequences([texts[2]], any_length, candidates[:1], VOCAB, keep=[keep[2]]).scores[0].test
    assert scorer.document_p(2, candidates[0]) == alone.p_value
    with pytest.raises(ValueError, match="keep"):
        PooledScorer(texts, config, candidates, VOCAB, keep=[[True]] * 6)
