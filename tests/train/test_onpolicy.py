"""On-policy distillation through an API: a tiny student, a tiny teacher behind a real loopback server.

The teacher is ``distillscope serve``'s app (real HTTP, real /v1/completions with
echo + logprobs); servers that lack a capability are small FastAPI apps speaking
OpenAI's legacy completions wire format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distillscope.train import TrainSettings, train_student
from distillscope.train.scorer import (
    ScorerSettings,
    ScoringUnsupported,
    TeacherScorer,
    answer_entries,
)


def _settings(dataset: Path, out: Path, student: Path, **over) -> TrainSettings:
    base = dict(
        dataset=dataset, out=out, student=str(student), method="on-policy", alpha=1.0, batch_size=3,
        max_steps=2, epochs=10, learning_rate=1e-3, save_every=100, progress=False, threads=1,
        sample_tokens=6, score_top_k=5, price_model="gpt-4o-mini",
    )  # fmt: skip
    base.update(over)
    return TrainSettings(**base)


@pytest.fixture(scope="module")
def teacher_url(tiny_model_dir: Path):
    from distillscope.serving import ServeSettings, serve

    local = ServeSettings(
        model=str(tiny_model_dir), served_model_name="tiny-teacher", max_batch_size=8, port=0
    )
    with serve(local) as url:
        yield url


def test_on_policy_trains_scores_through_the_cache_and_prices_input_tokens(
    dataset_file, tiny_model_dir, teacher_url, tmp_path
) -> None:
    out = train_student(
        _settings(dataset_file, tmp_path / "student", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher")
    )  # fmt: skip
    info = json.loads((out / "training.json").read_text())
    scoring = info["scoring"]
    assert info["method"] == "on-policy" and info["steps"] == 2
    # 2 steps x 3 samples scored (the capability probe is logged, not counted as a call).
    assert scoring["calls"] == 6 and scoring["from_cache"] == 0 and scoring["failed"] == 0
    assert scoring["max_tokens"] in (0, 1)
    assert scoring["completion_tokens"] == 6 * scoring["max_tokens"]
    # gpt-4o-mini list price: input $0.15 / M, output $0.60 / M; scoring is (almost all) input.
    expected = (scoring["prompt_tokens"] * 0.15 + scoring["completion_tokens"] * 0.60) / 1e6
    assert scoring["cost_usd"] == pytest.approx(expected, rel=1e-6) and scoring["cost_usd"] > 0
    assert info["cost_usd"] == pytest.approx(scoring["cost_usd"]) and info["exchanges"] == 0
    assert info["on_policy"]["kd_positions"] > 0 and info["on_policy"]["samples"] == 6
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in after)
    rows = [json.loads(line) for line in (out / "scoring" / "exchanges.jsonl").read_text().splitlines()]
    assert len(rows) == 7 and all(r["endpoint"] == "/v1/completions" for r in rows)
    assert all(r["params"]["echo"] is True and r["params"]["logprobs"] == 5 for r in rows)
    assert all(r["provenance"]["teacher"] == teacher_url.rstrip("/") for r in rows)

    # The same run again: every scoring call comes from the cache, nothing is paid twice.
    again = train_student(
        _settings(dataset_file, tmp_path / "student", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher")
    )  # fmt: skip
    second = json.loads((again / "training.json").read_text())["scoring"]
    assert second["calls"] == 6 and second["from_cache"] == 6
    repeated = load_file(str(again / "model.safetensors"))
    assert all(torch.equal(repeated[k], after[k]) for k in after)  # same samples, same scores


def test_on_policy_mixed_with_sft_counts_the_answers_and_stops_within_max_cost(
    dataset_file, tiny_model_dir, teacher_url, tmp_path
) -> None:
    # 12 answers at $0.001 each are trained on; $0.0121 leaves room for very few scoring calls.
    out = train_student(
        _settings(dataset_file, tmp_path / "mixed", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher", alpha=0.5, max_cost=0.012 + 3 * 200 * 0.15e-6,
                  max_steps=50)
    )  # fmt: skip
    info = json.loads((out / "training.json").read_text())
    assert info["exchanges"] == 12
    assert info["cost_breakdown"]["teacher_answers_usd"] == pytest.approx(0.012)
    assert info["cost_usd"] <= 0.012 + 3 * 200 * 0.15e-6 + 1e-12
    # Planned from a token estimate; the budget reserves a byte bound per call, so the last
    # planned step may not fit: then training ends early, saying why, never over the cap.
    planned = info["on_policy"]["planned_steps"]
    assert 1 <= info["steps"] <= planned < 50
    assert info["steps"] == planned or "budget" in info["on_policy"]["stopped_early"]


def test_gkd_split_pays_only_for_its_first_answers_and_samples_every_prompt(
    dataset_file, tiny_model_dir, teacher_url, tmp_path
) -> None:
    # GKD's mixed objective at a split budget: SFT on the first 4 of 12 answers ($0.001 each),
    # the rest of max_cost on scoring the student's samples of all 12 prompts.
    cap = 0.004 + 4 * 3 * 200 * 0.15e-6
    out = train_student(
        _settings(dataset_file, tmp_path / "gkd", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher", alpha=0.5, sft_answers=4, max_cost=cap, max_steps=50)
    )  # fmt: skip
    info = json.loads((out / "training.json").read_text())
    assert info["exchanges"] == 4 and info["prompts"] == 12
    assert info["cost_breakdown"]["teacher_answers_usd"] == pytest.approx(0.004)
    assert info["cost_usd"] == pytest.approx(0.004 + info["scoring"]["cost_usd"])
    assert info["scoring"]["cost_usd"] > 0 and info["cost_usd"] <= cap + 1e-12
    assert info["hyperparameters"]["sft_answers"] == 4
    # The scoring calls asked about prompts beyond the 4 answered ones (the stream covers all 12).
    rows = [json.loads(line) for line in (out / "scoring" / "exchanges.jsonl").read_text().splitlines()]
    asked = {n for r in rows for n in range(12) if f"Question number {n}?" in r["prompt"]}
    assert asked - set(range(4)), asked
    # The SFT half really trained: the same run without it (alpha 1) ends with other weights.
    pure = train_student(
        _settings(dataset_file, tmp_path / "pure", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher", alpha=1.0, max_steps=info["steps"])
    )  # fmt: skip
    mixed_w, pure_w = (load_file(str(d / "model.safetensors")) for d in (out, pure))
    assert any(not torch.equal(mixed_w[k], pure_w[k]) for k in mixed_w)


def test_sft_answers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sft_answers"):
        TrainSettings(method="on-policy", sft_answers=0)


def test_a_budget_too_small_for_one_step_is_a_clear_error(
    dataset_file, tiny_model_dir, teacher_url, tmp_path
):
    settings = _settings(
        dataset_file, tmp_path / "poor", tiny_model_dir, teacher_url=teacher_url,
        teacher_model="tiny-teacher", max_cost=1e-7,
    )  # fmt: skip
    with pytest.raises(ValueError, match="leaves no room"):
        train_student(settings)


def test_local_teacher_is_served_on_loopback_for_the_run(dataset_file, tiny_model_dir, tmp_path) -> None:
    out = train_student(
        _settings(dataset_file, tmp_path / "local", tiny_model_dir, teacher=str(tiny_model_dir), max_steps=1)
    )
    scoring = json.loads((out / "training.json").read_text())["scoring"]
    assert scoring["teacher"] == f"local:{tiny_model_dir}" and scoring["calls"] == 3


# -- servers that lack a capability ---------------------------------------------------------


def _legacy_app(echo: bool, min_max_tokens: int):
    """A completions server: one token per character, echo optional, max_tokens >= min_max_tokens."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(body: dict):
        if body.get("max_tokens", 16) < min_max_tokens:
            return JSONResponse(
                {"error": {"message": "max_tokens must be at least 1", "type": "invalid_request_error",
                           "param": "max_tokens", "code": None}},
                status_code=400,
            )  # fmt: skip
        prompt = body["prompt"]
        generated = "!" * body.get("max_tokens", 16)
        tokens = (list(prompt) if echo else []) + list(generated)
        logprobs = {
            "tokens": tokens,
            "token_logprobs": [None if echo and i == 0 else -0.5 for i in range(len(tokens))],
            "top_logprobs": [None if echo and i == 0 else {t: -0.5, "#": -1.5} for i, t in enumerate(tokens)],
            "text_offset": list(range(len(tokens)))
            if echo
            else [len(prompt) + i for i in range(len(tokens))],
        }
        text = (prompt if echo else "") + generated
        usage = {"prompt_tokens": len(prompt), "completion_tokens": len(generated)}
        return {
            "id": "cmpl-1", "object": "text_completion", "model": body["model"], "created": 0,
            "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
            "usage": usage | {"total_tokens": len(prompt) + len(generated)},
        }  # fmt: skip

    return app


