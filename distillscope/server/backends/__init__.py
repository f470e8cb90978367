"""Backends of the server: ``local`` (a transformers model with dynamic batching) and ``upstream``."""
