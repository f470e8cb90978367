"""Countermeasures on the model side, each with a strength: what a provider can do to its answers.

- :mod:`distillscope.defend.logprobs` — log-prob defences on an OpenAI-shaped
  ``logprobs`` payload (chat or legacy completions): round, add calibrated noise,
  cap ``top_logprobs``, hide the tail mass. Pure functions; strength 0 returns the
  payload unchanged (the same object).
- :mod:`distillscope.defend.antidistill` — antidistillation sampling: a logits
  processor that tilts the teacher's next-token distribution toward tokens that
  would *raise* a proxy student's loss on a downstream set if it were trained on
  them (Savani et al., 2025), estimated by a finite difference of the proxy's
  log-probs along its loss gradient.

Imports are lazy so that importing this package stays cheap (no torch).
This package must not know about HTTP, keys or stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distillscope.defend.antidistill import AntidistillationProcessor, build_proxy_direction
    from distillscope.defend.logprobs import LogprobDefence, defend_logprobs

__all__ = ["AntidistillationProcessor", "LogprobDefence", "build_proxy_direction", "defend_logprobs"]


def __getattr__(name: str) -> Any:
    if name in ("LogprobDefence", "defend_logprobs"):
        from distillscope.defend import logprobs

        return getattr(logprobs, name)
    if name in ("AntidistillationProcessor", "build_proxy_direction"):
        from distillscope.defend import antidistill

        return getattr(antidistill, name)
    raise AttributeError(name)
