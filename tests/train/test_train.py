"""End-to-end training on a tiny model: output directory, model card, resume, Ctrl-C, KD and LoRA."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distillscope.train import TrainSettings, train_student
from distillscope.train.loop import TrainingInterrupted


def _settings(dataset: Path, out: Path, student: Path, **over) -> TrainSettings:
    base = dict(
        dataset=dataset, out=out, student=str(student), batch_size=4, max_steps=4, epochs=10,
        learning_rate=1e-3, save_every=100, progress=False, threads=1,
    )  # fmt: skip
    base.update(over)
    return TrainSettings(**base)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def test_sft_writes_a_loadable_student_with_provenance(dataset_file, tiny_model_dir, tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = train_student(_settings(dataset_file, tmp_path / "student", tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert AutoTokenizer.from_pretrained(str(out)).eos_token == "<|im_end|>"
    before = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    changed = any(not torch.equal(a, b) for a, b in zip(model.parameters(), before.parameters(), strict=True))
    assert changed
    card = (out / "README.md").read_text()
    assert "test-teacher" in card and "test terms allow distillation" in card and "$0.0120" in card
    info = json.loads((out / "training.json").read_text())
    assert info["exchanges"] == 12 and info["method"] == "sft" and info["steps"] == 4
    assert not (out / "checkpoints").exists()


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(dataset_file, tiny_model_dir, tmp_path):
    whole = train_student(_settings(dataset_file, tmp_path / "whole", tiny_model_dir, method="mixed"))
    chunked = tmp_path / "chunked"
    with pytest.raises(TrainingInterrupted) as stopped:
        train_student(_settings(dataset_file, chunked, tiny_model_dir, method="mixed", stop_after=2))
    assert stopped.value.step == 2
    assert (chunked / "checkpoints" / "last" / "state.json").exists()
    train_student(_settings(dataset_file, chunked, tiny_model_dir, method="mixed", resume=True))
    a, b = _weights(whole), _weights(chunked)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    info = json.loads((chunked / "training.json").read_text())
    assert info["steps"] == 4


def test_resume_refuses_a_checkpoint_from_other_settings(dataset_file, tiny_model_dir, tmp_path) -> None:
    from distillscope.train.checkpoint import CheckpointError

    out = tmp_path / "s"
    with pytest.raises(TrainingInterrupted):
        train_student(_settings(dataset_file, out, tiny_model_dir, stop_after=1))
    with pytest.raises(CheckpointError, match="other settings"):
        train_student(_settings(dataset_file, out, tiny_model_dir, resume=True, learning_rate=2e-3))


def test_ctrl_c_saves_a_checkpoint_and_stops(dataset_file, tiny_model_dir, tmp_path) -> None:
    from transformers import AutoTokenizer

    from distillscope.exchanges import load_dataset
    from distillscope.train.data import build_examples
    from distillscope.train.loop import fit
    from distillscope.train.student import make_student

    settings = _settings(dataset_file, tmp_path / "s", tiny_model_dir, max_steps=6)
    model, tokenizer, _ = make_student(settings)
    examples, _ = build_examples(
        load_dataset(dataset_file), AutoTokenizer.from_pretrained(str(tiny_model_dir)), 256, False
    )

    def interrupt(step: int, loss: float) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as stopped:
        fit(model, examples, settings, tokenizer.pad_token_id, checkpoints=tmp_path / "s", on_step=interrupt)
    assert stopped.value.step == 3
    state = json.loads((tmp_path / "s" / "checkpoints" / "last" / "state.json").read_text())
    assert state["step"] == 3 and state["data_position"] == 12


def test_topk_kd_with_lora_learns_and_saves_a_merged_model(dataset_file, tiny_model_dir, tmp_path) -> None:
    settings = _settings(
        dataset_file, tmp_path / "kd", tiny_model_dir, method="topk-kd", lora=True, lora_r=4,
        max_steps=12, learning_rate=2e-2,
    )  # fmt: skip
    out = train_student(settings)
    info = json.loads((out / "training.json").read_text())
    losses = info["hyperparameters"]  # settings are recorded
    assert losses["lora"] is True and info["kd_positions"] > 0
    weights = _weights(out)
    assert not any("lora" in name for name in weights)  # merged into plain weights
    assert info["final_loss"] is not None


def test_target_temperature_is_validated_recorded_and_reaches_the_loss(dataset_file, tiny_model_dir) -> None:
    from transformers import AutoTokenizer

    from distillscope.evaluate.settings import CURVE_TRAIN_OPTIONS
    from distillscope.exchanges import load_dataset
    from distillscope.train.data import build_examples, collate
    from distillscope.train.loop import compute_loss
    from distillscope.train.student import make_student

    for bad in (0.0, float("nan")):
        with pytest.raises(ValueError, match="target_temperature"):
            _settings(dataset_file, None, tiny_model_dir, method="topk-kd", target_temperature=bad)
    with pytest.raises(ValueError, match="temperature"):
        _settings(dataset_file, None, tiny_model_dir, method="topk-kd", temperature=float("nan"))
    plain = _settings(dataset_file, None, tiny_model_dir, method="topk-kd")
    sharp = _settings(dataset_file, None, tiny_model_dir, method="topk-kd", target_temperature=0.5)
    assert "target_temperature" not in plain.hyperparameters()  # earlier runs' fingerprints stay valid
    assert sharp.hyperparameters()["target_temperature"] == 0.5
    assert "target_temperature" in CURVE_TRAIN_OPTIONS  # a curve arm can set it
    model, tokenizer, _ = make_student(plain)
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    examples, _ = build_examples(load_dataset(dataset_file), tok, 256, True)
    batch = collate(examples[:4], tokenizer.pad_token_id)
    with torch.no_grad():
        sharp_loss, plain_loss = compute_loss(model, batch, sharp), compute_loss(model, batch, plain)
    assert float(sharp_loss) != pytest.approx(float(plain_loss))


def test_a_non_finite_gradient_stops_training_before_it_reaches_the_weights(
    dataset_file, tiny_model_dir
) -> None:
    from distillscope.train.loop import TrainingDiverged, fit
    from distillscope.train.student import make_student

    settings = _settings(dataset_file, None, tiny_model_dir, method="topk-kd", max_steps=3)
    model, tokenizer, _ = make_student(settings)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    ids = torch.tensor([[1, 2, 3]])

    def poisoned(model, state):  # a finite loss whose gradient is NaN somewhere, as 0 * inf makes one
        logits = model(input_ids=ids).logits
        return logits.mean() * 0.0 + torch.sqrt(logits[0, 0, 0] * 0.0 - 1.0).nan_to_num(0.0) * 0.0, 3

    with pytest.raises(TrainingDiverged, match="step 1"):
        fit(model, [], settings, tokenizer.pad_token_id or 0, batch_loss=poisoned, steps=3)
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_kd_loss_goes_down(dataset_file, tiny_model_dir, tmp_path) -> None:
    from transformers import AutoTokenizer

    from distillscope.exchanges import load_dataset
    from distillscope.train.data import build_examples
    from distillscope.train.loop import fit
    from distillscope.train.student import make_student

    settings = _settings(
        dataset_file, None, tiny_model_dir, method="topk-kd", max_steps=15, learning_rate=3e-3
    )
    model, tokenizer, _ = make_student(settings)
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    examples, _ = build_examples(load_dataset(dataset_file), tok, 256, True)
    report = fit(model, examples, settings, tokenizer.pad_token_id)
    assert sum(report.losses[-3:]) / 3 < 0.85 * sum(report.losses[:3]) / 3


def test_cli_trains_and_stop_after_exits_130(dataset_file, tiny_model_dir, tmp_path) -> None:
    from typer.testing import CliRunner

    from distillscope.cli import app

    common = [
        "train",
        str(dataset_file),
        "--student",
        str(tiny_model_dir),
        "--batch-size",
        "2",
        "--threads",
        "1",
    ]
    stopped = CliRunner().invoke(
        app, [*common, "--out", str(tmp_path / "s"), "--max-steps", "3", "--stop-after", "1"]
    )
    assert stopped.exit_code == 130 and "--resume" in " ".join(stopped.output.split())
    done = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "s"), "--max-steps", "3", "--resume"])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "s" / "training.json").read_text())["steps"] == 3
    bad = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "t"), "--method", "distill-harder"])
    assert bad.exit_code == 2 and "method must be one of" in " ".join(bad.output.split())


def test_verify_trains_only_on_correct_answers_and_keeps_the_paid_cost(
    dataset_file, tiny_model_dir, tmp_path
) -> None:
    from distillscope.evaluate.tasks import make_task_dataset
    from distillscope.exchanges import DatasetError
    from distillscope.records import Exchange, write_jsonl

    task = "products:max_digits=1"
    rows = []
    for i in range(6):
        entry = make_task_dataset(task, 6, 3)[i]
        answer = int(entry["answer"]) + (0 if i % 3 == 0 else 1)  # items 0 and 3 right, the rest wrong
        rows.append(
            Exchange(
                id=f"ex{i}", ts=1000.0 + i, account="harvest",
                messages=[{"role": "user", "content": entry["question"]}], response_text=f"Answer: {answer}",
                finish_reason="stop", cost_usd=0.001, status=200,
                provenance={"teacher": "test-teacher", "strategy": "random",
                            "query_meta": {"task": task, "seed": 3, "size": 6, "index": i}},
            )
        )  # fmt: skip
    data = tmp_path / "addressed" / "exchanges.jsonl"
    write_jsonl(rows, data)
    out = train_student(_settings(data, tmp_path / "v", tiny_model_dir, verify=True, max_steps=2))
    info = json.loads((out / "training.json").read_text())
    assert info["verified"]["kept"] == 2 and info["verified"]["checked"] == 6 and info["examples"] == 2
    assert info["exchanges"] == 6 and info["cost_usd"] == pytest.approx(0.006)  # all six were paid for
    assert info["hyperparameters"]["verify"] is True
    plain = _settings(data, tmp_path / "p", tiny_model_dir)
    assert "verify" not in plain.hyperparameters()  # earlier runs' fingerprints stay valid
    with pytest.raises(DatasetError, match="no reasoning-gym item address"):
        train_student(_settings(dataset_file, tmp_path / "x", tiny_model_dir, verify=True))


@pytest.mark.parametrize("method", ["topk-kd", "mixed"])
def test_verify_keeps_the_top_logprobs_of_the_verified_answers(method: str, tiny_model_dir, tmp_path) -> None:
    from transformers import AutoTokenizer

    from distillscope.evaluate.tasks import make_task_dataset
    from distillscope.records import Exchange, write_jsonl
    from tests.train.conftest import logprobs_for

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    task = "products:max_digits=1"
    rng = random.Random(0)
    rows, kept_tokens = [], 0
    for i in range(6):
        entry = make_task_dataset(task, 6, 3)[i]
        text = f"Answer: {int(entry['answer']) + (0 if i % 3 == 0 else 1)}"  # items 0 and 3 right
        # only the wrong answers' logprobs are long: a filter that kept them would count more positions
        logprobs = logprobs_for(tokenizer, text if i % 3 == 0 else text + " and more words", 3, rng)
        kept_tokens += len(logprobs) if i % 3 == 0 else 0
        rows.append(
            Exchange(
                id=f"ex{i}", ts=1000.0 + i, account="harvest",
                messages=[{"role": "user", "content": entry["question"]}], response_text=text,
                finish_reason="stop", logprobs=logprobs, cost_usd=0.001, status=200,
                provenance={"teacher": "test-teacher", "strategy": "random",
                            "query_meta": {"task": task, "seed": 3, "size": 6, "index": i}},
            )
        )  # fmt: skip
    data = tmp_path / "addressed" / "exchanges.jsonl"
    write_jsonl(rows, data)
    settings = _settings(data, tmp_path / "v", tiny_model_dir, verify=True, max_steps=2, method=method)
    info = json.loads((train_student(settings) / "training.json").read_text())
    assert info["verified"]["kept"] == 2 and info["examples"] == 2 and info["exchanges"] == 6
    assert info["kd_positions"] == kept_tokens > 0  # the kept answers' targets, every token of them