def _scorer(url: str, tmp_path: Path) -> TeacherScorer:
    config = ScorerSettings(
        base_url=url, model="m", teacher_id=url, cache_path=tmp_path / "cache.sqlite", run_id="r",
        probe_rate_limits=False, max_retries=0,
    )  # fmt: skip
    return TeacherScorer(config)


def test_a_teacher_without_echo_gets_an_error_naming_the_capability(tmp_path) -> None:
    from distillscope.server.runner import serve_in_thread

    app = _legacy_app(echo=False, min_max_tokens=0)
    with (
        serve_in_thread(app) as url,
        _scorer(url, tmp_path) as scorer,
        pytest.raises(ScoringUnsupported, match="echo: true and logprobs"),
    ):
        scorer.detect()


def test_a_teacher_without_completions_gets_an_error_naming_the_endpoint(tmp_path) -> None:
    from fastapi import FastAPI

    from distillscope.server.runner import serve_in_thread

    with (
        serve_in_thread(FastAPI()) as url,
        _scorer(url, tmp_path) as scorer,
        pytest.raises(ScoringUnsupported, match="POST /v1/completions") as error,
    ):
        scorer.detect()
    assert "404" in str(error.value)


def test_max_tokens_zero_refused_falls_back_to_one_and_drops_the_generated_token(tmp_path) -> None:
    from distillscope.server.runner import serve_in_thread

    with serve_in_thread(_legacy_app(echo=True, min_max_tokens=1)) as url, _scorer(url, tmp_path) as scorer:
        assert scorer.detect() == 1
        (scored,) = scorer.score([("Q: hi\nA:", " ok")])
        assert scorer.summary()["max_tokens_note"].startswith("the server refused max_tokens 0")
    assert scored is not None
    assert "".join(e["token"] for e in scored.content) == " ok"  # the generated "!" is gone
    assert scored.completion_tokens == 1
    assert all({"token": e["token"], "logprob": -0.5} in e["top_logprobs"] for e in scored.content)


