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

Used by ``distillscope watermark detect --rounds`` (:func:`attribute_texts`) and by the
red-team demo's attribution of the attackers' harvest.

Every test is the watermark detector's own (its green lists, its de-duplicated
(seed, token) pairs, :func:`~distillscope.watermark.stats.binomial_test` and its
Holm step in :func:`~distillscope.watermark.detector.finalize`); what this module
adds is that each key's green list is drawn once per distinct seed for the whole
procedure (a permutation of the vocabulary per seed is the detector's main cost),
however many rounds and single-answer tests read it. It must not generate text,
load models or change how a single test is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: An answer whose own test under a named key gives a raw p below this is explained by that key.
DOCUMENT_ALPHA = 0.01
MAX_ROUNDS = 8


@dataclass
class _Union:
    """The de-duplicated pairs of some answers under one key, as the detector's ``finalize`` reads a
    tally (``total`` positions and ``test(min_tokens)``)."""

    green: int
    scored: int
    total: int
    p_green: float

    def test(self, min_tokens: int) -> Any:
        from distillscope.watermark.stats import binomial_test

        return binomial_test(self.green, self.scored, self.p_green, min_tokens)


class PooledScorer:
    """The pairs of every answer under every candidate key, with each pair's green status drawn once."""

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        config: Any,
        candidates: Sequence[Any],
        vocab_size: int,
        keep: Sequence[Sequence[bool]] | None = None,
    ) -> None:
        import torch

        from distillscope.watermark.detector import spec_for
        from distillscope.watermark.greenlist import scoring_windows

        self.config = config
        self.candidates = list(candidates)
        self.lengths = [len(ids) for ids in sequences]
        self.specs = {c.name: spec_for(config, c.key, vocab_size) for c in self.candidates}
        # per key: per answer, its scored (seed, token) pairs (all positions) and which are kept
        self.pairs: dict[str, list[list[tuple[int, int]]]] = {}
        self.kept: list[list[bool]] = []
        self.green: dict[str, dict[tuple[int, int], bool]] = {}
        for c in self.candidates:
            spec = self.specs[c.name]
            rows = []
            for i, ids in enumerate(sequences):
                windows, targets = scoring_windows(ids, spec)
                mask = torch.ones(targets.numel(), dtype=torch.bool)
                if keep is not None:
                    mask = torch.as_tensor(list(keep[i]), dtype=torch.bool)
                    if mask.numel() != targets.numel():
                        raise ValueError(
                            f"keep[{i}] has {mask.numel()} entries for {targets.numel()} positions"
                        )
                in_vocab = targets < spec.vocab_size
                rows.append(list(zip(spec.seeds(windows[in_vocab]), targets[in_vocab].tolist(), strict=True)))
                if len(self.kept) < len(sequences):
                    self.kept.append(mask[in_vocab].tolist())
            self.pairs[c.name] = rows
            unique = sorted({pair for row in rows for pair in row})
            flags = spec.is_green([s for s, _ in unique], [t for _, t in unique]) if unique else []
            self.green[c.name] = dict(zip(unique, (bool(f) for f in flags), strict=True))

    def _union(self, name: str, documents: Sequence[int], selected: bool) -> _Union:
        seen: set[tuple[int, int]] = set()
        total = 0
        for i in documents:
            row = self.pairs[name][i]
            chosen = [pair for pair, k in zip(row, self.kept[i], strict=True) if k] if selected else row
            total += len(chosen)
            seen.update(chosen)
        table = self.green[name]
        return _Union(sum(table[p] for p in seen), len(seen), total, self.specs[name].p_green)

    def report(
        self,
        documents: Sequence[int],
        *,
        alpha: float,
        selected: bool = True,
        candidates: Sequence[Any] | None = None,
        min_tokens: int | None = None,
    ) -> Any:
        """The detector's report for the pooled ``documents`` (only the kept positions when
        ``selected``), Holm-adjusted over the account keys among ``candidates``."""
        from distillscope.watermark.detector import DetectionReport, finalize

        chosen = self.candidates if candidates is None else list(candidates)
        tallies = {c: self._union(c.name, documents, selected) for c in chosen}
        report = DetectionReport(
            documents=len(documents), tokens=sum(self.lengths[i] for i in documents), alpha=alpha, dedup=True
        )
        limit = self.config.min_tokens if min_tokens is None else min_tokens
        report.scores = finalize(tallies, min_tokens=limit, alpha=alpha)  # type: ignore[arg-type]
        return report

    def document_p(self, document: int, candidate: Any) -> float:
        """Raw p-value of one answer alone under one key, at any length (a short answer: a large p)."""
        score = self.report([document], alpha=1.0, candidates=[candidate], min_tokens=1).scores[0]
        return 1.0 if score.test.p_value is None else float(score.test.p_value)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributed": self.named,
            "rounds": [
                {"round": r.number, "named": r.named, "explained": r.explained, **r.report.to_dict()}
                for r in self.rounds
            ],
        }


def attribute_in_rounds(
    scorer: PooledScorer, *, alpha: float, document_alpha: float = DOCUMENT_ALPHA
) -> RoundedAttribution:
    """Name the keys of a pooled harvest in rounds (see the module's docstring)."""
    remaining = list(range(len(scorer.lengths)))
    in_play = list(scorer.candidates)
    rounds: list[Round] = []
    decided: dict[str, tuple[Any, int]] = {}
    for number in range(1, MAX_ROUNDS + 1):
        budget = alpha / 2**number
        report = scorer.report(remaining, alpha=budget, candidates=in_play)
        current = Round(number, budget, list(remaining), report, named=list(report.attributed))
        rounds.append(current)
        for score in report.accounts:
            decided[score.name] = (score, number)
        if not current.named:
            break
        named = [c for c in in_play if c.name in current.named]
        explained = {i for i in remaining if min(scorer.document_p(i, c) for c in named) < document_alpha}
        current.explained = len(explained)
        remaining = [i for i in remaining if i not in explained]
        in_play = [c for c in in_play if c.name not in current.named]
        if not remaining or not any(c.role == "account" for c in in_play):
            break
    return RoundedAttribution(rounds, decided)


def attribute_texts(
    texts: Sequence[str],
    config: Any,
    tokenizer: Any,
    vocab_size: int,
    *,
    accounts: Sequence[str] = (),
    controls: int = 0,
    alpha: float = 0.01,
) -> RoundedAttribution:
    """The pooled test of ``texts`` in rounds, every key scored on every position (``watermark
    detect --rounds``); ``alpha`` is the whole procedure's family-wise error."""
    from distillscope.watermark.detector import candidates_for, tokenize

    candidates = candidates_for(config, accounts, controls)
    scorer = PooledScorer(tokenize(tokenizer, texts), config, candidates, vocab_size)
    return attribute_in_rounds(scorer, alpha=alpha)
