"""Radioactivity (Sander et al. 2024): was a suspect model trained on our watermarked answers?

A model fine-tuned on text watermarked with key K learns to prefer K's green
tokens. Two ways to see it:

- **reading mode** (open weights): teacher-force the suspect on reading texts,
  take its own argmax next-token prediction at every position, and ask whether
  that prediction is green for the green list seeded by the text's preceding
  tokens (the "watermark window"). Each distinct (seed, predicted token) pair is
  counted once over the whole test.
- **own-text reading** (``RadioactivityTest.own_texts``, :func:`score_own_texts`):
  each account's key is read only on the texts that account was served. Reading
  a key over every account's texts dilutes it: a student learns key K's green
  lists in the contexts of K's answers, and the other accounts' texts add pairs
  that carry little of K. The null is unchanged (the subset is chosen by the
  log's account field, never by the suspect's predictions), and the controls
  are read the same way: every unused key on every account's texts, one test each.
- **pooled reading** (:func:`pooled_reading`): when a harvest is spread thin over
  many accounts, each key sees too little text for its own test; each reading
  text is then scored under the key of the account that harvested it and all
  pairs go into ONE binomial test ("was this model trained on our watermarked
  answers, whoever asked for them?"), next to control sets that give every
  account an unused key instead.
- **black-box mode** (API only): let the suspect answer prompts through its
  OpenAI-compatible API (greedy), then score its answers like any text, pairs
  de-duplicated over all answers.

Both give an exact binomial p-value per account key, Holm-adjusted across the
accounts tested, and ALWAYS a negative control: keys that no account ever used
(and optionally the keys of accounts known not to have harvested) go through
the very same test and must come out unremarkable.

Validity of reading mode. Under the null (the suspect never trained on K's text)
its prediction at a position depends only on the tokens before it, and the green
list there is seeded by the window just before it; that list is a fresh random
draw unless the same window already seeded an earlier token of the same text,
whose (green-enriched) choice the suspect can see and copy. So with the lefthash
scheme only positions whose window occurs for the first time in their text are
scored (``fresh_seeds``, on by default). Then the reading texts may be anything,
**including the watermarked answers themselves** (the strongest test: the text a
harvester trained on), and the binomial null holds exactly. With
``fresh_seeds=False``, or with selfhash (whose seed includes the predicted token),
reading texts must not carry the keys under test: a model that merely agrees
with the teacher would predict their green-enriched tokens again. The test
scores each reading text as text too and, in that case, marks keys whose
reading text is itself watermarked (their p-values are then not evidence).

This module must not train models or write files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from distillscope.models.generate import Forced, Progress, pad_token_id, teacher_force
from distillscope.models.runtime import prompt_ids
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.detector import (
    DetectionReport,
    KeyCandidate,
    PairTally,
    candidates_for,
    finalize,
    spec_for,
)
from distillscope.watermark.keys import control_keys
from distillscope.watermark.settings import RadioactivityTest
from distillscope.watermark.stats import BinomialTest, binomial_test
from distillscope.watermark.texts import Document

READING_TEXT_ALPHA = 0.01


@dataclass
class RadioactivityReport(DetectionReport):
    """Per-key radioactivity tests of one suspect, with negative controls."""

    mode: str = "reading"
    suspect: str = ""
    reading_text_p: dict[str, float | None] = field(default_factory=dict)
    fresh_seeds: bool = False  # only first occurrences of a window were scored: watermarked text is fine

    @property
    def invalid_keys(self) -> list[str]:
        """Keys whose reading text is itself watermarked, when that makes their test no evidence."""
        if self.fresh_seeds:
            return []
        return [name for name, p in self.reading_text_p.items() if p is not None and p < READING_TEXT_ALPHA]

    @property
    def controls_ok(self) -> bool:
        return not any(s.flagged for s in self.controls)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(
            mode=self.mode,
            suspect=self.suspect,
            reading_text_p=self.reading_text_p,
            fresh_seeds=self.fresh_seeds,
            invalid_keys=self.invalid_keys,
            controls_ok=self.controls_ok,
        )
        return data


def candidates_with_controls(
    config: WatermarkSettings,
    accounts: Iterable[str],
    *,
    controls: int = 5,
    control_accounts: Iterable[str] = (),
    control_seed: int = 0,
) -> list[KeyCandidate]:
    """Account keys under test plus the negative controls (never fewer than one unused key)."""
    if controls < 1:
        raise ValueError("radioactivity always runs a negative control: controls must be >= 1")
    out = candidates_for(config, accounts)
    out += [
        KeyCandidate(f"control-key-{i + 1}", k, "control")
        for i, k in enumerate(control_keys(controls, control_seed))
    ]
    if config.mode == "per-account":
        out += [KeyCandidate(f"control:{a}", config.key_for(a), "control") for a in control_accounts]
    return out


# -- reading mode ----------------------------------------------------------------------


def reading_pairs(
    tokenizer: Any, documents: Sequence[Document], chat: bool = True
) -> list[tuple[list[int], list[int]]]:
    """(prefix, text) token ids per document: the chat prompt when known, then the text."""
    pairs = []
    for doc in documents:
        prefix = prompt_ids(tokenizer, doc.prompt_messages) if chat and doc.prompt_messages else []
        text = list(tokenizer(doc.text, add_special_tokens=False)["input_ids"]) if doc.text else []
        if text:
            pairs.append((prefix, text))
    return pairs


def prediction_pairs(
    forced: Forced, config: WatermarkSettings, fresh_seeds: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Watermark windows from the text and the suspect's predicted tokens, one row per position.

    ``fresh_seeds`` (lefthash only) keeps the positions whose window has not occurred
    earlier in the same text (see the module docstring).
    """
    fresh_seeds = resolve_fresh_seeds(config, fresh_seeds)  # refuses selfhash
    ids = torch.tensor(forced.ids, dtype=torch.long)
    predicted = torch.tensor(forced.predictions, dtype=torch.long)
    width = config.context_width
    positions = torch.arange(forced.start, forced.start + predicted.numel())
    if config.seeding_scheme == "lefthash":
        keep = positions >= width
        positions, predicted = positions[keep], predicted[keep]
        offsets = torch.arange(-width, 0)
        windows = ids[positions[:, None] + offsets[None, :]]
        if fresh_seeds:
            first = first_occurrences(windows)
            windows, predicted = windows[first], predicted[first]
    else:
        keep = positions >= width - 1
        positions, predicted = positions[keep], predicted[keep]
        offsets = torch.arange(-(width - 1), 0)
        left = ids[positions[:, None] + offsets[None, :]]
        windows = torch.cat([left, predicted[:, None]], dim=1)
    return windows, predicted


