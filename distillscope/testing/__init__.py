"""Test helpers that are real servers, not mocks: see :mod:`distillscope.testing.wire_server`."""
