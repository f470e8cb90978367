"""Losses: completion-only cross-entropy (sequence KD), sparse top-k KL (log-prob KD), and
the on-policy divergences (forward/reverse KL, generalised JSD) on the same sparse targets.

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

Target temperature ``tau`` (``target_temperature``): only the teacher's k + 1
log-probs are divided by ``tau`` (on top of ``T``) and renormalised; the student's
logits are not. Plain ``T`` leaves the optimum where it was (a student that matches
the teacher at ``T`` matches it at 1); ``tau < 1`` moves the optimum itself to the
sharpened teacher ``p ** (1 / tau)``, towards the teacher's top token, which on
greedy answers is the answer token: SFT on them is the limit ``tau -> 0``.
:func:`sharpened_target_kl` is what a student that learned the sharpened target
exactly would pay in KL(teacher || student) on those outcomes.
"""

from __future__ import annotations

import math

import torch


def completion_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over positions whose label is not -100."""
    shifted = logits[:, :-1].float()
    target = labels[:, 1:]
    return torch.nn.functional.cross_entropy(shifted.reshape(-1, shifted.size(-1)), target.reshape(-1))


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable at both ends, values and gradients.

    Each branch sees only the inputs it is chosen for (a dummy -1 elsewhere): the branch torch.where
    drops still gets a zero gradient, and ``log1p(-exp(x))`` at x within ~3e-8 of 0 (``exp`` rounds to 1
    in float32) would turn that zero into 0 * inf = NaN, which poisoned a student whose mass outside
    the top-k became that small (retention round 4, seed 0). Where no NaN arose, values and gradients
    are bit for bit those of the plain ``torch.where``.
    """
    x = x.clamp(max=-1e-9)
    near = x > -0.6931
    dummy = torch.full_like(x, -1.0)
    return torch.where(
        near,
        torch.log(-torch.expm1(torch.where(near, x, dummy))),
        torch.log1p(-torch.exp(torch.where(near, dummy, x))),
    )


