"""harvest/strategies component (see DESIGN.md).

This module must not import a strategy: :mod:`~distillscope.harvest.strategies.factory` builds one
by name, and each keeps its heavy imports (torch, reasoning-gym, rouge-score, datasketch) inside its
functions.
"""