def first_occurrences(windows: torch.Tensor) -> torch.Tensor:
    """True for each row that does not occur in an earlier row."""
    seen: set[tuple[int, ...]] = set()
    keep = []
    for row in map(tuple, windows.tolist()):
        keep.append(row not in seen)
        seen.add(row)
    return torch.tensor(keep, dtype=torch.bool)


def resolve_fresh_seeds(config: WatermarkSettings, fresh_seeds: bool | None) -> bool:
    """The default: on wherever it is defined (lefthash)."""
    if fresh_seeds is None:
        return config.seeding_scheme == "lefthash"
    if fresh_seeds and config.seeding_scheme != "lefthash":
        raise ValueError("fresh-seed filtering needs the lefthash scheme (selfhash seeds use the token)")
    return fresh_seeds


def reading_mode(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Document],
    config: WatermarkSettings,
    accounts: Iterable[str],
    test: RadioactivityTest | None = None,
    *,
    vocab_size: int,
    suspect: str = "",
    progress: Progress | None = None,
) -> RadioactivityReport:
    """Radioactivity of an open-weight suspect, read on ``documents`` (see the module docstring)."""
    test = test or RadioactivityTest()
    if test.own_texts:
        return read_own_texts(
            model, tokenizer, documents, config, accounts, test,
            vocab_size=vocab_size, suspect=suspect, progress=progress,
        )  # fmt: skip
    return read_suspect(
        model,
        reading_pairs(tokenizer, documents, chat=test.chat),
        config,
        candidates_for_test(config, accounts, test),
        test,
        vocab_size=vocab_size,
        pad_id=pad_token_id(tokenizer),
        suspect=suspect,
        progress=progress,
    )


def candidates_for_test(
    config: WatermarkSettings, accounts: Iterable[str], test: RadioactivityTest
) -> list[KeyCandidate]:
    """The account keys under test and ``test``'s negative controls."""
    return candidates_with_controls(
        config, accounts, controls=test.controls, control_accounts=test.control_accounts
    )