def _teacher_partition(
    teacher: torch.Tensor, scale: float, renormalize: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's log-probs over its k ids (+ the tail bucket), divided by ``scale`` and renormalised.

    ``teacher``: [N, K] log-probs, ``-inf`` in unused slots. Returns ``(teacher_log, valid)``, each
    [N, K(+1)]; ``valid`` marks the slots that exist (padding slots and an empty tail are not outcomes).
    """
    valid = torch.isfinite(teacher)
    if renormalize:
        return torch.log_softmax(teacher / scale, dim=-1), valid
    # Log mass outside the top-k; none at all (k = vocabulary, or rounding) is no bucket.
    teacher_top = torch.logsumexp(teacher, dim=-1)
    teacher_tail = torch.where(
        teacher_top > -1e-6, torch.full_like(teacher_top, float("-inf")), _log1mexp(teacher_top)
    )
    teacher_all = torch.cat([teacher, teacher_tail.unsqueeze(-1)], dim=-1) / scale
    tail_valid = torch.isfinite(teacher_tail)
    return torch.log_softmax(teacher_all, dim=-1), torch.cat([valid, tail_valid.unsqueeze(-1)], dim=-1)


def _sparse_partition(
    logits: torch.Tensor,
    kd_ids: torch.Tensor,
    kd_logprobs: torch.Tensor,
    kd_mask: torch.Tensor,
    temperature: float,
    renormalize: bool,
    target_temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher and student log-probs over the k ids (+ the tail bucket) of each masked position.

    Returns ``(teacher_log, student_log, valid)``, each [N, K(+1)]; ``valid`` marks
    the slots that exist (padding slots and an empty tail are not outcomes).
    """
    rows = logits[kd_mask].float() / temperature  # [N, V]
    ids, teacher = kd_ids[kd_mask], kd_logprobs[kd_mask].float()  # [N, K]
    teacher_log, valid = _teacher_partition(teacher, temperature * target_temperature, renormalize)
    student = torch.gather(rows, 1, ids) - torch.logsumexp(rows, dim=-1, keepdim=True)
    student = student.masked_fill(~torch.isfinite(teacher), float("-inf"))
    if renormalize:
        return teacher_log, torch.log_softmax(student, dim=-1), valid
    student_tail = _log1mexp(torch.logsumexp(student, dim=-1))
    return teacher_log, torch.cat([student, student_tail.unsqueeze(-1)], dim=-1), valid


def sparse_kd_loss(
    logits: torch.Tensor,
    kd_ids: torch.Tensor,
    kd_logprobs: torch.Tensor,
    kd_mask: torch.Tensor,
    temperature: float = 1.0,
    renormalize: bool = False,
    target_temperature: float = 1.0,
) -> torch.Tensor:
    """Forward KL(teacher || student) over top-k (+ tail), averaged over masked positions.

    ``logits``: [B, T, V] student logits at positions p (predicting token p + 1);
    ``kd_ids``/``kd_logprobs``: [B, T, K] teacher ids (unique per position) and
    log-probs, ``-inf`` in unused slots; ``kd_mask``: [B, T] positions with a target.
    ``target_temperature`` < 1 sharpens the teacher's side alone (see the module's docstring).
    """
    if not bool(kd_mask.any()):
        return logits.sum() * 0.0
    teacher_log, student_log, valid = _sparse_partition(
        logits, kd_ids, kd_logprobs, kd_mask, temperature, renormalize, target_temperature
    )
    return _kl_terms(teacher_log, student_log, valid).mean() * temperature**2


def sharpened_target_kl(kd_logprobs: torch.Tensor, target_temperature: float) -> torch.Tensor:
    """KL(teacher || teacher sharpened by ``target_temperature``) per position, over the k ids + tail.

    ``kd_logprobs``: [N, K] teacher log-probs (``-inf`` in unused slots). The KL a student
    that learned :func:`sparse_kd_loss`'s sharpened target exactly would pay against the
    teacher on these k + 1 outcomes (0 at ``target_temperature`` 1).
    """
    if target_temperature <= 0:
        raise ValueError("target_temperature must be > 0")
    teacher = kd_logprobs.double()
    plain, valid = _teacher_partition(teacher, 1.0, False)
    sharp, _ = _teacher_partition(teacher, target_temperature, False)
    return _kl_terms(plain, sharp, valid)


DIVERGENCES = ("forward-kl", "reverse-kl", "jsd")


def sparse_divergence(
    logits: torch.Tensor,
    kd_ids: torch.Tensor,
    kd_logprobs: torch.Tensor,
    kd_mask: torch.Tensor,
    kind: str = "reverse-kl",
    beta: float = 0.5,
) -> torch.Tensor:
    """A per-token divergence between teacher and student over top-k (+ tail), averaged over positions.

    ``forward-kl`` = KL(teacher || student); ``reverse-kl`` = KL(student || teacher);
    ``jsd`` = the generalised Jensen-Shannon divergence of GKD (Agarwal et al. 2024),
    ``beta * KL(t || m) + (1 - beta) * KL(s || m)`` with ``m = beta * t + (1 - beta) * s``.
    All on the same k + 1 outcomes as :func:`sparse_kd_loss` (temperature 1).
    """
    if kind not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}, not {kind!r}")
    if not 0.0 < beta < 1.0:
        raise ValueError("beta must be within (0, 1)")
    if not bool(kd_mask.any()):
        return logits.sum() * 0.0
    teacher_log, student_log, valid = _sparse_partition(logits, kd_ids, kd_logprobs, kd_mask, 1.0, False)
    if kind == "forward-kl":
        terms = _kl_terms(teacher_log, student_log, valid)
    elif kind == "reverse-kl":
        terms = _kl_terms(student_log, teacher_log, valid)
    else:
        mix_log = torch.logsumexp(
            torch.stack([teacher_log + math.log(beta), student_log + math.log(1.0 - beta)]), dim=0
        )
        terms = beta * _kl_terms(teacher_log, mix_log, valid) + (1.0 - beta) * _kl_terms(
            student_log, mix_log, valid
        )
    return terms.mean()


def _kl_terms(p_log: torch.Tensor, q_log: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row over the valid slots; 0 * log 0 = 0 (slots p gives no mass add nothing)."""
    # Infinite entries are zeroed *before* the arithmetic too: a NaN in the branch that
    # torch.where drops would still poison the gradient.
    keep = valid & torch.isfinite(p_log) & torch.isfinite(q_log)
    p_safe = torch.where(keep, p_log, torch.zeros_like(p_log))
    q_safe = torch.where(keep, q_log, torch.zeros_like(q_log))
    terms = torch.exp(p_safe) * (p_safe - q_safe)
    return torch.where(keep, terms, torch.zeros_like(terms)).sum(dim=-1)


def dense_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Reference full-vocabulary KL(teacher || student) per position (tests, evaluation)."""
    teacher_log = torch.log_softmax(teacher_logits.float(), dim=-1)
    student_log = torch.log_softmax(student_logits.float(), dim=-1)
    return (torch.exp(teacher_log) * (teacher_log - student_log)).sum(dim=-1)
