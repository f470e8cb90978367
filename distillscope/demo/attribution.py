"""Attribution of a pooled harvest in rounds: a key named once no longer drowns the quieter ones.

The pooled test (every key scored on every answer of a leaked dataset) has a blind
spot: an account whose sampled answers hold many distinct (context, token) pairs
adds all of them to every other key's test, where they are green by chance only,
and a quiet account (few answers, greedy or cold sampling) is drowned. Seen from
the defender: the answers of an account already named explain themselves.

So the test runs in rounds. Round 1 scores every key on every answer. Each key it
names has its own answers explained away: every answer that, tested alone under
that named key, is green beyond chance (raw p < ``DOCUMENT_ALPHA``) leaves the
pool, and round 2 tests the keys not named yet (and the same control keys, scored
identically) on the answers that remain; and so on until a round names nobody.

Why the test stays exact: which answers leave depends only on the text and on the
keys already named. For any other key the text was not generated with, its green
lists are independent of both, so on the remaining answers its de-duplicated pairs
are still green with probability gamma and the exact binomial test holds; the
control keys check that in every round. The error budget ``alpha`` is split over
the rounds (``alpha / 2`` in the first, ``alpha / 4`` in the second, ...), so the
chance of naming any innocent key in the whole procedure stays below ``alpha``.

This module uses the watermark detector's own test (:func:`detect_sequences`); it
must not generate text, load models or change how a single test is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: An answer whose own test under a named key gives a raw p below this is explained by that key.
DOCUMENT_ALPHA = 0.01
MAX_ROUNDS = 8


@dataclass
class Round:
    """One round: the answers it scored, the keys in play, and what it named."""

    number: int
    alpha: float
    documents: list[int]
    report: Any  # the detector's DetectionReport for this round
    named: list[str] = field(default_factory=list)
    explained: int = 0  # answers the newly named keys explained away after this round


@dataclass
class RoundedAttribution:
    """Per key, the test that decided it (its naming round, else the last round it was tested in)."""

    rounds: list[Round]
    decided: dict[str, tuple[Any, int]]  # key name -> (KeyScore, round number)

    @property
    def named(self) -> list[str]:
        return [name for r in self.rounds for name in r.named]

    def controls(self) -> list[tuple[Any, float]]:
        """Every control key's score in every round, with that round's alpha."""
        return [(c, r.alpha) for r in self.rounds for c in r.report.controls]


def attribute_in_rounds(
    sequences: Sequence[Sequence[int]],
    config: Any,
    candidates: Sequence[Any],
    vocab_size: int,
    *,
    alpha: float,
    keep: Sequence[Sequence[bool]] | None = None,
    document_alpha: float = DOCUMENT_ALPHA,
) -> RoundedAttribution:
    """Name the keys of a pooled harvest in rounds (see the module's docstring)."""
    from distillscope.watermark.detector import detect_sequences

    remaining = list(range(len(sequences)))
    in_play = list(candidates)
    rounds: list[Round] = []
    decided: dict[str, tuple[Any, int]] = {}
    for number in range(1, MAX_ROUNDS + 1):
        budget = alpha / 2**number
        report = detect_sequences(
            [sequences[i] for i in remaining], config, in_play, vocab_size, alpha=budget,
            keep=None if keep is None else [keep[i] for i in remaining],
        )  # fmt: skip
        current = Round(number, budget, list(remaining), report, named=list(report.attributed))
        rounds.append(current)
        for score in report.accounts:
            decided[score.name] = (score, number)
        if not current.named:
            break
        named = [c for c in in_play if c.name in current.named]
        explained = {
            i
            for i in remaining
            if min(_document_p(sequences[i], keep[i] if keep else None, config, c, vocab_size) for c in named)
            < document_alpha
        }
        current.explained = len(explained)
        remaining = [i for i in remaining if i not in explained]
        in_play = [c for c in in_play if c.name not in current.named]
        if not remaining or not any(c.role == "account" for c in in_play):
            break
    return RoundedAttribution(rounds, decided)


def _document_p(ids: Sequence[int], mask: Sequence[bool] | None, config: Any, key: Any, vocab: int) -> float:
    """Raw p-value of one answer alone under one key (any length: a short answer gives a large p)."""
    from dataclasses import replace

    from distillscope.watermark.detector import detect_sequences

    alone = replace(config, min_tokens=1)
    report = detect_sequences([ids], alone, [key], vocab, keep=None if mask is None else [mask])
    p = report.scores[0].test.p_value
    return 1.0 if p is None else float(p)