def read_suspect(
    model: Any,
    pairs: Sequence[tuple[list[int], list[int]]],
    config: WatermarkSettings,
    candidates: Sequence[KeyCandidate],
    test: RadioactivityTest | None = None,
    *,
    vocab_size: int,
    pad_id: int = 0,
    suspect: str = "",
    progress: Progress | None = None,
) -> RadioactivityReport:
    """Reading mode on token ids: (prefix, text) pairs; predictions are scored on the text part."""
    test = test or RadioactivityTest()
    fresh = resolve_fresh_seeds(config, test.fresh_seeds)
    forced = teacher_force(
        model, pairs, batch_size=test.batch_size, max_length=test.max_length, pad_id=pad_id, progress=progress
    )
    return score_predictions(
        forced,
        config,
        candidates,
        vocab_size=vocab_size,
        alpha=test.alpha,
        suspect=suspect,
        fresh_seeds=fresh,
    )


def score_predictions(
    forced: Sequence[Forced],
    config: WatermarkSettings,
    candidates: Sequence[KeyCandidate],
    *,
    vocab_size: int,
    alpha: float = 0.01,
    suspect: str = "",
    fresh_seeds: bool = False,
) -> RadioactivityReport:
    """Test teacher-forced predictions under every key, (seed, prediction) pairs de-duplicated overall."""
    everything = range(len(forced))
    return reading_report(
        forced,
        {c: everything for c in candidates},
        config,
        vocab_size=vocab_size,
        mode="reading",
        alpha=alpha,
        suspect=suspect,
        fresh_seeds=fresh_seeds,
    )


def reading_report(
    forced: Sequence[Forced],
    reading: dict[KeyCandidate, Sequence[int]],
    config: WatermarkSettings,
    *,
    vocab_size: int,
    mode: str,
    alpha: float,
    suspect: str,
    fresh_seeds: bool,
) -> RadioactivityReport:
    """The report of reading every key in ``reading`` on the texts ``forced[i]`` listed for it.

    Each key's (seed, prediction) pairs are de-duplicated over its texts; each account
    key's texts are also scored as text (``reading_text_p``: are the reading texts
    themselves watermarked under it?). Holm is applied over the account keys.
    """
    pairs = [prediction_pairs(item, config, fresh_seeds) for item in forced]
    tallies: dict[KeyCandidate, PairTally] = {}
    reading_text_p: dict[str, float | None] = {}
    for candidate, indices in reading.items():
        tally = PairTally(spec_for(config, candidate.key, vocab_size))
        for i in indices:
            tally.add_pairs(*pairs[i])
        tallies[candidate] = tally
        if candidate.role == "account":
            as_text = PairTally(spec_for(config, candidate.key, vocab_size))
            for i in indices:
                as_text.add_sequence(forced[i].ids[forced[i].start :])
            reading_text_p[candidate.name] = as_text.test(config.min_tokens).p_value
    report = RadioactivityReport(
        documents=len(forced),
        tokens=sum(len(f.predictions) for f in forced),
        alpha=alpha,
        dedup=True,
        mode=mode,
        suspect=suspect,
        fresh_seeds=fresh_seeds,
    )
    report.scores = finalize(tallies, min_tokens=config.min_tokens, alpha=alpha)
    report.reading_text_p = reading_text_p
    return report


# -- own-text reading ----------------------------------------------------------------


def read_own_texts(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Document],
    config: WatermarkSettings,
    accounts: Iterable[str],
    test: RadioactivityTest,
    *,
    vocab_size: int,
    suspect: str = "",
    progress: Progress | None = None,
) -> RadioactivityReport:
    """Reading mode with each account's key read on that account's texts (``Document.account``)."""
    pairs: list[tuple[list[int], list[int]]] = []
    owners: list[str] = []
    for doc in documents:
        got = reading_pairs(tokenizer, [doc], chat=test.chat)
        if not got:
            continue
        if not doc.account:
            raise ValueError(
                f"reading each key on its own account's texts needs every text's account; {doc.id!r} has none"
            )
        pairs += got
        owners.append(doc.account)
    forced = teacher_force(
        model,
        pairs,
        batch_size=test.batch_size,
        max_length=test.max_length,
        pad_id=pad_token_id(tokenizer),
        progress=progress,
    )
    return score_own_texts(
        forced,
        owners,
        config,
        accounts,
        vocab_size=vocab_size,
        controls=test.controls,
        control_accounts=test.control_accounts or (),
        alpha=test.alpha,
        suspect=suspect,
        fresh_seeds=resolve_fresh_seeds(config, test.fresh_seeds),
    )


