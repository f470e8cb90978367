"""On-policy distillation through an API: the student samples, the teacher scores, the student learns.

Each step (Agarwal et al., "On-Policy Distillation of Language Models", GKD):

1. ``batch_size`` prompts of the dataset (a deterministic stream, as in ``loop``);
2. the student samples an answer to each (temperature ``sample_temperature``, at
   most ``sample_tokens``), ending with its EOS token when it stopped;
3. the teacher scores ``prompt + answer`` through :class:`~distillscope.train.scorer.TeacherScorer`
   (``/v1/completions``, echo, top-k logprobs; cache, budget and rate limit of the harvester);
4. the teacher's top-k (plus the sampled token) at every answer position is mapped
   to student ids (``vocab``/``align``, so a student with another tokenizer works),
   and the student minimises a per-token divergence on those sparse distributions
   (``reverse-kl`` by default, ``forward-kl`` or generalised ``jsd``), optionally
   mixed with SFT on the dataset's teacher answers: ``alpha * divergence + (1 - alpha) * CE``
   (GKD's mixed objective; ``sft_answers`` = N trains and pays for the first N answers only,
   while every exchange's prompt is sampled, so a budget can be split between answers and scoring).

Two options of the seventh evidence round: ``sft_warmup_steps`` = W makes the first W steps SFT on
the answers alone (GKD's warm start, in the same run: no sampling, no scoring), and
``score_epochs`` = E > 1 replays every paid scored batch E - 1 more times after the on-policy pass
(the teacher's scores of the same samples, the student's logits recomputed), as SFT makes epochs
over the answers it paid for. The replayed batches are kept in ``<out>/scoring/replay.jsonl``, so
``--resume`` replays what was paid for instead of sampling again.

Spending: the teacher's answers count only when they are trained on (``alpha < 1``);
scoring calls are input tokens (plus one output token where ``max_tokens: 0`` is
refused). With ``max_cost`` the run plans enough sampling steps to spend the whole cap even if
every sample were at full length (the last step possibly a partial batch: the scorer's budget sends
the calls that fit and returns them, never more than the cap) and stops cleanly once the cap is
reached; with shorter samples the plan ends with part of the cap unspent.
The prompt is rendered for the teacher with the chat template of ``teacher_template``
(default: a local teacher's own tokenizer; for a URL teacher the student's, right for
a student cut from the teacher; name the teacher's tokenizer for a cross-family student).

This module must not parse CLI options.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from distillscope.exchanges import Dataset, calibration_texts, load_dataset
from distillscope.exchanges import prompt_messages as messages_of
from distillscope.models.runtime import prompt_ids, prompt_text
from distillscope.train.align import align_answer
from distillscope.train.card import provenance, write_card
from distillscope.train.data import Example, build_examples, collate
from distillscope.train.loop import StopTraining, TrainState, fit, stream_indices, total_steps
from distillscope.train.losses import completion_ce, sparse_divergence
from distillscope.train.scorer import ScorerSettings, ScoringBudgetExhausted, TeacherScorer
from distillscope.train.settings import TrainSettings
from distillscope.train.student import make_student, save_student
from distillscope.train.vocab import TokenMapper


@dataclass
class OnPolicyCounters:
    samples: int = 0
    sampled_tokens: int = 0
    kd_positions: int = 0
    unscored: int = 0
    sample_seconds: float = 0.0
    warmup_batches: int = 0
    replayed_batches: int = 0


@contextlib.contextmanager
def open_scorer(settings: TrainSettings, out: Path) -> Iterator[TeacherScorer]:
    """A scorer for the run's teacher: its URL, or ``teacher`` served on a loopback port meanwhile."""
    import hashlib

    from distillscope.harvest import PriceTable, normalise_base_url

    prices = PriceTable.load(settings.prices_file)
    model_name = settings.teacher_model or settings.teacher
    price = prices.lookup(settings.price_model or model_name)
    free = price is None or (price.input <= 0 and price.output <= 0)
    if free and settings.max_cost is not None:
        raise ValueError(
            f"max_cost needs a price for scoring calls, and {settings.price_model or model_name!r} has "
            f"{'none' if price is None else 'price 0'}: name a priced model with --price-model "
            "(e.g. the one the dataset was priced as) or add it with --prices FILE"
        )
    common = {
        "model": model_name,
        "cache_path": Path(settings.scoring_cache or out / "scoring" / "cache.sqlite"),
        "run_id": hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16],
        "top_k": settings.score_top_k,
        "price": price,
        "max_cost": _scoring_cap(settings, None),
        "rpm": settings.rpm,
    }
    common["cache_path"].parent.mkdir(parents=True, exist_ok=True)
    if settings.teacher_url:
        url = normalise_base_url(settings.teacher_url)
        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        config = ScorerSettings(base_url=url, teacher_id=url, api_key=key, **common)
        with TeacherScorer(config) as scorer:
            yield scorer
        return
    from distillscope.models import EMBEDDED_ALIASES
    from distillscope.serving import ServeSettings, serve

    local = None if settings.teacher.lower() in EMBEDDED_ALIASES else settings.teacher
    teacher = ServeSettings(
        model=local, served_model_name=model_name, max_batch_size=max(8, settings.batch_size), port=0
    )
    with serve(teacher) as url:
        config = ScorerSettings(
            base_url=url, teacher_id=f"local:{settings.teacher}", probe_rate_limits=False, **common
        )
        with TeacherScorer(config) as scorer:
            yield scorer


