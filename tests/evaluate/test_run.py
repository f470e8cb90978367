"""evaluate_student end to end, the CLI, a URL teacher through the real server, and curves (tiny models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.evaluate import evaluate_student, run_curve
from distillscope.records import write_jsonl
from distillscope.train import TrainSettings

PROMPTS = [[{"role": "user", "content": f"Count to {i}."}] for i in range(4)]


@pytest.fixture(scope="module")
def tiny_dataset(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exchanges written from the tiny model itself, with top-5 log-probs, priced at $0.001 each."""
    from distillscope.evaluate.generate import exchanges_from_model
    from distillscope.models import load_model

    model, tokenizer = load_model(tiny_model_dir)
    conversations = [[{"role": "user", "content": f"Question {i}: say something."}] for i in range(8)]
    exchanges = exchanges_from_model(
        model, tokenizer, conversations, "tiny", max_new_tokens=6, top_logprobs=5
    )
    for exchange in exchanges:
        exchange.cost_usd = 0.001
    out = tmp_path_factory.mktemp("data")
    write_jsonl(exchanges, out / "exchanges.jsonl")
    (out / "manifest.json").write_text(json.dumps({"strategy": "random"}))
    return out


def test_evaluate_a_model_against_itself(tiny_model_dir: Path, tiny_dataset: Path) -> None:
    result = evaluate_student(
        tiny_model_dir, teacher=str(tiny_model_dir), prompts=PROMPTS, max_new_tokens=6,
        tasks=("basic_arithmetic",), task_size=2, task_max_new_tokens=8, dataset=tiny_dataset,
    )  # fmt: skip
    fid = result["fidelity"]
    assert fid["agreement"] == 1.0 and fid["kl"] == pytest.approx(0.0, abs=1e-5) and fid["exact_match"] == 1.0
    assert result["cost"] == {
        "exchanges": 8,
        "cost_usd": pytest.approx(0.008),
        "source": str(tiny_dataset / "exchanges.jsonl"),
    }
    assert result["tasks"]["student"] == result["tasks"]["teacher"]
    assert result["identity"]["student"] == result["identity"]["teacher"]
    assert result["held_out"] == {"prompts": 4, "seen_in_training": 0}


def test_training_prompts_are_held_out(tiny_model_dir: Path, tiny_dataset: Path) -> None:
    from distillscope.exchanges import load_dataset, prompt_messages

    seen = [prompt_messages(e) for e in load_dataset(tiny_dataset).exchanges[:2]]
    result = evaluate_student(
        tiny_model_dir, teacher=str(tiny_model_dir), prompts=seen + PROMPTS, max_new_tokens=4, tasks=(),
        identity=False, dataset=tiny_dataset,
    )  # fmt: skip
    assert result["held_out"] == {"prompts": 4, "seen_in_training": 2}
    with pytest.raises(ValueError, match="every evaluation prompt"):
        evaluate_student(
            tiny_model_dir, teacher=str(tiny_model_dir), prompts=seen, tasks=(), dataset=tiny_dataset
        )


def test_url_teacher_gives_text_only_metrics(tiny_model_dir: Path) -> None:
    from distillscope.serving import ServeSettings, serve

    with serve(ServeSettings(model=str(tiny_model_dir), served_model_name="tiny", port=0)) as base_url:
        result = evaluate_student(
            tiny_model_dir, teacher=base_url, teacher_model="tiny", prompts=PROMPTS, max_new_tokens=6,
            tasks=(), identity=True,
        )  # fmt: skip
    fid = result["fidelity"]
    assert fid["kl"] is None and fid["teacher_ce"] is None
    assert fid["exact_match"] == 1.0  # the same weights answer greedily the same, over HTTP too
    assert result["identity"]["teacher"] == result["identity"]["student"]


