"""watermark: a keyed green-list watermark per account, its detector, its cost, and radioactivity tests.

The face (names load on first use, so importing this package loads no torch):
:class:`WatermarkSettings` (keys, modes, the config file), :func:`processors_for_account`
(the logits processors the server applies), :func:`detect_texts` (is this text
watermarked, with whose key), :func:`attribute_texts` / :func:`attribute_in_rounds` (the
same pooled test in rounds, so a loud key does not drown quieter ones),
:func:`reading_mode` / :func:`black_box_mode` with :class:`RadioactivityTest` (was a model
trained on our answers), :func:`watermark_cost`,
and the readers :func:`read_documents` / :func:`read_prompts`. Other components
use these names, not the modules behind them.

This module must not import its modules at import time: each name loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distillscope.lazyface import lazy_getattr

if TYPE_CHECKING:
    from distillscope.watermark.attribution import (
        DOCUMENT_ALPHA,
        PooledScorer,
        RoundedAttribution,
        attribute_in_rounds,
        attribute_texts,
    )
    from distillscope.watermark.config import WatermarkConfigError, WatermarkSettings
    from distillscope.watermark.cost import CostReport, watermark_cost
    from distillscope.watermark.detector import DetectionReport, detect_texts
    from distillscope.watermark.processor import processors_for_account
    from distillscope.watermark.radioactivity import RadioactivityReport, black_box_mode, reading_mode
    from distillscope.watermark.settings import RadioactivityTest
    from distillscope.watermark.texts import Document, read_documents, read_prompts

_FACE = {
    "DOCUMENT_ALPHA": "distillscope.watermark.attribution",
    "PooledScorer": "distillscope.watermark.attribution",
    "RoundedAttribution": "distillscope.watermark.attribution",
    "attribute_in_rounds": "distillscope.watermark.attribution",
    "attribute_texts": "distillscope.watermark.attribution",
    "WatermarkSettings": "distillscope.watermark.config",
    "WatermarkConfigError": "distillscope.watermark.config",
    "processors_for_account": "distillscope.watermark.processor",
    "detect_texts": "distillscope.watermark.detector",
    "DetectionReport": "distillscope.watermark.detector",
    "reading_mode": "distillscope.watermark.radioactivity",
    "black_box_mode": "distillscope.watermark.radioactivity",
    "RadioactivityReport": "distillscope.watermark.radioactivity",
    "RadioactivityTest": "distillscope.watermark.settings",
    "watermark_cost": "distillscope.watermark.cost",
    "CostReport": "distillscope.watermark.cost",
    "Document": "distillscope.watermark.texts",
    "read_documents": "distillscope.watermark.texts",
    "read_prompts": "distillscope.watermark.texts",
}

__all__ = [
    "DOCUMENT_ALPHA",
    "CostReport",
    "DetectionReport",
    "Document",
    "PooledScorer",
    "RadioactivityReport",
    "RadioactivityTest",
    "RoundedAttribution",
    "WatermarkSettings",
    "WatermarkConfigError",
    "attribute_in_rounds",
    "attribute_texts",
    "black_box_mode",
    "detect_texts",
    "processors_for_account",
    "read_documents",
    "read_prompts",
    "reading_mode",
    "watermark_cost",
]

__getattr__ = lazy_getattr(__name__, _FACE)