def _scoring_cap(settings: TrainSettings, sft_cost: float | None) -> float | None:
    if settings.max_cost is None:
        return None
    return max(0.0, settings.max_cost - (sft_cost or 0.0))


def planned_steps(settings: TrainSettings, prompts: list[list[int]], cap: float | None, price: Any) -> int:
    """Sampling steps: epochs over the prompts, capped by ``max_steps`` and by what ``cap`` pays for.

    Enough steps to spend ``cap`` at the worst case (every sample at full length), rounded up: the
    last step takes what is left (a partial batch), where rounding down left up to a step unspent.
    """
    steps = total_steps(settings, len(prompts))
    if cap is None or price is None or price.input <= 0 and price.output <= 0:
        return steps
    mean_prompt = sum(len(p) for p in prompts) / len(prompts)
    worst_call = price.cost(int(mean_prompt + settings.sample_tokens + 2), 1)
    if cap < worst_call:  # not even one call at the worst case
        return 0
    per_step = worst_call * settings.batch_size * settings.grad_accum
    return max(0, min(steps, math.ceil(cap / per_step - 1e-9)))


def schedule(settings: TrainSettings, sampling_steps: int) -> int:
    """All optimizer steps: the SFT warm-up, then each sampling step ``score_epochs`` times."""
    return min(settings.max_steps, settings.sft_warmup_steps + sampling_steps * settings.score_epochs)