def score_own_texts(
    forced: Sequence[Forced],
    owners: Sequence[str],
    config: WatermarkSettings,
    accounts: Iterable[str],
    *,
    vocab_size: int,
    controls: int = 5,
    control_seed: int = 0,
    control_accounts: Iterable[str] = (),
    alpha: float = 0.01,
    suspect: str = "",
    fresh_seeds: bool = False,
) -> RadioactivityReport:
    """Test each account's key on the predictions over its own texts (``owners[i]`` was served ``forced[i]``).

    Accounts under test are Holm-adjusted together. Controls are read exactly like
    them: each of ``controls`` unused keys on each account's texts (one test per key
    and text set, named ``control-key-J@ACCOUNT``), and each of ``control_accounts``
    (accounts known not to have harvested) on its own texts. An account with no
    texts gets an empty test (too short), never a test on someone else's texts.
    """
    if len(forced) != len(owners):
        raise ValueError(f"{len(forced)} reading texts but {len(owners)} owners")
    if controls < 1:
        raise ValueError("radioactivity always runs a negative control: controls must be >= 1")
    if config.mode != "per-account":
        raise ValueError("reading each key on its own account's texts needs per-account keys")
    texts_of: dict[str, list[int]] = {}
    for i, owner in enumerate(owners):
        texts_of.setdefault(owner, []).append(i)
    reading = {c: texts_of.get(c.name, []) for c in candidates_for(config, accounts)}
    for account in control_accounts:
        reading[KeyCandidate(f"control:{account}", config.key_for(account), "control")] = texts_of.get(
            account, []
        )
    for j, key in enumerate(control_keys(controls, control_seed)):
        for owner in sorted(texts_of):
            reading[KeyCandidate(f"control-key-{j + 1}@{owner}", key, "control")] = texts_of[owner]
    return reading_report(
        forced,
        reading,
        config,
        vocab_size=vocab_size,
        mode="reading-own-texts",
        alpha=alpha,
        suspect=suspect,
        fresh_seeds=fresh_seeds,
    )


# -- pooled reading -----------------------------------------------------------------


@dataclass
class PooledTest:
    """One binomial test over every reading text, each scored under its own account's key."""

    name: str
    role: str  # "accounts" (the harvesters' keys) or "control" (an unused key per account)
    test: BinomialTest

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, **self.test.to_dict()}


@dataclass
class PooledReport:
    """The pooled test of one suspect and its control sets."""

    documents: int
    accounts: int
    alpha: float
    pooled: PooledTest
    controls: list[PooledTest] = field(default_factory=list)
    suspect: str = ""

    @property
    def named(self) -> bool:
        """Whether the suspect is shown to have trained on our watermarked answers."""
        p = self.pooled.test.p_value
        return p is not None and p < self.alpha

    @property
    def controls_ok(self) -> bool:
        return all(c.test.p_value is None or c.test.p_value >= self.alpha for c in self.controls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "pooled-reading",
            "suspect": self.suspect,
            "documents": self.documents,
            "accounts": self.accounts,
            "alpha": self.alpha,
            "named": self.named,
            "controls_ok": self.controls_ok,
            "pooled": self.pooled.to_dict(),
            "controls": [c.to_dict() for c in self.controls],
        }