def test_answer_entries_split_a_token_that_straddles_prompt_and_answer() -> None:
    entries = [
        {"token": "ab", "logprob": None, "top": {}, "offset": 0},
        {"token": "c d", "logprob": -1.0, "top": {"c d": -1.0}, "offset": 2},
        {"token": "ef", "logprob": -2.0, "top": {"x": -0.1}, "offset": 5},
    ]
    content = answer_entries(entries, answer_start=3, answer=" def")
    assert [e["token"] for e in content] == [" d", "ef"]
    assert content[0]["top_logprobs"] == []  # no target where the teacher's token began in the prompt
    # The sampled token joins the top-k when it is not among them.
    assert {"token": "ef", "logprob": -2.0} in content[1]["top_logprobs"]


@pytest.fixture(scope="module")
def wordpiece_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny causal LM with another family's tokenizer: all-MiniLM-L6-v2's WordPiece (shipped offline)."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    from distillscope.models import embedder_path, tiny_model_config

    tokenizer = AutoTokenizer.from_pretrained(str(embedder_path()))
    out = tmp_path_factory.mktemp("wordpiece-student")
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_model_config(len(tokenizer))).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def test_a_student_with_another_tokenizer_learns_from_the_teachers_scores(
    dataset_file, tiny_model_dir, wordpiece_student, teacher_url, tmp_path
) -> None:
    out = train_student(
        _settings(dataset_file, tmp_path / "cross", wordpiece_student, teacher_url=teacher_url,
                  teacher_model="tiny-teacher", teacher_template=str(tiny_model_dir), max_steps=1)
    )  # fmt: skip
    info = json.loads((out / "training.json").read_text())
    # The teacher's SmolLM2 token strings were mapped onto WordPiece ids (vocab.py / align.py).
    assert info["on_policy"]["kd_positions"] > 0 and info["scoring"]["calls"] == 3
    rows = [json.loads(line) for line in (out / "scoring" / "exchanges.jsonl").read_text().splitlines()]
    # The teacher saw its own chat template, not the student's plain transcript.
    assert all("<|im_start|>assistant" in r["prompt"] for r in rows[1:])