class OnPolicyBatches:
    """The ``batch_loss`` of :func:`distillscope.train.loop.fit` for on-policy training."""

    def __init__(
        self,
        settings: TrainSettings,
        tokenizer: Any,
        conversations: list[list[dict[str, Any]]],
        scorer: TeacherScorer,
        sft_examples: list[Example] | None,
        teacher_tokenizer: Any = None,
        sampling_batches: int | None = None,
        replay_file: Path | None = None,
    ) -> None:
        self.settings, self.tokenizer, self.scorer = settings, tokenizer, scorer
        self.conversations = conversations
        self.sft_examples = sft_examples
        self.teacher_tokenizer = teacher_tokenizer or tokenizer
        self.mapper = TokenMapper(tokenizer)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.counters = OnPolicyCounters()
        # Micro-batches that sample and score (None: all of them); later ones replay those.
        self.sampling_batches = sampling_batches
        self.replay_file = replay_file
        self.replay: list[list[Example]] = _read_replay(replay_file)

    def __call__(self, model: Any, state: TrainState) -> tuple[torch.Tensor, int]:
        settings = self.settings
        sft_position = state.data_position
        state.data_position += settings.batch_size
        batch_index = sft_position // settings.batch_size - settings.sft_warmup_steps * settings.grad_accum
        if batch_index < 0:  # the warm-up: SFT on the answers alone, nothing sampled or paid
            self.counters.warmup_batches += 1
            return self._sft_loss(model, sft_position, 1.0)
        examples = self._scored_batch(model, sft_position, batch_index, state.step)
        loss = torch.zeros(())
        tokens = 0
        if examples:
            batch = collate(examples, self.pad)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            kind, beta = settings.divergence, settings.beta
            loss = sparse_divergence(
                logits, batch["kd_ids"], batch["kd_logprobs"], batch["kd_mask"], kind, beta
            )
            tokens += int(batch["attention_mask"].sum())
        if self.sft_examples and settings.alpha < 1.0:
            # The divergence's share of the gradient is taken now, so that its graph (vocabulary-sized
            # logits) is freed before the SFT forward pass: the same gradient at about half the peak
            # memory. The returned loss has the mixed value and carries only the SFT gradient.
            divergence = settings.alpha * loss
            if divergence.requires_grad:
                (divergence / settings.grad_accum).backward()
            logits = None  # frees the divergence pass's logits before the SFT pass
            sft, sft_tokens = self._sft_loss(model, sft_position, 1.0 - settings.alpha)
            loss = sft + divergence.detach()
            tokens += sft_tokens
        if not tokens:
            return next(model.parameters()).sum() * 0.0, 0
        return loss, tokens

    def _sft_loss(self, model: Any, position: int, weight: float) -> tuple[torch.Tensor, int]:
        """``weight`` x CE on the SFT stream's batch at ``position`` (the answers paid for)."""
        if not self.sft_examples:
            raise ValueError("an SFT step needs the teacher's answers: sft_warmup_steps or alpha < 1")
        settings = self.settings
        chosen = stream_indices(position, settings.batch_size, len(self.sft_examples), settings.seed + 1)
        batch = collate([self.sft_examples[i] for i in chosen], self.pad)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return weight * completion_ce(logits, batch["labels"]), int(batch["attention_mask"].sum())

    def _scored_batch(self, model: Any, position: int, index: int, step: int) -> list[Example]:
        """Batch ``index`` after the warm-up: sampled and scored now, or a replay of one paid before."""
        settings = self.settings
        sampling = self.sampling_batches
        if sampling is None or index < sampling:
            if index < len(self.replay):  # a resumed run: this batch was sampled and paid for already
                return self.replay[index]
            picked = stream_indices(position, settings.batch_size, len(self.conversations), settings.seed)
            try:
                examples = self.examples(model, [self.conversations[i] for i in picked], step)
            except StopTraining:
                if settings.score_epochs == 1 or not self.replay:
                    raise
                # The cap was reached before the planned samples: replay what was paid for.
                self.sampling_batches = sampling = len(self.replay)
            else:
                if settings.score_epochs > 1:
                    self._keep(examples)
                return examples
        replayed = index - sampling
        if replayed >= sampling * (settings.score_epochs - 1):
            raise StopTraining(f"every paid scored batch was replayed {settings.score_epochs - 1} time(s)")
        self.counters.replayed_batches += 1
        return self.replay[replayed % sampling]

    def _keep(self, examples: list[Example]) -> None:
        self.replay.append(examples)
        if self.replay_file is not None:
            line = [[e.input_ids, e.labels, e.kd] for e in examples]
            with self.replay_file.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")

    def examples(self, model: Any, conversations: list[list[dict[str, Any]]], step: int) -> list[Example]:
        """Sample, score and align one batch; prompts the teacher could not score are skipped."""
        import time

        from distillscope.models.generate import generate

        settings = self.settings
        if getattr(self.scorer, "exhausted", False):  # the last batch already found the cap reached
            raise StopTraining(f"teacher budget spent at step {step}: the last scoring batch was partial")
        started = time.perf_counter()
        was_training = model.training
        model.eval()
        samples = generate(
            model, self.tokenizer, [prompt_ids(self.tokenizer, c) for c in conversations],
            max_new_tokens=settings.sample_tokens, batch_size=len(conversations), do_sample=True,
            temperature=settings.sample_temperature, seed=settings.seed * 1_000_003 + step,
        )  # fmt: skip
        model.train(was_training)
        self.counters.sample_seconds += time.perf_counter() - started
        eos_text = self.tokenizer.eos_token or ""
        answers = [
            self.tokenizer.decode(s.ids, skip_special_tokens=True)
            + (eos_text if s.finish_reason == "stop" else "")
            for s in samples
        ]
        texts = [
            (prompt_text(self.teacher_tokenizer, c), a) for c, a in zip(conversations, answers, strict=True)
        ]
        try:
            scored = self.scorer.score(texts)
        except ScoringBudgetExhausted as exc:
            raise StopTraining(f"teacher budget spent at step {step}: {exc}") from None
        out = []
        for conversation, answer, sample, judged in zip(conversations, answers, samples, scored, strict=True):
            self.counters.samples += 1
            self.counters.sampled_tokens += len(sample.ids)
            if judged is None:
                self.counters.unscored += 1
                continue
            example = self._example(conversation, answer, judged.content)
            if example is not None:
                self.counters.kd_positions += len(example.kd)
                out.append(example)
        return out

    def _example(
        self, conversation: list[dict[str, Any]], answer: str, content: list[dict]
    ) -> Example | None:
        prompt = prompt_ids(self.tokenizer, conversation)
        aligned = align_answer(answer, content, self.tokenizer, self.mapper)
        room = self.settings.max_seq_len - len(prompt)
        if room < 1 or not aligned.ids:
            return None
        ids, targets = aligned.ids[:room], aligned.targets[:room]
        kd = [(len(prompt) + j - 1, t[0], t[1]) for j, t in enumerate(targets) if t is not None]
        return Example(prompt + ids, [-100] * len(prompt) + ids, kd)


