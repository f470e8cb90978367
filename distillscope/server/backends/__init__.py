"""Backends of the server: ``local`` (a transformers model with dynamic batching) and ``upstream``.

This module must not import a backend (``upstream`` loads httpx, ``local`` a model), and no backend
may import FastAPI, the guard or the watermark.
"""