def test_cli_names_the_missing_capability_and_loses_nothing(dataset_file, tiny_model_dir, tmp_path) -> None:
    from typer.testing import CliRunner

    from distillscope.cli import app
    from distillscope.server.runner import serve_in_thread

    out = tmp_path / "cli"
    with serve_in_thread(_legacy_app(echo=False, min_max_tokens=0)) as url:
        result = CliRunner().invoke(
            app,
            ["train", str(dataset_file), "--out", str(out), "--method", "on-policy", "--student",
             str(tiny_model_dir), "--teacher-url", url, "--teacher-model", "m", "--max-steps", "1",
             "--threads", "1"],
            env={"COLUMNS": "200"},
        )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "echo: true and logprobs" in result.output and "cannot score text" in result.output
    assert not (out / "model.safetensors").exists()  # no half-trained student left behind
    assert (out / "scoring" / "cache.sqlite").exists()  # the probe's answer is kept (it was paid)


def test_mixed_step_gives_the_gradient_of_the_joint_loss_with_the_divergence_graph_freed_first(
    dataset_file, tiny_model_dir
) -> None:
    # OnPolicyBatches backpropagates alpha * divergence before the SFT pass (to halve peak memory):
    # the accumulated gradient must equal that of alpha * divergence + (1 - alpha) * CE in one graph.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distillscope.exchanges import load_dataset
    from distillscope.train.checkpoint import TrainState
    from distillscope.train.data import build_examples, collate
    from distillscope.train.loop import stream_indices
    from distillscope.train.losses import completion_ce, sparse_divergence
    from distillscope.train.onpolicy import OnPolicyBatches

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    dataset = load_dataset(dataset_file)
    kd_examples, _ = build_examples(dataset, tokenizer, 64, with_kd=True)
    sft_examples, _ = build_examples(dataset, tokenizer, 64, with_kd=False)
    settings = TrainSettings(method="on-policy", alpha=0.3, batch_size=3, divergence="reverse-kl")
    batches = OnPolicyBatches(settings, tokenizer, [[]] * 12, scorer=None, sft_examples=sft_examples)
    batches.examples = lambda model, conversations, step: kd_examples[:3]  # the "scored samples"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    loss, tokens = batches(model, TrainState(0, 0, "", []))
    loss.backward()
    split = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)

    chosen = stream_indices(0, 3, len(sft_examples), settings.seed + 1)  # the SFT stream's first batch
    kd, sft = collate(kd_examples[:3], batches.pad), collate([sft_examples[i] for i in chosen], batches.pad)
    kd_logits = model(input_ids=kd["input_ids"], attention_mask=kd["attention_mask"]).logits
    sft_logits = model(input_ids=sft["input_ids"], attention_mask=sft["attention_mask"]).logits
    divergence = sparse_divergence(kd_logits, kd["kd_ids"], kd["kd_logprobs"], kd["kd_mask"], "reverse-kl")
    joint = 0.3 * divergence + 0.7 * completion_ce(sft_logits, sft["labels"])
    joint.backward()
    assert float(loss) == pytest.approx(float(joint), rel=1e-5) and tokens > 0
    assert all(torch.allclose(split[n], p.grad, atol=1e-6) for n, p in model.named_parameters())
    assert any(float(g.abs().sum()) > 0 for g in split.values())


def test_warmup_then_scoring_with_replay_pays_once_per_sample_and_trains_every_planned_step(
    dataset_file, tiny_model_dir, teacher_url, tmp_path
) -> None:
    # 4 answers ($0.001 each) trained on alone for 2 steps, then scoring with the rest of the cap,
    # every paid scored batch trained on twice (the second pass replays the teacher's scores).
    cap = 0.004 + 2 * 3 * 200 * 0.15e-6
    out = train_student(
        _settings(dataset_file, tmp_path / "warm", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher", alpha=0.5, sft_answers=4, sft_warmup_steps=2,
                  score_epochs=2, max_cost=cap, max_steps=50, divergence="forward-kl")
    )  # fmt: skip
    info = json.loads((out / "training.json").read_text())
    run = info["on_policy"]
    sampling = run["planned_sampling_steps"]
    assert sampling >= 1 and run["warmup_sft_batches"] == 2
    assert run["planned_steps"] == 2 + 2 * sampling
    sampled = len((out / "scoring" / "replay.jsonl").read_text().splitlines())  # batches paid for
    assert run["replayed_batches"] == sampled >= 1
    assert info["steps"] == 2 + 2 * sampled
    # Replays pay nothing: one scoring call per sample, never more.
    assert info["scoring"]["calls"] == run["samples"] == 3 * sampled
    assert info["exchanges"] == 4 and info["cost_breakdown"]["teacher_answers_usd"] == pytest.approx(0.004)
    assert info["cost_usd"] <= cap + 1e-12
    assert info["hyperparameters"]["sft_warmup_steps"] == 2 and info["hyperparameters"]["score_epochs"] == 2