def train_on_policy(settings: TrainSettings) -> Path:
    """On-policy training as ``settings`` say; returns the student directory (see the module doc)."""
    from distillscope.train.run import set_threads

    if settings.dataset is None or settings.out is None:
        raise ValueError("TrainSettings.dataset and TrainSettings.out are required")
    set_threads(settings.threads)
    dataset = load_dataset(settings.dataset, limit=settings.limit)
    model, tokenizer, origin = make_student(settings, calibration_texts(dataset))
    conversations = [messages_of(e) for e in dataset.exchanges]
    sft_examples, stats = None, {}
    answers = _answers(dataset, settings.sft_answers)
    if settings.alpha < 1.0 or settings.sft_warmup_steps:
        sft_examples, stats = build_examples(answers, tokenizer, settings.max_seq_len, with_kd=False)
    sft_cost = answers.cost_usd if sft_examples else 0.0
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = [prompt_ids(tokenizer, c) for c in conversations]
    teacher_tokenizer = _teacher_tokenizer(settings, tokenizer)
    with open_scorer(settings, out) as scorer:
        scorer.budget.caps.max_cost = _scoring_cap(settings, sft_cost)
        steps = planned_steps(settings, prompts, scorer.budget.caps.max_cost, scorer.config.price)
        if steps < 1:
            raise ValueError(
                f"max_cost ${settings.max_cost} leaves no room for one scoring call at the worst case "
                f"(answers trained on cost ${sft_cost:.6f})"
            )
        sampling = steps
        steps = schedule(settings, sampling)
        mode = scorer.detect()
        replay_file = out / "scoring" / "replay.jsonl"
        if not settings.resume:
            replay_file.unlink(missing_ok=True)
        batches = OnPolicyBatches(
            settings, tokenizer, conversations, scorer, sft_examples, teacher_tokenizer,
            sampling_batches=sampling * settings.grad_accum, replay_file=replay_file,
        )  # fmt: skip
        fingerprint_examples = [Example(p, [], []) for p in prompts]
        report = fit(
            model,
            fingerprint_examples,
            settings,
            batches.pad,
            checkpoints=out,
            batch_loss=batches,
            steps=steps,
        )
        save_student(model, tokenizer, out)
        scoring = scorer.summary() | {"max_tokens_mode": mode}
        scorer.write_log(out / "scoring" / "exchanges.jsonl")
    info = provenance(_used(answers, sft_examples), settings, origin, report, stats)
    counters = batches.counters
    info |= {
        "exchanges": len(answers.exchanges) if sft_examples else 0,
        "prompts": len(conversations),
        "cost_usd": round(sft_cost + scoring["cost_usd"], 8),
        "cost_breakdown": {"teacher_answers_usd": round(sft_cost, 8), "scoring_usd": scoring["cost_usd"]},
        "scoring": scoring,
        "on_policy": {
            "samples": counters.samples,
            "sampled_tokens": counters.sampled_tokens,
            "kd_positions": counters.kd_positions,
            "unscored": counters.unscored,
            "sample_seconds": round(counters.sample_seconds, 3),
            "planned_steps": steps,
            "planned_sampling_steps": sampling,
            "warmup_sft_batches": counters.warmup_batches,
            "replayed_batches": counters.replayed_batches,
            "stopped_early": report.stopped_early,
        },
    }
    write_card(out, info)
    if not settings.keep_checkpoints:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return out


def _read_replay(path: Path | None) -> list[list[Example]]:
    """The scored batches a run kept for replay (``score_epochs`` > 1), oldest first."""
    if path is None or not path.exists():
        return []
    batches = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rows = json.loads(line)
        batches.append([Example(ids, labels, [tuple(t) for t in kd]) for ids, labels, kd in rows])
    return batches


def _answers(dataset: Dataset, count: int | None) -> Dataset:
    """The exchanges whose answers an ``alpha < 1`` run trains on (and pays for): the first ``count``."""
    if count is None or count >= len(dataset.exchanges):
        return dataset
    return Dataset(dataset.source, dataset.exchanges[:count], dataset.manifest, dataset.skipped)


def _used(dataset: Dataset, sft_examples: list[Example] | None) -> Dataset:
    """The dataset as the card should count it: its answers cost money only when trained on."""
    if sft_examples:
        return dataset
    return Dataset(dataset.source, [], dataset.manifest, dataset.skipped)


def _teacher_tokenizer(settings: TrainSettings, student_tokenizer: Any) -> Any:
    """Whose chat template renders prompts for the teacher: ``teacher_template``, else a local
    teacher's own tokenizer, else (a URL teacher) the student's."""
    from distillscope.models import load_tokenizer

    if settings.teacher_template:
        return load_tokenizer(settings.teacher_template)
    if settings.teacher_url is None:
        return load_tokenizer(settings.teacher)
    return student_tokenizer
