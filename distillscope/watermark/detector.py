"""Detect the watermark in text and name the key (account) it came from.

For every candidate key, each scored token and the seed of its green list form
a pair; repeated pairs are counted once ("de-duplication": a text repeated ten
times is one piece of evidence, not ten), and the number of green pairs is
tested with the exact binomial test of :mod:`distillscope.watermark.stats`.
Scanning many account keys is a multiple test: p-values are adjusted with
Holm's step-down method, and an account is named only when its adjusted
p-value is below ``alpha``.

Counting without de-duplication (``dedup=False``) reproduces transformers'
``WatermarkDetector`` counts exactly (its ``ignore_repeated_ngrams=False``);
its p-value is the normal approximation, ours is exact.

This module must not generate text or load models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.greenlist import GreenListSpec, scoring_windows
from distillscope.watermark.keys import control_keys, fingerprint
from distillscope.watermark.stats import BinomialTest, binomial_test, holm


@dataclass(frozen=True)
class KeyCandidate:
    """A key to test, under a public name (an account id, ``*`` for the global key, or a control)."""

    name: str
    key: int
    role: str = "account"  # or "control": never part of the corrected family

    @property
    def key_id(self) -> str:
        return fingerprint(self.key)


class PairTally:
    """Green counts of the (seed, token) pairs seen under one key, across any number of sequences."""

    def __init__(self, spec: GreenListSpec, dedup: bool = True) -> None:
        self.spec = spec
        self.dedup = dedup
        self.total = 0  # scored positions before de-duplication
        self.green_total = 0
        self._seen: dict[tuple[int, int], bool] = {}

    def add_pairs(self, windows: torch.Tensor, targets: torch.Tensor) -> None:
        """Score tokens ``targets`` against the green lists seeded by ``windows``."""
        if targets.numel() == 0:
            return
        in_vocab = targets < self.spec.vocab_size
        windows, targets = windows[in_vocab], targets[in_vocab]
        seeds = self.spec.seeds(windows)
        tokens = targets.tolist()
        unknown = [i for i, pair in enumerate(zip(seeds, tokens, strict=True)) if pair not in self._seen]
        if unknown:
            green = self.spec.is_green([seeds[i] for i in unknown], [tokens[i] for i in unknown])
            for i, is_green in zip(unknown, green.tolist(), strict=True):
                self._seen[(seeds[i], tokens[i])] = is_green
        self.total += len(tokens)
        self.green_total += sum(self._seen[pair] for pair in zip(seeds, tokens, strict=True))

    def add_sequence(self, ids: Sequence[int]) -> None:
        """Score a token sequence as text (each token against the green list of its own context)."""
        self.add_pairs(*scoring_windows(ids, self.spec))

    @property
    def scored(self) -> int:
        return len(self._seen) if self.dedup else self.total

    @property
    def green(self) -> int:
        return sum(self._seen.values()) if self.dedup else self.green_total

    def test(self, min_tokens: int) -> BinomialTest:
        return binomial_test(self.green, self.scored, self.spec.p_green, min_tokens)


@dataclass
class KeyScore:
    """The test of one key."""

    name: str
    key_id: str
    role: str
    test: BinomialTest
    positions: int  # scored positions before de-duplication
    p_adjusted: float | None = None
    flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key_id": self.key_id,
            "role": self.role,
            "positions": self.positions,
            **self.test.to_dict(),
            "p_adjusted": self.p_adjusted,
            "flagged": self.flagged,
        }


@dataclass
class DetectionReport:
    """Per-key tests over one body of text, with the multiple-testing correction applied."""

    documents: int
    tokens: int
    alpha: float
    dedup: bool
    scores: list[KeyScore] = field(default_factory=list)
    correction: str = "holm"

    @property
    def accounts(self) -> list[KeyScore]:
        return [s for s in self.scores if s.role == "account"]

    @property
    def controls(self) -> list[KeyScore]:
        return [s for s in self.scores if s.role == "control"]

    @property
    def attributed(self) -> list[str]:
        """Accounts whose key is detected after the correction, strongest first."""
        hits = [s for s in self.accounts if s.flagged]
        return [s.name for s in sorted(hits, key=lambda s: s.p_adjusted or 0.0)]

    @property
    def too_short(self) -> bool:
        return all(s.test.too_short for s in self.scores)

    @property
    def overall_p(self) -> float | None:
        """P-value of "the text carries at least one of the account keys" (smallest adjusted p)."""
        values = [s.p_adjusted for s in self.accounts if s.p_adjusted is not None]
        return min(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "alpha": self.alpha,
            "dedup": self.dedup,
            "correction": self.correction,
            "too_short": self.too_short,
            "overall_p": self.overall_p,
            "attributed": self.attributed,
            "keys": [s.to_dict() for s in self.scores],
        }


def finalize(tallies: dict[KeyCandidate, PairTally], *, min_tokens: int, alpha: float) -> list[KeyScore]:
    """Test each tally, Holm-adjust the account keys together, flag the significant ones."""
    scores = [
        KeyScore(c.name, c.key_id, c.role, tally.test(min_tokens), tally.total)
        for c, tally in tallies.items()
    ]
    accounts = [s for s in scores if s.role == "account"]
    for score, adjusted in zip(accounts, holm([s.test.p_value for s in accounts]), strict=True):
        score.p_adjusted = adjusted
        score.flagged = adjusted is not None and adjusted < alpha
    for score in scores:
        if score.role == "control":  # reported raw: a control is judged on its own
            score.p_adjusted = score.test.p_value
            score.flagged = score.test.p_value is not None and score.test.p_value < alpha
    return scores


def spec_for(config: WatermarkSettings, key: int, vocab_size: int) -> GreenListSpec:
    return GreenListSpec(
        key=key,
        vocab_size=config.vocab_size or vocab_size,
        gamma=config.gamma,
        scheme=config.seeding_scheme,
        context_width=config.context_width,
    )


def candidates_for(
    config: WatermarkSettings, accounts: Iterable[str] = (), controls: int = 0, control_seed: int = 0
) -> list[KeyCandidate]:
    """The keys to test: every named account (or the global key), plus ``controls`` unused keys."""
    if config.mode == "global":
        out = [KeyCandidate("*", config.key_for("*"))]
    else:
        names = list(dict.fromkeys(a for a in accounts if a))
        if not names:
            raise ValueError("per-account mode: name the accounts to test (or give an exchange log)")
        out = [KeyCandidate(name, config.key_for(name)) for name in names]
    out += [
        KeyCandidate(f"control-{i + 1}", key, role="control")
        for i, key in enumerate(control_keys(controls, control_seed))
    ]
    return out


def detect_sequences(
    sequences: Iterable[Sequence[int]],
    config: WatermarkSettings,
    candidates: Sequence[KeyCandidate],
    vocab_size: int,
    *,
    alpha: float = 0.01,
    dedup: bool = True,
    keep: Sequence[Sequence[bool]] | None = None,
) -> DetectionReport:
    """Test token sequences (pooled, de-duplicated across all of them) under every candidate key.

    ``keep`` (one mask per sequence over its scored positions, chosen without looking at any key,
    e.g. :mod:`distillscope.watermark.informative`) limits the test to the positions marked True.
    """
    tallies = {c: PairTally(spec_for(config, c.key, vocab_size), dedup=dedup) for c in candidates}
    documents = tokens = 0
    for i, ids in enumerate(sequences):
        documents += 1
        tokens += len(ids)
        for tally in tallies.values():
            if keep is None:
                tally.add_sequence(ids)
                continue
            windows, targets = scoring_windows(ids, tally.spec)
            mask = torch.as_tensor(list(keep[i]), dtype=torch.bool)
            if mask.numel() != targets.numel():
                raise ValueError(
                    f"keep[{i}] has {mask.numel()} entries for {targets.numel()} scored positions"
                )
            tally.add_pairs(windows[mask], targets[mask])
    report = DetectionReport(documents=documents, tokens=tokens, alpha=alpha, dedup=dedup)
    report.scores = finalize(tallies, min_tokens=config.min_tokens, alpha=alpha)
    return report


def tokenize(tokenizer: Any, texts: Iterable[str]) -> list[list[int]]:
    """Token ids of answer texts as the model would have produced them (no special tokens)."""
    return [list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else [] for text in texts]


def detect_texts(
    texts: Sequence[str],
    config: WatermarkSettings,
    tokenizer: Any,
    vocab_size: int,
    *,
    accounts: Iterable[str] = (),
    controls: int = 0,
    alpha: float = 0.01,
    dedup: bool = True,
    per_document: bool = False,
) -> list[DetectionReport]:
    """Detect in texts: one pooled report, or one report per text with ``per_document``."""
    candidates = candidates_for(config, accounts, controls)
    sequences = tokenize(tokenizer, texts)
    if per_document:
        return [
            detect_sequences([ids], config, candidates, vocab_size, alpha=alpha, dedup=dedup)
            for ids in sequences
        ]
    return [detect_sequences(sequences, config, candidates, vocab_size, alpha=alpha, dedup=dedup)]