def _stub_batches(tiny_model_dir: Path, tmp_path: Path, **over):
    """OnPolicyBatches whose 'sampling and scoring' hands out numbered KD batches, counting the calls."""
    from transformers import AutoTokenizer

    from distillscope.exchanges import load_dataset
    from distillscope.train.data import build_examples
    from distillscope.train.loop import StopTraining
    from distillscope.train.onpolicy import OnPolicyBatches

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    dataset = load_dataset(tmp_path / "data.jsonl")
    kd_examples, _ = build_examples(dataset, tokenizer, 64, with_kd=True)
    sft_examples, _ = build_examples(dataset, tokenizer, 64, with_kd=False)
    budget = over.pop("_budget", None)
    settings = TrainSettings(method="on-policy", batch_size=3, **over)
    batches = OnPolicyBatches(
        settings, tokenizer, [[]] * 12, scorer=None, sft_examples=sft_examples,
        sampling_batches=2, replay_file=tmp_path / "replay.jsonl",
    )  # fmt: skip
    calls: list[int] = []

    def sample_and_score(model, conversations, step):
        if budget is not None and len(calls) >= budget:
            raise StopTraining("teacher budget spent")
        calls.append(step)
        start = 3 * (len(calls) - 1)
        return kd_examples[start : start + 3]

    batches.examples = sample_and_score
    return batches, calls, kd_examples, sft_examples


def test_warmup_batches_are_sft_alone_and_replays_return_the_paid_batches_in_order(
    tiny_model_dir, dataset_file, tmp_path
) -> None:
    import shutil

    from transformers import AutoModelForCausalLM

    from distillscope.train.checkpoint import TrainState
    from distillscope.train.data import collate
    from distillscope.train.loop import StopTraining, stream_indices
    from distillscope.train.losses import completion_ce

    shutil.copy(dataset_file, tmp_path / "data.jsonl")
    batches, calls, kd_examples, sft_examples = _stub_batches(
        tiny_model_dir, tmp_path, sft_warmup_steps=1, score_epochs=2, alpha=0.5
    )
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    state = TrainState(0, 0, "", [])
    loss, _ = batches(model, state)  # the warm-up: CE on the SFT stream's first batch, nothing sampled
    chosen = stream_indices(0, 3, len(sft_examples), batches.settings.seed + 1)
    sft = collate([sft_examples[i] for i in chosen], batches.pad)
    with torch.no_grad():
        logits = model(input_ids=sft["input_ids"], attention_mask=sft["attention_mask"]).logits
        expected = completion_ce(logits, sft["labels"])
    assert calls == [] and float(loss) == pytest.approx(float(expected), rel=1e-5)
    seen = []
    original = batches._scored_batch

    def spy(model, position, index, step):
        seen.append(original(model, position, index, step))
        return seen[-1]

    batches._scored_batch = spy
    for step in range(1, 5):  # two sampled batches, then their two replays
        state.step = step
        batches(model, state)
    assert len(calls) == 2
    assert seen[2] is seen[0] and seen[3] is seen[1] and seen[0] == kd_examples[0:3]
    assert batches.counters.warmup_batches == 1 and batches.counters.replayed_batches == 2
    with pytest.raises(StopTraining, match="replayed 1 time"):
        batches(model, state)
    # A resumed run reads the paid batches back instead of sampling (and paying) again.
    again, again_calls, _, _ = _stub_batches(
        tiny_model_dir, tmp_path, sft_warmup_steps=1, score_epochs=2, alpha=0.5
    )
    assert len(again.replay) == 2 and again.replay[1] == kd_examples[3:6]
    assert again._scored_batch(model, 6, 1, 2) == kd_examples[3:6] and again_calls == []