def pooled_reading(
    forced: Sequence[Forced],
    owners: Sequence[str],
    config: WatermarkSettings,
    *,
    vocab_size: int,
    controls: int = 20,
    control_seed: int = 1,
    alpha: float = 0.01,
    fresh_seeds: bool | None = None,
    suspect: str = "",
) -> PooledReport:
    """Pool teacher-forced predictions of texts ``forced[i]``, harvested by ``owners[i]``, in one test.

    Pairs are de-duplicated per key (as in :func:`score_predictions`) and summed over the
    keys; under the null every de-duplicated pair is green with probability ``p0`` whatever
    key scores it, so the sum is one exact binomial test. Each control set gives every
    account its own unused key and goes through the same pooling.
    """
    if len(forced) != len(owners):
        raise ValueError(f"{len(forced)} reading texts but {len(owners)} owners")
    if controls < 1:
        raise ValueError("the pooled test always runs control sets: controls must be >= 1")
    fresh = resolve_fresh_seeds(config, fresh_seeds)
    accounts = sorted(set(owners))
    pairs = [prediction_pairs(item, config, fresh) for item in forced]
    unused = control_keys(controls * len(accounts), control_seed)

    def pooled(keys: dict[str, int]) -> BinomialTest:
        tallies = {a: PairTally(spec_for(config, key, vocab_size)) for a, key in keys.items()}
        for (windows, predicted), owner in zip(pairs, owners, strict=True):
            tallies[owner].add_pairs(windows, predicted)
        p0 = next(iter(tallies.values())).spec.p_green
        green = sum(t.green for t in tallies.values())
        scored = sum(t.scored for t in tallies.values())
        return binomial_test(green, scored, p0, config.min_tokens)

    report = PooledReport(
        documents=len(forced),
        accounts=len(accounts),
        alpha=alpha,
        pooled=PooledTest(
            "harvesting accounts", "accounts", pooled({a: config.key_for(a) for a in accounts})
        ),
        suspect=suspect,
    )
    for j in range(controls):
        keys = dict(zip(accounts, unused[j * len(accounts) : (j + 1) * len(accounts)], strict=True))
        report.controls.append(PooledTest(f"control-set-{j + 1}", "control", pooled(keys)))
    return report


# -- black-box mode --------------------------------------------------------------------


def ask_api(
    base_url: str,
    model: str,
    prompts: Sequence[list[dict[str, Any]]],
    test: RadioactivityTest | None = None,
    *,
    api_key: str = "not-needed",
    timeout: float = 120.0,
    progress: Progress | None = None,
) -> list[str]:
    """The suspect's answers to chat prompts (greedy by default), through an OpenAI-compatible API.

    With ``test.seed``, prompt i is asked with ``seed + i``: a rerun asks the same questions the
    same way (APIs that honour ``seed`` answer the same); None leaves sampling unseeded.
    """
    from openai import OpenAI

    test = test or RadioactivityTest()
    client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=3)
    answers = []
    for i, messages in enumerate(prompts):
        extra = {} if test.seed is None else {"seed": test.seed + i}
        response = client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=test.max_new_tokens,
            temperature=test.temperature,
            **extra,
        )
        answers.append(response.choices[0].message.content or "")
        if progress:
            progress(i + 1, len(prompts))
    return answers


def score_answers(
    answers: Sequence[str],
    tokenizer: Any,
    config: WatermarkSettings,
    candidates: Sequence[KeyCandidate],
    *,
    vocab_size: int,
    alpha: float = 0.01,
    suspect: str = "",
) -> RadioactivityReport:
    """Score a suspect's own answers under every key, pairs de-duplicated across all answers."""
    tallies = {c: PairTally(spec_for(config, c.key, vocab_size)) for c in candidates}
    tokens = 0
    for text in answers:
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []
        tokens += len(ids)
        for tally in tallies.values():
            tally.add_sequence(ids)
    report = RadioactivityReport(
        documents=len(answers), tokens=tokens, alpha=alpha, dedup=True, mode="black-box", suspect=suspect
    )
    report.scores = finalize(tallies, min_tokens=config.min_tokens, alpha=alpha)
    return report


def black_box_mode(
    base_url: str,
    model: str,
    prompts: Sequence[list[dict[str, Any]]],
    tokenizer: Any,
    config: WatermarkSettings,
    accounts: Iterable[str],
    test: RadioactivityTest | None = None,
    *,
    vocab_size: int,
    api_key: str = "not-needed",
    progress: Progress | None = None,
) -> RadioactivityReport:
    """Radioactivity of a suspect reachable only through its API: generate, then score."""
    test = test or RadioactivityTest()
    candidates = candidates_for_test(config, accounts, test)
    answers = ask_api(base_url, model, prompts, test, api_key=api_key, progress=progress)
    suspect = f"{model} @ {base_url}"
    return score_answers(
        answers, tokenizer, config, candidates, vocab_size=vocab_size, alpha=test.alpha, suspect=suspect
    )
