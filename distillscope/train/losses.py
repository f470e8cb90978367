"""Losses: completion-only cross-entropy (sequence KD) and sparse top-k KL (log-prob KD).

The top-k KL never builds a teacher tensor over the vocabulary: the teacher is
``k`` ids and log-probs per position, the student's log-probs are gathered at
those ids after one log-sum-exp over its logits, so the extra memory is
O(batch x length x k).

Tail bucket (default): the teacher's missing mass ``1 - sum(top-k)`` and the
student's mass outside the same ids form one extra outcome, so both sides are
proper distributions over k + 1 outcomes and the KL is exact for that
partition. ``renormalize=True`` instead renormalises both over the k ids.

Temperature ``T``: the student's logits are divided by ``T`` (exact); the
teacher's k log-probs and its tail log-mass are divided by ``T`` and
renormalised over the k + 1 outcomes. That is exact for the teacher at ``T = 1``
and an approximation otherwise (the API's tail is one number, not a
distribution); the loss is scaled by ``T**2`` as usual.
"""

from __future__ import annotations

import torch


def completion_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over positions whose label is not -100."""
    shifted = logits[:, :-1].float()
    target = labels[:, 1:]
    return torch.nn.functional.cross_entropy(shifted.reshape(-1, shifted.size(-1)), target.reshape(-1))


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable at both ends."""
    x = x.clamp(max=-1e-9)
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def sparse_kd_loss(
    logits: torch.Tensor,
    kd_ids: torch.Tensor,
    kd_logprobs: torch.Tensor,
    kd_mask: torch.Tensor,
    temperature: float = 1.0,
    renormalize: bool = False,
) -> torch.Tensor:
    """Forward KL(teacher || student) over top-k (+ tail), averaged over masked positions.

    ``logits``: [B, T, V] student logits at positions p (predicting token p + 1);
    ``kd_ids``/``kd_logprobs``: [B, T, K] teacher ids (unique per position) and
    log-probs, ``-inf`` in unused slots; ``kd_mask``: [B, T] positions with a target.
    """
    if not bool(kd_mask.any()):
        return logits.sum() * 0.0
    rows = logits[kd_mask].float() / temperature  # [N, V]
    ids, teacher = kd_ids[kd_mask], kd_logprobs[kd_mask].float()  # [N, K]
    valid = torch.isfinite(teacher)
    student = torch.gather(rows, 1, ids) - torch.logsumexp(rows, dim=-1, keepdim=True)
    student = student.masked_fill(~valid, float("-inf"))
    if renormalize:
        teacher_log = torch.log_softmax(teacher / temperature, dim=-1)
        student_log = torch.log_softmax(student, dim=-1)
        kl = _kl_terms(teacher_log, student_log, valid)
    else:
        # Log mass outside the top-k; none at all (k = vocabulary, or rounding) is no bucket.
        teacher_top = torch.logsumexp(teacher, dim=-1)
        teacher_tail = torch.where(
            teacher_top > -1e-6, torch.full_like(teacher_top, float("-inf")), _log1mexp(teacher_top)
        )
        teacher_all = torch.cat([teacher / temperature, (teacher_tail / temperature).unsqueeze(-1)], dim=-1)
        teacher_log = torch.log_softmax(teacher_all, dim=-1)
        student_tail = _log1mexp(torch.logsumexp(student, dim=-1))
        student_log = torch.cat([student, student_tail.unsqueeze(-1)], dim=-1)
        tail_valid = torch.isfinite(teacher_tail)
        kl = _kl_terms(teacher_log, student_log, torch.cat([valid, tail_valid.unsqueeze(-1)], dim=-1))
    return kl.mean() * temperature**2


def _kl_terms(teacher_log: torch.Tensor, student_log: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    # 0 * log 0 = 0: slots the teacher gives no mass contribute nothing.
    terms = torch.exp(teacher_log) * (teacher_log - student_log)
    return torch.where(valid, terms, torch.zeros_like(terms)).sum(dim=-1)


def dense_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Reference full-vocabulary KL(teacher || student) per position (tests, evaluation)."""
    teacher_log = torch.log_softmax(teacher_logits.float(), dim=-1)
    student_log = torch.log_softmax(student_logits.float(), dim=-1)
    return (torch.exp(teacher_log) * (teacher_log - student_log)).sum(dim=-1)