def test_cli_evaluate_writes_json(tiny_model_dir: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Name a colour.\nName a fruit.\n")
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--student", str(tiny_model_dir), "--teacher", str(tiny_model_dir),
         "--prompts", str(prompts), "--max-new-tokens", "4", "--tasks", "", "--no-identity",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["fidelity"]["prompts"] == 2 and data["fidelity"]["agreement"] == 1.0
    missing = CliRunner().invoke(app, ["evaluate", "--student", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "neither the embedded teacher" in " ".join(missing.output.split())


def test_curve_trains_each_budget_and_plots(tiny_model_dir: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    settings = TrainSettings(
        student=str(tiny_model_dir), batch_size=2, max_steps=2, learning_rate=1e-3, progress=False
    )
    result = run_curve(
        [f"rand={tiny_dataset}"], [4, 8, 100], tmp_path / "curve", settings=settings,
        teacher=str(tiny_model_dir), prompts=str(_prompt_file(tmp_path)), n=3, max_new_tokens=4,
    )  # fmt: skip
    points = result["points"]
    assert [(p["strategy"], p["exchanges"]) for p in points] == [("untrained", 0), ("rand", 4), ("rand", 8)]
    assert points[0]["agreement"] == 1.0  # the untrained student *is* the teacher here
    assert points[2]["cost_usd"] == pytest.approx(0.008)
    assert (tmp_path / "curve" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "curve" / "curve.json").read_text())["points"] == json.loads(
        json.dumps(points)
    )
    # A second run reuses the trained students (resumable curve).
    stamp = (tmp_path / "curve" / "rand" / "n4" / "training.json").stat().st_mtime
    again = {
        "teacher": str(tiny_model_dir),
        "prompts": str(_prompt_file(tmp_path)),
        "n": 3,
        "max_new_tokens": 4,
    }
    run_curve(
        [f"rand={tiny_dataset}"], [4], tmp_path / "curve", settings=settings, include_untrained=False, **again
    )
    assert (tmp_path / "curve" / "rand" / "n4" / "training.json").stat().st_mtime == stamp
    # ... and its scores: curve_eval.json is read, not rewritten, when the same thing is measured.
    scored = tmp_path / "curve" / "rand" / "n4" / "curve_eval.json"
    assert json.loads(scored.read_text())["point"]["agreement"] == points[1]["agreement"]
    stamp = scored.stat().st_mtime_ns
    run_curve(
        [f"rand={tiny_dataset}"], [4], tmp_path / "curve", settings=settings, include_untrained=False, **again
    )
    assert scored.stat().st_mtime_ns == stamp
    # The untrained student's scores are cached too (curve/untrained/curve_eval.json).
    untrained_file = tmp_path / "curve" / "untrained" / "curve_eval.json"
    stamp = untrained_file.stat().st_mtime_ns
    again_result = run_curve([f"rand={tiny_dataset}"], [4], tmp_path / "curve", settings=settings, **again)
    assert again_result["points"][0] == points[0] and untrained_file.stat().st_mtime_ns == stamp
    info = json.loads((tmp_path / "curve" / "rand" / "n4" / "training.json").read_text())
    compute = info["compute"]
    assert compute["wall_seconds"] > 0 and compute["process_cpu_seconds"] > 0
    assert 0 < compute["thread_cpu_seconds"] <= compute["process_cpu_seconds"] + 0.01


def test_compare_arms_gives_exact_permutation_p_values() -> None:
    from distillscope.evaluate.curve import compare_arms, exact_permutation_p

    # 4 vs 4 runs fully separated: 2 of the 70 splits are as extreme (two-sided), p = 2/70.
    assert exact_permutation_p([0.5, 0.6, 0.7, 0.8], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(2 / 70)
    assert exact_permutation_p([0.1, 0.4, 0.5, 0.8], [0.2, 0.3, 0.6, 0.7]) == pytest.approx(1.0)
    points = [
        {"strategy": arm, "exchanges": 8, "agreement": a, "kl": k, "task_share": t}
        for arm, a, k, t in [
            ("d:sft", 0.2, 3.0, 0.1), ("d:sft", 0.3, 2.9, None), ("d:sft", 0.25, 3.1, 0.2),
            ("d:on-policy", 0.4, 2.0, 0.3), ("d:on-policy", 0.5, 2.1, 0.4), ("d:on-policy", 0.45, 1.9, 0.5),
            ("d:topk-kd", 0.1, 4.0, 0.0),  # one run: not compared
        ]
    ] + [{"strategy": "untrained", "exchanges": 0, "agreement": 0.0, "kl": 9.0}] * 2  # fmt: skip
    rows = compare_arms(points)
    assert len(rows) == 1 and rows[0]["arms"] == ["d:on-policy", "d:sft"] and rows[0]["runs"] == [3, 3]
    assert rows[0]["agreement"]["difference"] == pytest.approx(0.2)
    assert rows[0]["agreement"]["p_value"] == pytest.approx(2 / 20)  # 3 vs 3: 20 splits
    assert rows[0]["kl"]["difference"] == pytest.approx(-1.0)
    assert "task_share" not in rows[0]  # a run without it: no test on half the data


def _prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.txt"
    path.write_text("One?\nTwo?\nThree?\n")
    return path


def test_curve_seeds_redraw_random_arms_keep_active_order_and_summarize(
    tiny_model_dir: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    from distillscope.exchanges import load_dataset, prompt_messages

    active = tmp_path / "active"
    active.mkdir()
    (active / "exchanges.jsonl").write_text((tiny_dataset / "exchanges.jsonl").read_text())
    (active / "manifest.json").write_text(json.dumps({"strategy": "active"}))
    out = tmp_path / "curve"
    args = ["curve", str(tiny_dataset), str(active), "--out", str(out), "--budgets", "4", "--seeds", "0,1",
            "--teacher", str(tiny_model_dir), "--prompts", str(_prompt_file(tmp_path)), "--n", "3",
            "--max-new-tokens", "4", "--max-steps", "2", "--student", str(tiny_model_dir)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    data = json.loads((out / "curve.json").read_text())
    assert data["seeds"] == [0, 1]
    runs = [(p["strategy"], p["exchanges"], p["seed"]) for p in data["points"]]
    assert runs == [
        ("untrained", 0, None),
        ("random", 4, 0),
        ("random", 4, 1),
        ("active", 4, 0),
        ("active", 4, 1),
    ]

    def first_four(path: Path) -> set[str]:
        return {json.dumps(prompt_messages(e)) for e in load_dataset(path, limit=4).exchanges}

    # seed 1 of the random arm: a random draw of the same exchanges, trained with seed 1
    redrawn = out / "random" / "data-seed1"
    assert {json.dumps(prompt_messages(e)) for e in load_dataset(redrawn).exchanges} == {
        json.dumps(prompt_messages(e)) for e in load_dataset(tiny_dataset).exchanges
    }
    assert first_four(redrawn) != first_four(tiny_dataset)
    trained = json.loads((out / "random" / "n4-seed1" / "training.json").read_text())
    assert trained["hyperparameters"]["seed"] == 1 and trained["dataset"].startswith(str(redrawn))
    # the active arm keeps its selection order: only its training seed changes
    assert not (out / "active" / "data-seed1").exists()
    trained = json.loads((out / "active" / "n4-seed1" / "training.json").read_text())
    assert trained["hyperparameters"]["seed"] == 1 and trained["dataset"].startswith(str(active))
    summary = {(r["strategy"], r["exchanges"]): r for r in data["summary"]}
    random_row = summary[("random", 4)]
    values = [p["agreement"] for p in data["points"] if p["strategy"] == "random"]
    assert random_row["runs"] == 2 and random_row["agreement"]["mean"] == pytest.approx(sum(values) / 2)
    assert random_row["agreement"]["sd"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert summary[("untrained", 0)]["agreement"]["sd"] is None
    assert "mean ± sd" in result.output
    bad = CliRunner().invoke(app, [*args, "--seeds", "-1"])
    assert bad.exit_code == 2 and "seeds" in bad.output


def test_curve_compares_sft_topk_kd_and_on_policy_arms_per_dollar(
    tiny_model_dir: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "curve"
    args = ["curve", f"rand={tiny_dataset}", "--out", str(out), "--budgets", "4",
            "--methods", "sft,topk-kd,on-policy", "--teacher", str(tiny_model_dir),
            "--prompts", str(_prompt_file(tmp_path)), "--n", "3",
            "--max-new-tokens", "4", "--max-steps", "2", "--student", str(tiny_model_dir),
            "--sample-tokens", "4", "--tasks", "chain_sum:min_terms=2:max_terms=2:max_digits=1",
            "--task-size", "2", "--task-max-new-tokens", "4"]  # fmt: skip
    # A local teacher is free in the price table: equal dollars need a price for scoring calls.
    refused = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and "--price-model" in refused.output
    result = CliRunner().invoke(app, [*args, "--price-model", "gpt-4o-mini"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    data = json.loads((out / "curve.json").read_text())
    points = {p["strategy"]: p for p in data["points"]}
    assert set(points) == {"untrained", "rand:sft", "rand:topk-kd", "rand:on-policy"}
    for method in ("sft", "topk-kd", "on-policy"):
        assert points[f"rand:{method}"]["method"] == method
        info = json.loads((out / "rand" / method / "n4" / "training.json").read_text())
        assert info["hyperparameters"]["method"] == method
    # SFT and top-k KD paid for the same 4 answers ($0.001 each, their top_logprobs included);
    # the on-policy arm spent at most that on scoring its own samples.
    assert points["rand:sft"]["cost_usd"] == pytest.approx(0.004)
    assert points["rand:topk-kd"]["cost_usd"] == pytest.approx(0.004)
    kd = json.loads((out / "rand" / "topk-kd" / "n4" / "training.json").read_text())
    assert kd["exchanges"] == 4
    # a different loss on the same data: the two students differ (the arm really is top-k KD)
    from safetensors.torch import load_file

    sft_w, kd_w = (load_file(out / "rand" / m / "n4" / "model.safetensors") for m in ("sft", "topk-kd"))
    assert any(not torch.equal(sft_w[name], kd_w[name]) for name in sft_w)
    assert 0 < points["rand:on-policy"]["cost_usd"] <= 0.004
    info = json.loads((out / "rand" / "on-policy" / "n4" / "training.json").read_text())
    assert info["hyperparameters"]["max_cost"] == pytest.approx(0.004) and info["exchanges"] == 0
    assert info["scoring"]["calls"] == 2 * 8 and info["steps"] == 2
    # Retention: the teacher's accuracy is measured once; every point carries its share of it.
    retention = data["retention"]
    assert retention["tasks"] == ["chain_sum:min_terms=2:max_terms=2:max_digits=1"]
    assert 0.0 <= retention["teacher_accuracy"] <= 1.0
    for point in points.values():
        assert point["task_items"] == 2 and 0.0 <= point["task_accuracy"] <= 1.0
        expected = (
            point["task_accuracy"] / retention["teacher_accuracy"] if retention["teacher_accuracy"] else None
        )
        assert point["task_share"] == expected
    assert "task_share" in result.output


def test_curve_gkd_arm_splits_the_budget_between_half_the_answers_and_scoring(
    tiny_model_dir: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "curve"
    args = ["curve", f"rand={tiny_dataset}", "--out", str(out), "--budgets", "4", "--no-untrained",
            "--methods", "sft,gkd", "--teacher", str(tiny_model_dir),
            "--prompts", str(_prompt_file(tmp_path)), "--n", "3", "--max-new-tokens", "4",
            "--max-steps", "2", "--student", str(tiny_model_dir), "--sample-tokens", "4",
            "--price-model", "gpt-4o-mini"]  # fmt: skip
    refused = CliRunner().invoke(app, [*args, "--alpha", "1.0"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and "alpha" in refused.output
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    points = {p["strategy"]: p for p in json.loads((out / "curve.json").read_text())["points"]}
    assert set(points) == {"rand:sft", "rand:gkd"} and points["rand:gkd"]["method"] == "gkd"
    info = json.loads((out / "rand" / "gkd" / "n4" / "training.json").read_text())
    # Equal dollars: the SFT arm's 4 answers ($0.004); gkd bought 2 of them and scored with the rest.
    assert info["hyperparameters"]["max_cost"] == pytest.approx(0.004)
    assert info["hyperparameters"]["alpha"] == 0.5 and info["hyperparameters"]["sft_answers"] == 2
    assert info["exchanges"] == 2 and info["prompts"] == 4
    assert info["cost_breakdown"]["teacher_answers_usd"] == pytest.approx(0.002)
    assert info["scoring"]["calls"] > 0 and 0.002 < points["rand:gkd"]["cost_usd"] <= 0.004


def test_curve_warm_gkd_arm_warms_up_on_half_the_answers_then_scores_and_replays(
    tiny_model_dir: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "curve"
    args = ["curve", f"rand={tiny_dataset}", "--out", str(out), "--budgets", "4", "--no-untrained",
            "--methods", "warm-gkd", "--teacher", str(tiny_model_dir),
            "--prompts", str(_prompt_file(tmp_path)), "--n", "3", "--max-new-tokens", "4",
            "--max-steps", "6", "--batch-size", "2", "--student", str(tiny_model_dir),
            "--sample-tokens", "4", "--price-model", "gpt-4o-mini", "--divergence", "forward-kl"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    points = json.loads((out / "curve.json").read_text())["points"]
    assert [p["strategy"] for p in points] == ["rand:warm-gkd"] and points[0]["method"] == "warm-gkd"
    info = json.loads((out / "rand" / "warm-gkd" / "n4" / "training.json").read_text())
    hyper = info["hyperparameters"]
    # Equal dollars ($0.004, the 4 answers); 2 answers bought, 2 epochs over them alone first
    # (2 x 2 answers / batch 2 = 2 steps), then each paid scored batch trained on twice.
    assert hyper["max_cost"] == pytest.approx(0.004) and hyper["sft_answers"] == 2
    assert hyper["sft_warmup_steps"] == 2 and hyper["score_epochs"] == 2
    assert hyper["divergence"] == "forward-kl"
    assert info["on_policy"]["warmup_sft_batches"] == 2 and info["steps"] == 6
    assert info["scoring"]["calls"] > 0 and 0.002 < points[0]["cost_usd"] <= 0.004
