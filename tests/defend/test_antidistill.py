"""Antidistillation sampling on a tiny config-built model: the finite difference is the real derivative."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from distillscope.defend.antidistill import AntidistillationProcessor, build_proxy_direction


def _tiny(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).float()


DOWNSTREAM = [[1, 5, 9, 13, 17, 21], [2, 4, 8, 16, 32, 3], [7, 7, 8, 9, 10, 11]]


def test_direction_is_the_unit_gradient_of_the_downstream_loss():
    proxy = _tiny()
    direction = build_proxy_direction(proxy, DOWNSTREAM)
    norm = torch.sqrt(sum((g**2).sum() for g in direction))
    assert torch.isclose(norm, torch.tensor(1.0), atol=1e-5)
    assert all(p.grad is None for p in proxy.parameters())  # no gradient left behind
    with pytest.raises(ValueError):
        build_proxy_direction(proxy, [])


def test_finite_difference_matches_autograd():
    """Δ(x) ≈ ⟨g, ∇θ log p(x; θ)⟩ for every candidate token x (checked on a few)."""
    proxy = _tiny()
    direction = build_proxy_direction(proxy, DOWNSTREAM)
    processor = AntidistillationProcessor(proxy, direction, lam=1.0, epsilon=1e-3)
    context = torch.tensor([[3, 1, 4, 1, 5]])
    delta = processor.delta(context)[0]
    params = [p for p in proxy.parameters() if p.requires_grad]
    for token in (0, 7, 42):
        proxy.zero_grad(set_to_none=True)
        logp = torch.log_softmax(proxy(input_ids=context).logits[0, -1].double(), dim=-1)[token]
        logp.backward()
        exact = sum((p.grad.double() * g.double()).sum() for p, g in zip(params, direction, strict=True))
        assert abs(float(delta[token]) - float(exact)) < 0.05 * abs(float(exact)) + 1e-3


def test_lambda_zero_leaves_scores_untouched_and_lambda_tilts_toward_harmful_tokens():
    proxy = _tiny()
    direction = build_proxy_direction(proxy, DOWNSTREAM)
    scores = torch.randn(1, 64)
    ids = torch.tensor([[1, 2, 3]])
    off = AntidistillationProcessor(proxy, direction, lam=0.0)
    assert off(ids, scores) is scores
    on = AntidistillationProcessor(proxy, direction, lam=2.0)
    tilted = on(ids, scores)
    delta = on.delta(ids)[0]
    shift = (tilted - scores)[0]
    assert torch.equal(torch.sign(shift), torch.sign(delta))  # up where training on x would hurt the proxy
    assert torch.allclose(on(ids, scores), tilted)  # deterministic, no per-request state


def test_works_inside_transformers_generate():
    teacher, proxy = _tiny(1), _tiny(2)
    direction = build_proxy_direction(proxy, DOWNSTREAM)
    processor = AntidistillationProcessor(proxy, direction, lam=3.0)
    prompt = torch.tensor([[1, 2, 3]])
    plain = teacher.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0)
    defended = teacher.generate(
        prompt, max_new_tokens=12, do_sample=False, pad_token_id=0, logits_processor=[processor]
    )
    assert defended.shape == plain.shape and not torch.equal(defended, plain)
