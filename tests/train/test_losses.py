"""The sparse top-k KD loss against dense full-vocabulary references."""

from __future__ import annotations

import math

import pytest
import torch

from distillscope.train.losses import (
    _log1mexp,
    completion_ce,
    dense_kl,
    sharpened_target_kl,
    sparse_kd_loss,
)

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


def test_target_temperature_sharpens_the_teacher_alone() -> None:
    teacher_logits, student_logits, values, indices, mask = _setup(seed=5, k=V)
    # tau = 1 is plain top-k KD.
    plain = sparse_kd_loss(student_logits, indices, values, mask)
    same = sparse_kd_loss(student_logits, indices, values, mask, target_temperature=1.0)
    assert float(same) == float(plain)
    # Full vocabulary: the dense KL from the teacher at tau to the student at 1 (no tau^2 scale).
    sharp = sparse_kd_loss(student_logits, indices, values, mask, target_temperature=0.5)
    dense = dense_kl(teacher_logits / 0.5, student_logits)[mask].mean()
    assert float(sharp) == pytest.approx(float(dense), abs=1e-5)
    # The optimum moves: the teacher itself is no longer a zero-loss student, its sharpened self is.
    assert float(sparse_kd_loss(teacher_logits, indices, values, mask, target_temperature=0.5)) > 0.05
    zero = sparse_kd_loss(teacher_logits / 0.5, indices, values, mask, target_temperature=0.5)
    assert float(zero) == pytest.approx(0.0, abs=1e-6)
    # With T as well, the teacher is divided by T * tau, the student by T, and the loss scaled by T^2.
    both = sparse_kd_loss(student_logits, indices, values, mask, temperature=2.0, target_temperature=0.5)
    dense_both = dense_kl(teacher_logits / 1.0, student_logits / 2.0)[mask].mean() * 4.0
    assert float(both) == pytest.approx(float(dense_both), abs=1e-5)


def test_target_temperature_sharpens_the_tail_bucket_as_one_outcome() -> None:
    k = 3
    _, student_logits, values, indices, mask = _setup(seed=6, k=k)
    loss = sparse_kd_loss(student_logits, indices, values, mask, target_temperature=0.25)
    p = torch.softmax(student_logits, -1)
    expected = []
    for b, t in mask.nonzero().tolist():
        top = values[b, t].exp()
        q = torch.cat([top, (1 - top.sum()).unsqueeze(0)]) ** 4
        q = q / q.sum()
        ps = p[b, t, indices[b, t]]
        ps = torch.cat([ps, (1 - ps.sum()).unsqueeze(0)])
        expected.append((q * (q.log() - ps.log())).sum())
    assert float(loss) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-5)


def test_sharpened_target_kl_is_what_the_sharpened_optimum_pays() -> None:
    teacher_logits, _, values, indices, mask = _setup(seed=7, k=V)
    rows = values[mask]
    assert float(sharpened_target_kl(rows, 1.0).abs().max()) == pytest.approx(0.0, abs=1e-9)
    half = sharpened_target_kl(rows, 0.5)
    dense = dense_kl(teacher_logits, teacher_logits / 0.5)[mask].double()
    assert torch.allclose(half, dense, atol=1e-5)
    assert bool((sharpened_target_kl(rows, 0.25) > half).all())  # sharper targets cost more KL
    # A padded slot is no outcome; a certain teacher pays nothing however sharp.
    padded = torch.tensor([[0.0, float("-inf")], [-0.1, float("-inf")]])
    assert float(sharpened_target_kl(padded, 0.1)[0]) == pytest.approx(0.0, abs=1e-9)
    assert float(sharpened_target_kl(padded, 0.1)[1]) > 0.0
    with pytest.raises(ValueError):
        sharpened_target_kl(rows, 0.0)


@pytest.mark.parametrize("tail", [-1e-8, -2e-9, -3e-8, -1e-7, -0.5, -0.7, -5.0])
def test_log1mexp_gradient_is_finite_even_where_its_slot_is_masked(tail: float) -> None:
    x = torch.tensor([tail], requires_grad=True)
    value = _log1mexp(x)
    assert float(value.detach()) == pytest.approx(math.log(-math.expm1(tail)), rel=1e-4)
    (masked,) = torch.autograd.grad(value.sum() * 0.0, x)  # a slot _kl_terms drops: zero, not NaN
    assert float(masked) == 0.0
    (grad,) = torch.autograd.grad(_log1mexp(x).sum(), x)
    assert math.isfinite(float(grad)) and float(grad) < 0


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


def _dense_divergence(teacher_logits, student_logits, kind: str, beta: float = 0.5):
    t = torch.log_softmax(teacher_logits, -1)
    s = torch.log_softmax(student_logits, -1)
    if kind == "forward-kl":
        return (t.exp() * (t - s)).sum(-1)
    if kind == "reverse-kl":
        return (s.exp() * (s - t)).sum(-1)
    m = torch.log(beta * t.exp() + (1 - beta) * s.exp())
    return beta * (t.exp() * (t - m)).sum(-1) + (1 - beta) * (s.exp() * (s - m)).sum(-1)


@pytest.mark.parametrize("kind", ["forward-kl", "reverse-kl", "jsd"])
def test_on_policy_divergences_equal_dense_references_at_full_k(kind: str) -> None:
    from distillscope.train.losses import sparse_divergence

    teacher_logits, student_logits, values, indices, mask = _setup(seed=3, k=V)
    student_logits.requires_grad_(True)
    sparse = sparse_divergence(student_logits, indices, values, mask, kind=kind, beta=0.3)
    dense = _dense_divergence(teacher_logits, student_logits, kind, beta=0.3)[mask].mean()
    assert float(sparse.detach()) == pytest.approx(float(dense.detach()), rel=1e-5, abs=1e-6)
    (grad_sparse,) = torch.autograd.grad(sparse, student_logits)
    (grad_dense,) = torch.autograd.grad(dense, student_logits)
    assert torch.allclose(grad_sparse.double(), grad_dense, atol=1e-6)


def test_reverse_kl_with_a_tail_bucket_and_padding_has_finite_gradients() -> None:
    from distillscope.train.losses import sparse_divergence

    k = 4
    teacher_logits, student_logits, values, indices, mask = _setup(seed=4, k=k)
    values = values.clone()
    values[..., -1] = float("-inf")  # a padding slot, as collate writes for shorter top-k lists
    student_logits.requires_grad_(True)
    loss = sparse_divergence(student_logits, indices, values, mask, kind="reverse-kl")
    q = torch.softmax(teacher_logits, -1)
    p = torch.softmax(student_logits.detach(), -1)
    expected = []
    for b, t in mask.nonzero().tolist():
        ids = indices[b, t, : k - 1]
        qk, pk = q[b, t, ids], p[b, t, ids]
        q_tail, p_tail = 1 - qk.sum(), 1 - pk.sum()
        expected.append((pk * (pk.log() - qk.log())).sum() + p_tail * (p_tail.log() - q_tail.log()))
    assert float(loss) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-5)
    (grad,) = torch.autograd.grad(loss, student_logits)
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0


def test_divergence_rejects_unknown_kinds_and_bad_beta() -> None:
    from distillscope.train.losses import sparse_divergence

    _, student_logits, values, indices, mask = _setup(k=3)
    with pytest.raises(ValueError, match="divergence must be one of"):
        sparse_divergence(student_logits, indices, values, mask, kind="tv")
    with pytest.raises(ValueError, match="beta"):
        sparse_divergence(student_logits, indices, values, mask, kind="jsd", beta=1.0)
