"""The sparse top-k KD loss against dense full-vocabulary references."""

from __future__ import annotations

import pytest
import torch

from distillscope.train.losses import completion_ce, dense_kl, sparse_kd_loss

V = 50


def _setup(seed: int = 0, k: int = V):
    generator = torch.Generator().manual_seed(seed)
    teacher_logits = torch.randn(2, 3, V, generator=generator, dtype=torch.float64) * 2
    student_logits = torch.randn(2, 3, V, generator=generator, dtype=torch.float64)
    teacher_log = torch.log_softmax(teacher_logits, dim=-1)
    top = torch.topk(teacher_log, k, dim=-1)
    mask = torch.tensor([[True, True, False], [True, False, True]])
    return teacher_logits, student_logits, top.values, top.indices, mask


def test_equals_dense_kl_when_k_is_the_whole_vocabulary() -> None:
    teacher_logits, student_logits, values, indices, mask = _setup(k=V)
    student_logits.requires_grad_(True)
    sparse = sparse_kd_loss(student_logits, indices, values, mask)
    dense = dense_kl(teacher_logits, student_logits)[mask].mean()
    assert float(sparse.detach()) == pytest.approx(float(dense.detach()), abs=1e-5)
    (grad_sparse,) = torch.autograd.grad(sparse, student_logits)
    (grad_dense,) = torch.autograd.grad(dense, student_logits)
    assert torch.allclose(grad_sparse.double(), grad_dense, atol=1e-6)


def test_tail_bucket_is_the_kl_over_k_plus_one_outcomes() -> None:
    k = 5
    teacher_logits, student_logits, values, indices, mask = _setup(seed=1, k=k)
    sparse = sparse_kd_loss(student_logits, indices, values, mask)
    q = torch.softmax(teacher_logits, -1)
    p = torch.softmax(student_logits, -1)
    expected = []
    for b, t in mask.nonzero().tolist():
        ids = indices[b, t]
        qk, pk = q[b, t, ids], p[b, t, ids]
        q_tail, p_tail = 1 - qk.sum(), 1 - pk.sum()
        kl = (qk * (qk.log() - pk.log())).sum() + q_tail * (q_tail.log() - p_tail.log())
        expected.append(kl)
    assert float(sparse) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-5)
    # The tail matters: without it the value differs.
    renorm = sparse_kd_loss(student_logits, indices, values, mask, renormalize=True)
    assert abs(float(renorm) - float(sparse)) > 1e-3


def test_renormalize_is_the_kl_over_the_k_ids_only() -> None:
    k = 4
    teacher_logits, student_logits, values, indices, mask = _setup(seed=2, k=k)
    loss = sparse_kd_loss(student_logits, indices, values, mask, renormalize=True)
    expected = []
    for b, t in mask.nonzero().tolist():
        ids = indices[b, t]
        qk = torch.softmax(teacher_logits[b, t, ids], -1)
        pk = torch.softmax(student_logits[b, t, ids], -1)
        expected.append((qk * (qk.log() - pk.log())).sum())
    assert float(loss) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-5)


def test_padded_slots_and_temperature() -> None:
    teacher_logits, student_logits, values, indices, mask = _setup(seed=3, k=V)
    # Unused slots (-inf) change nothing: pad to K + 3 with junk ids.
    pad_ids = torch.cat([indices, torch.zeros(2, 3, 3, dtype=torch.long)], -1)
    pad_values = torch.cat([values, torch.full((2, 3, 3), float("-inf"), dtype=values.dtype)], -1)
    assert float(sparse_kd_loss(student_logits, pad_ids, pad_values, mask)) == pytest.approx(
        float(sparse_kd_loss(student_logits, indices, values, mask)), abs=1e-6
    )
    # With the full vocabulary, temperature T is the dense KL of both softened by T, times T^2.
    hot = sparse_kd_loss(student_logits, indices, values, mask, temperature=2.0)
    dense = dense_kl(teacher_logits / 2.0, student_logits / 2.0)[mask].mean() * 4.0
    assert float(hot) == pytest.approx(float(dense), abs=1e-5)


def test_self_distillation_has_zero_loss_and_empty_mask_is_zero() -> None:
    teacher_logits, _, values, indices, mask = _setup(seed=4, k=7)
    assert float(sparse_kd_loss(teacher_logits, indices, values, mask)) == pytest.approx(0.0, abs=1e-6)
    none = torch.zeros_like(mask)
    assert float(sparse_kd_loss(teacher_logits, indices, values, none)) == 0.0


def test_completion_ce_ignores_prompt_and_padding() -> None:
    logits = torch.zeros(1, 4, V)
    logits[0, 1, 9] = 100.0  # predicts token 2 = 9 with certainty
    labels = torch.tensor([[-100, -100, 9, -100]])
    assert float(completion_ce(logits, labels)) == pytest.approx(0.0, abs=1e-4)
