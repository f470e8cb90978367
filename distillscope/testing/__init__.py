"""Test helpers that are real servers, not mocks: see :mod:`distillscope.testing.wire_server`.

This package must not import another distillscope module (it stands in for a provider, apart from
the code under test), and the library must never import it.
"""
