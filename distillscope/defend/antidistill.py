"""Antidistillation sampling: the teacher samples tokens that would hurt a student trained on them.

Savani et al. (2025) tilt the teacher's next-token distribution by how much each
candidate token, if a student were trained on it, would *raise* that student's
loss on a downstream set. With a proxy student ``θ`` and its downstream loss
``ℓ``, one gradient step on token ``x`` changes ``ℓ`` by about
``η ⟨∇ℓ(θ), ∇ log p(x; θ)⟩``, the directional derivative of the proxy's
log-prob along ``g = ∇ℓ``. It is estimated for every candidate at once with two
forward passes, by a central finite difference::

    Δ(x) = [log p(x; θ + εg) − log p(x; θ − εg)] / 2ε

and the teacher samples from ``softmax(logits + λ · Δ / sd(Δ))`` (``Δ`` is
standardised over the vocabulary so that ``λ`` is in logit units whatever the
proxy). ``λ = 0`` leaves the scores untouched; larger ``λ`` costs the teacher
more quality and the student more fidelity, which the frontier measures.

The proxy must share the teacher's tokenizer (a layer subset of the teacher,
``distillscope models build-student``, is the natural one). This module must
not know about HTTP, keys or stores; it keeps no per-request state.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor


def build_proxy_direction(
    proxy: Any, examples: Sequence[Sequence[int]], max_len: int = 256
) -> list[torch.Tensor]:
    """``∇ℓ`` of the proxy's mean next-token loss on ``examples`` (token ids), scaled to unit L2 norm."""
    if not examples:
        raise ValueError("the downstream set is empty: give the proxy some token sequences to defend")
    proxy.zero_grad(set_to_none=True)
    params = [p for p in proxy.parameters() if p.requires_grad]
    total = 0
    for example in examples:
        ids = torch.tensor([list(example)[:max_len]], dtype=torch.long)
        if ids.shape[1] < 2:
            continue
        loss = proxy(input_ids=ids, labels=ids).loss
        loss.backward()
        total += 1
    if total == 0:
        raise ValueError("every downstream example is shorter than two tokens")
    grads = [(p.grad.detach().clone() / total) if p.grad is not None else torch.zeros_like(p) for p in params]
    proxy.zero_grad(set_to_none=True)
    norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads))
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("the proxy's loss gradient is zero or not finite on the downstream set")
    return [g / norm for g in grads]


def _shifted(proxy: Any, direction: list[torch.Tensor], step: float) -> Any:
    moved = copy.deepcopy(proxy)
    moved.eval()
    params = [p for p in moved.parameters() if p.requires_grad]
    with torch.no_grad():
        for param, g in zip(params, direction, strict=True):
            param.add_(g.to(param.dtype), alpha=step)
    for param in moved.parameters():
        param.requires_grad_(False)
    return moved


class AntidistillationProcessor(LogitsProcessor):
    """Adds ``λ · Δ / sd(Δ)`` to the teacher's logits (see the module doc).

    ``proxy`` and ``direction`` come from :func:`build_proxy_direction`; the two
    shifted copies are made once here. ``window`` bounds the context the proxy
    reads per step (it runs without a cache, so each step costs two forwards over
    at most ``window`` tokens).
    """

    def __init__(
        self,
        proxy: Any,
        direction: list[torch.Tensor],
        *,
        lam: float,
        epsilon: float = 1e-2,
        window: int = 128,
    ) -> None:
        if lam < 0 or epsilon <= 0 or window < 1:
            raise ValueError("need lam >= 0, epsilon > 0 and window >= 1")
        self.lam, self.epsilon, self.window = float(lam), float(epsilon), int(window)
        self._plus = _shifted(proxy, direction, +epsilon) if lam else None
        self._minus = _shifted(proxy, direction, -epsilon) if lam else None

    def __repr__(self) -> str:
        return f"AntidistillationProcessor(lam={self.lam}, epsilon={self.epsilon}, window={self.window})"

    def delta(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The finite-difference ``Δ`` for every next token (``B x V_proxy``), not standardised."""
        assert self._plus is not None and self._minus is not None
        ids = input_ids[:, -self.window :].to("cpu")
        with torch.no_grad():
            plus = torch.log_softmax(self._plus(input_ids=ids).logits[:, -1, :].float(), dim=-1)
            minus = torch.log_softmax(self._minus(input_ids=ids).logits[:, -1, :].float(), dim=-1)
        return (plus - minus) / (2 * self.epsilon)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.lam:
            return scores
        delta = self.delta(input_ids)
        delta = delta / (delta.std(dim=-1, keepdim=True) + 1e-8)
        size = min(delta.shape[-1], scores.shape[-1])
        tilted = scores.clone()
        tilted[:, :size] += self.lam * delta[:, :size].to(tilted.device, tilted.dtype)
        return tilted
