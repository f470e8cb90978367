"""The watermark as a transformers ``LogitsProcessor``, and the server's per-account hook.

:class:`GreenListLogitsProcessor` adds ``delta`` to the logits of the green
tokens, exactly as transformers' ``WatermarkLogitsProcessor`` does (same green
lists, same selfhash candidate rule), with three differences that a server
needs: the green lists are drawn on the CPU whatever the model's device (so
they never depend on the hardware), the vocabulary size is taken from the
logits when not configured, and the processor keeps no mutable random state
(safe to share between requests and threads).

:func:`processors_for_account` is the hook ``distillscope serve --watermark``
calls for every admitted request. It must stay cheap: processors are cached
per (config, account).

This module must not log keys or secrets.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from transformers import LogitsProcessor

from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.greenlist import SELFHASH_CANDIDATES, GreenListSpec, single_thread
from distillscope.watermark.keys import fingerprint


class GreenListLogitsProcessor(LogitsProcessor):
    """Kirchenbauer et al. green-list watermark with one integer key.

    ``processor(input_ids, scores)`` returns new scores (``B x V``) where each
    row's green tokens, seeded by that row's context, get ``+delta``.
    """

    def __init__(
        self,
        key: int,
        *,
        gamma: float = 0.25,
        delta: float = 2.0,
        seeding_scheme: str = "lefthash",
        context_width: int = 1,
        vocab_size: int | None = None,
    ) -> None:
        self.key = key
        self.gamma = gamma
        self.delta = delta
        self.seeding_scheme = seeding_scheme
        self.context_width = context_width
        self.vocab_size = vocab_size
        self.key_id = fingerprint(key)
        if vocab_size is not None:
            self.spec(vocab_size)  # validate early

    def __repr__(self) -> str:  # never show the key itself
        return (
            f"GreenListLogitsProcessor(key_id={self.key_id!r}, gamma={self.gamma}, delta={self.delta}, "
            f"seeding_scheme={self.seeding_scheme!r}, context_width={self.context_width})"
        )

    def spec(self, vocab_size: int | None = None) -> GreenListSpec:
        size = self.vocab_size or vocab_size
        if size is None:
            raise ValueError("vocab_size is unknown: configure it or pass the logits width")
        return _spec(self.key, size, self.gamma, self.seeding_scheme, self.context_width)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[-1] < self.context_width or self.delta == 0:
            return scores
        spec = self.spec(scores.shape[-1])
        if spec.vocab_size > scores.shape[-1]:
            raise ValueError(
                f"watermark vocab_size {spec.vocab_size} exceeds the logits width {scores.shape[-1]}"
            )
        ids = input_ids.detach().to("cpu", torch.long)
        out = scores.clone()
        with single_thread():
            for row in range(ids.shape[0]):
                green = self._green_for_row(spec, ids[row], scores[row])
                if green.numel():
                    out[row, green.to(out.device)] += self.delta
        return out

    def _green_for_row(
        self, spec: GreenListSpec, context: torch.Tensor, row_scores: torch.Tensor
    ) -> torch.Tensor:
        if spec.scheme == "lefthash":
            return spec.greenlist_for_context(context)
        # transformers ranks candidates with the same (unstable) sort before testing the top 40.
        _, ranked = row_scores.sort(dim=-1, descending=True)
        candidates = ranked[:SELFHASH_CANDIDATES].detach().to("cpu", torch.long)
        return spec.selfhash_green_candidates(context, candidates)


@lru_cache(maxsize=256)
def _spec(key: int, vocab_size: int, gamma: float, scheme: str, context_width: int) -> GreenListSpec:
    return GreenListSpec(
        key=key, vocab_size=vocab_size, gamma=gamma, scheme=scheme, context_width=context_width
    )


def processor_for_key(config: WatermarkSettings, key: int) -> GreenListLogitsProcessor:
    """A processor with ``config``'s scheme and an explicit integer key."""
    return GreenListLogitsProcessor(
        key,
        gamma=config.gamma,
        delta=config.delta,
        seeding_scheme=config.seeding_scheme,
        context_width=config.context_width,
        vocab_size=config.vocab_size,
    )


@lru_cache(maxsize=4096)
def _cached_processor(config: WatermarkSettings, account: str) -> GreenListLogitsProcessor:
    return processor_for_key(config, config.key_for(account))


def processors_for_account(config: WatermarkSettings, account: str) -> list[LogitsProcessor]:
    """The logits processors that watermark ``account``'s answers (empty when exempt or disabled).

    In ``per-account`` mode the key is HMAC(master secret, account); in ``global``
    mode everyone shares one key. Raises :class:`WatermarkConfigError` when the
    master secret is missing, so a misconfigured server fails loudly instead of
    serving unmarked text.
    """
    if config.is_exempt(account):
        return []
    name = account if config.mode == "per-account" else "*"
    return [_cached_processor(config, name)]
