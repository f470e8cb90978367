"""The active-selection strategy: picks the prompts the student is least sure about, retrains, replays."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from distillscope.harvest.strategies.active import ActiveStrategy, answer_cross_entropy
from distillscope.harvest.strategies.base import Query, QueryStrategy
from distillscope.records import Exchange

WORDS = ["apple", "zebra", "river", "zebra crossing", "mountain", "cloud"]


class MarkerLM(PreTrainedModel, GenerationMixin):
    """Uniform next-token distribution (maximal entropy) on rows holding the marker id, peaked elsewhere.

    A cache-less transformers model, so the one generation loop (``models.generate``) drives it."""

    config_class = PretrainedConfig

    def __init__(self, vocab: int, marker: int, eos: int) -> None:
        config = PretrainedConfig(vocab_size=vocab, eos_token_id=eos, use_cache=False, num_hidden_layers=0)
        super().__init__(config)
        self.vocab, self.marker, self.eos, self.calls = vocab, marker, eos, 0
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a device and a dtype for transformers

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        return {"input_ids": input_ids, "attention_mask": attention_mask}  # no cache: whole rows each step

    def forward(self, input_ids, attention_mask=None, **kwargs):
        self.calls += 1
        logits = torch.zeros(*input_ids.shape, self.vocab)
        unsure = (input_ids == self.marker).any(-1)
        logits[~unsure, :, 7] = 30.0  # confident rows: token 7 at every position
        return CausalLMOutput(logits=logits)


class ExplodingLM(torch.nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a replayed round must not score prompts again")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _pool() -> list[Query]:
    return [Query.user(f"Tell me about the {word}.") for word in WORDS]


def _answered(queries: list[Query], start: int = 0) -> list[Exchange]:
    return [
        Exchange(id=f"a{start + i}", ts=float(start + i), account="h", messages=[dict(m) for m in q.messages],
                 response_text=f"It is a fine thing number {i}.", finish_reason="stop")
        for i, q in enumerate(queries)
    ]  # fmt: skip


def test_picks_the_most_uncertain_prompts_first_and_replays_rounds(tokenizer, tmp_path: Path) -> None:
    marker = tokenizer.encode(" zebra", add_special_tokens=False)[0]
    model = MarkerLM(len(tokenizer), marker, tokenizer.eos_token_id)
    state = tmp_path / "active.json"
    strategy = ActiveStrategy(
        _pool(), 2, rounds=3, model=model, tokenizer=tokenizer, train_steps=0, state_file=state
    )
    assert isinstance(strategy, QueryStrategy)
    first = strategy.next_round(0, [])
    assert sorted(q.messages[-1]["content"] for q in first) == [
        "Tell me about the zebra crossing.",
        "Tell me about the zebra.",
    ]
    top = max(strategy.last_scores.values())
    assert top == pytest.approx(math.log(len(tokenizer)), rel=1e-4)  # uniform = log V nats
    second = strategy.next_round(1, _answered(first))
    assert not {q.key for q in second} & {q.key for q in first}
    # A resumed harvest (new process, same state file) replays rounds without scoring again.
    again = ActiveStrategy(_pool(), 2, rounds=3, model=ExplodingLM(), tokenizer=tokenizer, state_file=state)
    assert [q.key for q in again.next_round(0, [])] == [q.key for q in first]
    assert [q.key for q in again.next_round(1, _answered(first))] == [q.key for q in second]


def test_stops_after_its_rounds_or_an_exhausted_pool(tokenizer) -> None:
    marker = tokenizer.encode(" zebra", add_special_tokens=False)[0]
    model = MarkerLM(len(tokenizer), marker, tokenizer.eos_token_id)
    strategy = ActiveStrategy(_pool(), 4, model=model, tokenizer=tokenizer, train_steps=0)
    first = strategy.next_round(0, [])
    second = strategy.next_round(1, _answered(first))
    assert len(first) == 4 and len(second) == 2
    assert strategy.next_round(2, _answered(first + second)) == []
    limited = ActiveStrategy(_pool(), 1, rounds=1, model=model, tokenizer=tokenizer, train_steps=0)
    assert len(limited.next_round(0, [])) == 1 and limited.next_round(1, []) == []


def test_retrains_the_student_between_rounds(tokenizer, tiny_model_dir: Path) -> None:
    from distillscope.models import load_model
    from distillscope.train import TrainSettings

    model, tok = load_model(tiny_model_dir)
    before = [p.detach().clone() for p in model.parameters()]
    settings = TrainSettings(batch_size=2, learning_rate=1e-3, progress=False)
    strategy = ActiveStrategy(
        _pool(), 2, model=model, tokenizer=tok, settings=settings, train_steps=2, probe_tokens=4
    )
    first = strategy.next_round(0, [])
    assert all(
        torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)
    )  # nothing answered yet
    strategy.next_round(1, _answered(first))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_disagreement_probe_picks_the_answers_the_student_finds_least_likely(
    tokenizer, tiny_model_dir
) -> None:
    from distillscope.models import load_model

    model, tok = load_model(tiny_model_dir)
    answers = {
        q.key: f"The {w} answer is {i * 7}." for i, (q, w) in enumerate(zip(_pool(), WORDS, strict=True))
    }
    with pytest.raises(ValueError, match="teacher_probe"):
        ActiveStrategy(_pool(), 2, probe="disagreement", model=model, tokenizer=tok).next_round(0, [])
    strategy = ActiveStrategy(
        _pool(), 2, probe="disagreement", model=model, tokenizer=tok, train_steps=0,
        teacher_probe=lambda queries: [answers[q.key] for q in queries],
    )  # fmt: skip
    chosen = strategy.next_round(0, [])
    pool = _pool()
    ce = answer_cross_entropy(model, tok, [list(q.messages) for q in pool], [answers[q.key] for q in pool])
    expected = sorted(range(len(pool)), key=lambda i: -ce[i])[:2]
    assert [q.key for q in chosen] == [pool[i].key for i in expected]


def test_disagreement_probe_inside_a_harvest_pays_through_the_harvesters_cache(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from distillscope.harvest.run import harvest
    from distillscope.harvest.settings import HarvestSettings
    from distillscope.models import load_model

    def run() -> tuple:
        model, tok = load_model(tiny_model_dir)
        strategy = ActiveStrategy(
            _pool(), 2, rounds=1, probe="disagreement", model=model, tokenizer=tok, train_steps=0,
            probe_tokens=4,
        )  # fmt: skip
        settings = HarvestSettings(
            out_dir=tmp_path / "h", strategy=strategy, teacher="local", model=str(tiny_model_dir),
            max_new_tokens=6, progress=False, terms="test",
        )  # fmt: skip
        return harvest(settings), strategy

    result, strategy = run()
    manifest = __import__("json").loads(result.manifest_path.read_text())
    # every candidate of the pool was probed once (short greedy answers), then 2 were asked
    assert manifest["totals"]["helper_requests"] == len(WORDS) and result.exchanges == 2
    assert len(strategy.last_scores) == len(WORDS)
    again, _ = run()
    assert again.sent == 0 and again.exchanges == 2  # probes and answers all from the cache
