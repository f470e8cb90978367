"""Fidelity metrics on hand-checkable cases: a model against itself, against another, text-only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from distillscope.evaluate.fidelity import fidelity, student_greedy
from distillscope.evaluate.teachers import Continuation, LocalTeacher

PROMPTS = [[{"role": "user", "content": f"Tell me about number {i}."}] for i in range(5)]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    from distillscope.models import load_model

    return load_model(tiny_model_dir)


@pytest.fixture(scope="module")
def other(tiny_model_dir: Path):
    """The same architecture with different weights (a 'student' that is not the teacher)."""
    from transformers import LlamaForCausalLM

    from distillscope.models import load_model

    model, tokenizer = load_model(tiny_model_dir)
    torch.manual_seed(1)
    # Untied head: a random tied model just echoes its last token, as the teacher does.
    config = model.config.__class__.from_dict({**model.config.to_dict(), "tie_word_embeddings": False})
    fresh = LlamaForCausalLM(config).eval()
    return fresh, tokenizer


def test_a_model_against_itself_scores_agreement_1_kl_0_exact_match_1(tiny) -> None:
    model, tokenizer = tiny
    teacher = LocalTeacher(model=model, tokenizer=tokenizer)
    conts = teacher.complete(PROMPTS, 12)
    answers = student_greedy(model, tokenizer, PROMPTS, 12)
    result = fidelity(model, tokenizer, PROMPTS, conts, model, tokenizer, student_answers=answers)
    assert result["prompts"] == 5 and result["tokens"] >= 5 * 12
    assert result["agreement"] == 1.0
    assert result["kl"] == pytest.approx(0.0, abs=1e-5)
    assert result["exact_match"] == 1.0
    assert result["student_ce"] == pytest.approx(result["teacher_ce"], abs=1e-5)


def test_a_different_model_is_measurably_further(tiny, other) -> None:
    model, tokenizer = tiny
    conts = LocalTeacher(model=model, tokenizer=tokenizer).complete(PROMPTS, 12)
    answers = student_greedy(other[0], tokenizer, PROMPTS, 12)
    result = fidelity(other[0], tokenizer, PROMPTS, conts, model, tokenizer, student_answers=answers)
    assert result["kl"] > 0.01
    assert result["agreement"] < 1.0
    # (random tied-embedding models both echo whitespace, so their greedy strings may match)
    assert result["student_ce"] > result["teacher_ce"]


def test_hand_computed_agreement_and_kl_on_one_position(tiny, other) -> None:
    """One answer token: agreement and KL equal a direct computation from the two models' logits."""
    from distillscope.models.runtime import prompt_ids

    model, tokenizer = tiny
    prompt = PROMPTS[:1]
    ids = prompt_ids(tokenizer, prompt[0])
    with torch.no_grad():
        t_log = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], -1)
        s_log = torch.log_softmax(other[0](torch.tensor([ids])).logits[0, -1], -1)
    token = int(t_log.argmax())
    cont = [Continuation(tokenizer.decode([token]), [token], "length")]
    result = fidelity(other[0], tokenizer, prompt, cont, model, tokenizer)
    assert result["tokens"] == 1
    assert result["agreement"] == float(int(s_log.argmax()) == token)
    assert result["kl"] == pytest.approx(float((t_log.exp() * (t_log - s_log)).sum()), rel=1e-4)
    assert result["student_ce"] == pytest.approx(float(-s_log[token]), rel=1e-4)


def test_text_only_teacher_gives_agreement_against_its_tokens_and_no_kl(tiny) -> None:
    model, tokenizer = tiny
    conts = LocalTeacher(model=model, tokenizer=tokenizer).complete(PROMPTS, 8)
    text_only = [Continuation(c.text, None, c.finish_reason) for c in conts]
    result = fidelity(model, tokenizer, PROMPTS, text_only)
    assert result["kl"] is None and result["teacher_ce"] is None
    assert 0.0 <= result["agreement"] <= 1.0 and result["tokens"] > 0