def test_a_cap_reached_early_replays_what_was_paid_for_then_stops(tiny_model_dir, dataset_file, tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM

    from distillscope.train.loop import StopTraining

    shutil.copy(dataset_file, tmp_path / "data.jsonl")
    batches, calls, kd_examples, _ = _stub_batches(
        tiny_model_dir, tmp_path, score_epochs=3, alpha=1.0, _budget=1
    )
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    got = [batches._scored_batch(model, 3 * i, i, i) for i in range(3)]  # 1 paid, then 2 replays
    assert len(calls) == 1 and got == [kd_examples[0:3]] * 3 and batches.sampling_batches == 1
    with pytest.raises(StopTraining, match="replayed 2 time"):
        batches._scored_batch(model, 9, 3, 3)


def test_warmup_and_score_epochs_are_validated() -> None:
    with pytest.raises(ValueError, match="score_epochs"):
        TrainSettings(method="on-policy", score_epochs=0)
    with pytest.raises(ValueError, match="sft_warmup_steps"):
        TrainSettings(method="on-policy", sft_warmup_steps=-1)


def test_the_plan_rounds_up_so_that_the_cap_not_the_plan_ends_the_sampling() -> None:
    # Eighth round: rounding down to whole worst-case steps left up to a step of the cap unspent.
    from distillscope.harvest import PriceTable
    from distillscope.train.onpolicy import planned_steps

    price = PriceTable.load(None).lookup("gpt-4o-mini")
    settings = TrainSettings(method="on-policy", batch_size=4, sample_tokens=10, epochs=1000)
    prompts = [[1] * 20, [2] * 20]
    worst_call = price.cost(20 + 10 + 2, 1)
    per_step = 4 * worst_call
    assert planned_steps(settings, prompts, 2.5 * per_step, price) == 3  # 2 whole steps + a partial one
    assert planned_steps(settings, prompts, 3 * per_step, price) == 3
    assert planned_steps(settings, prompts, 1.5 * worst_call, price) == 1  # one call's worth: one step
    assert planned_steps(settings, prompts, 0.5 * worst_call, price) == 0


def test_a_batch_the_budget_covers_only_in_part_returns_the_calls_it_paid_for(teacher_url, tmp_path) -> None:
    from distillscope.harvest import PriceTable
    from distillscope.train.scorer import ScoringBudgetExhausted

    price = PriceTable.load(None).lookup("gpt-4o-mini")
    config = ScorerSettings(
        base_url=teacher_url, model="tiny-teacher", teacher_id="tiny", cache_path=tmp_path / "c.sqlite",
        run_id="partial", price=price, probe_rate_limits=False,
    )  # fmt: skip
    texts = [(f"Question number {i}? ", "The answer is 42.") for i in range(4)]
    with TeacherScorer(config) as scorer:
        mode = scorer.detect()
        worst = scorer._planned(scorer._body("".join(texts[0]), mode)).worst.cost
        cap = scorer.budget.spent.cost + 1.2 * worst  # one call fits at the worst case, not two
        scorer.budget.caps.max_cost = cap
        scored = scorer.score(texts)
        paid = [s for s in scored if s is not None]
        assert len(paid) == 1 and scorer.exhausted  # the paid call is returned, the others were refused
        assert scorer.summary()["calls"] == 1 and scorer.summary()["refused_for_budget"] == 3
        assert scorer.budget.spent.cost <= cap + 1e-12 and paid[0].cost_usd > 0
        with pytest.raises(ScoringBudgetExhausted):
            scorer.score(texts[1:])


def test_the_run_trains_on_a_last_batch_the_cap_covers_in_part_and_never_pays_more(
    dataset_file, tiny_model_dir, teacher_url, tmp_path
) -> None:
    # A cap the budget's byte bound runs out of in the middle of a batch: the calls it sent were paid,
    # so the run trains on them (before: they were dropped), then stops without sampling again.
    cap = 2.5 * 150 * 0.15e-6
    out = train_student(
        _settings(dataset_file, tmp_path / "partial", tiny_model_dir, teacher_url=teacher_url,
                  teacher_model="tiny-teacher", max_cost=cap, max_steps=50)
    )  # fmt: skip
    info = json.loads((out / "training.json").read_text())
    scoring, run = info["scoring"], info["on_policy"]
    assert scoring["refused_for_budget"] >= 1 and scoring["cost_usd"] <= cap + 1e-12
    rows = (out / "scoring" / "exchanges.jsonl").read_text().splitlines()
    assert scoring["calls"] == len(rows) - 1  # every paid call (the probe aside) was trained on
    assert run["samples"] == scoring["calls"] + scoring["refused_for_budget"]
    assert scoring["calls"] % 3 != 0 and info["steps"] == -(-scoring["calls"] // 3)
    assert "budget" in run["stopped_early"]
