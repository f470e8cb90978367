"""Audits of a model endpoint through its OpenAI-compatible API.

- :mod:`~distillscope.probe.identity`: what a model says when asked who made it.
- :mod:`~distillscope.probe.hidden_size`: the hidden dimension, recovered from the
  softmax bottleneck with log-probs and ``logit_bias``.
- :mod:`~distillscope.probe.equality`: are two endpoints serving the same model?
  (a permutation test on sampled completions).

This module must not import its probes, and no probe may reach an endpoint except through
:mod:`~distillscope.probe.endpoint` (the OpenAI client, with a key it never reports).
"""
