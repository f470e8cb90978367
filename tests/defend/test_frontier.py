"""`distillscope defend evaluate` on a tiny config-built teacher: real servers, real training, resumable.

The tiny teacher (2 random layers, SmolLM2's tokenizer) is served with each
countermeasure by the real loopback server; 1-layer students are trained on its
answers. The numbers mean nothing; the tests check what the command computes,
writes, skips on a rerun and refuses.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.defend.frontier import _paired_cost, best_response, summarise_utility
from distillscope.defend.settings import FrontierSettings, parse_condition

runner = CliRunner()


def _args(tiny_model_dir, out, **extra) -> list[str]:
    options = {
        "--out": str(out),
        "--teacher": str(tiny_model_dir),
        "--conditions": "watermark-6,noise-1",
        "--seeds": "0,1",
        "--n": "4",
        "--eval-n": "2",
        "--max-tokens": "4",
        "--student-layers": "first:1",
        "--epochs": "1",
        "--batch-size": "2",
        "--antidistill-proxy": "first:1",
        **extra,
    }
    return ["defend", "evaluate", *[x for kv in options.items() for x in kv]]


@pytest.fixture(scope="module")
def frontier(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("frontier")
    result = runner.invoke(app, _args(tiny_model_dir, out))
    assert result.exit_code == 0, result.output
    # progress: one line per step when the output is not a terminal
    assert "reference: teacher answers and their utility" in result.output
    assert "watermark-6: student by sft, seed 1" in result.output
    return out, json.loads((out / "frontier.json").read_text())


def test_evaluate_writes_a_row_per_condition_and_method_over_every_seed(frontier):
    out, result = frontier
    assert result["format"] == "distillscope.frontier/1"
    rows = {(r["condition"], r["method"]): r for r in result["rows"]}
    # the reference by both methods, the watermark (text changed) by SFT, log-prob noise by top-k KD
    assert set(rows) == {
        ("reference", "sft"),
        ("reference", "topk-kd"),
        ("watermark-6", "sft"),
        ("noise-1", "topk-kd"),
    }
    for row in rows.values():
        assert row["seeds"] == [0, 1]
        assert len(row["student_agreement"]["runs"]) == 2 and row["student_agreement"]["sd"] is not None
        assert 0 <= row["teacher"]["task_accuracy"] <= 1 and row["teacher"]["items"] == 4
    for method in ("sft", "topk-kd"):
        assert (
            rows[("reference", method)]["gain_cut"] is None
            or rows[("reference", method)]["gain_cut"]["mean"] == 0
        )
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "frontier.md").read_text()
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + 4  # header + 4 rows


def test_logprob_noise_leaves_the_text_and_its_utility_alone_and_the_watermark_changes_them(frontier):
    out, result = frontier
    answers = {
        n: json.loads((out / "answers" / f"{n}.json").read_text())
        for n in ("reference", "noise-1", "watermark-6")
    }
    assert [a["text"] for a in answers["noise-1"]] == [a["text"] for a in answers["reference"]]
    noisy = [t["logprob"] for a in answers["noise-1"] for e in a["logprobs"] for t in e["top_logprobs"]]
    plain = [t["logprob"] for a in answers["reference"] for e in a["logprobs"] for t in e["top_logprobs"]]
    assert noisy != plain  # what the student is trained on did change
    assert [a["text"] for a in answers["watermark-6"]] != [a["text"] for a in answers["reference"]]
    rows = {(r["condition"], r["method"]): r for r in result["rows"]}
    assert rows[("noise-1", "topk-kd")]["teacher_accuracy_cost_points"] == 0
    assert (
        rows[("noise-1", "topk-kd")]["teacher"]["perplexity"]
        == rows[("reference", "sft")]["teacher"]["perplexity"]
    )
    assert (
        rows[("watermark-6", "sft")]["teacher"]["perplexity"]
        != rows[("reference", "sft")]["teacher"]["perplexity"]
    )
    # the distiller's best answer to a log-prob defence includes SFT on the unchanged text
    best = {b["condition"]: b for b in result["best_response"]}
    assert best["noise-1"]["best_gain"] >= max(
        rows[("reference", "sft")]["fidelity_gain"]["mean"],
        rows[("noise-1", "topk-kd")]["fidelity_gain"]["mean"],
    )


def test_a_rerun_computes_only_what_is_missing(frontier, tiny_model_dir):
    out, _ = frontier
    scores = sorted((out / "scores").glob("*.json"))
    before = {p.name: p.stat().st_mtime_ns for p in scores}
    lost = out / "scores" / "watermark-6-sft-s1.json"
    lost.unlink()  # as if the run had been killed while training this student
    result = runner.invoke(app, _args(tiny_model_dir, out, **{"--seeds": "0,1,2"}))
    assert result.exit_code == 0, result.output
    after = {p.name: p.stat().st_mtime_ns for p in (out / "scores").glob("*.json")}
    unchanged = {n for n in before if n != lost.name}
    assert all(after[n] == before[n] for n in unchanged)  # nothing done twice
    assert lost.exists()
    assert {n.removesuffix("-s2.json") for n in after if n.endswith("-s2.json")} == {
        "reference-sft", "reference-topk-kd", "watermark-6-sft", "noise-1-topk-kd"
    }  # fmt: skip
    assert not any((out / "students").iterdir())  # students deleted once scored (--no-keep-students)
    rows = json.loads((out / "frontier.json").read_text())["rows"]
    assert all(r["seeds"] == [0, 1, 2] for r in rows)


def test_report_only_rebuilds_from_the_cache_without_computing(frontier, tiny_model_dir, tmp_path):
    out, _ = frontier
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "frontier.json"}
    result = runner.invoke(app, [*_args(tiny_model_dir, out), "--report-only", "--report-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    rebuilt = json.loads((tmp_path / "frontier.json").read_text())
    assert rebuilt["rows"] == json.loads((out / "frontier.json").read_text())["rows"]
    assert "| watermark-6 | sft |" in result.output


def test_another_experiment_in_the_same_directory_is_refused(frontier, tiny_model_dir):
    out, _ = frontier
    before = (out / "settings.json").read_text()
    result = runner.invoke(app, _args(tiny_model_dir, out, **{"--n": "5"}))
    assert result.exit_code == 2
    assert "holds another experiment" in result.output and "n: 4 there, 5 asked" in result.output
    assert (out / "settings.json").read_text() == before


def test_bad_conditions_and_seeds_get_clear_errors(tiny_model_dir, tmp_path):
    for extra, message in (
        ({"--conditions": "watermark-x"}, "'x' is not a valid float"),
        ({"--conditions": "paraphrase-1"}, "unknown condition part 'paraphrase-1'"),
        ({"--conditions": "noise-0"}, "must be > 0"),
        ({"--seeds": "a,b"}, "--seeds must be integers"),
    ):
        result = runner.invoke(app, _args(tiny_model_dir, tmp_path / "x", **extra))
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "x").exists()  # refused before anything is written


def test_condition_grammar():
    assert parse_condition("reference").methods == ("sft", "topk-kd")
    wm = parse_condition("watermark-2.5")
    assert (wm.kind, wm.options, wm.methods) == ("watermark", {"watermark_delta": 2.5}, ("sft",))
    lp = parse_condition("maxtop-1+hidetail")
    assert (lp.kind, lp.options, lp.methods) == (
        "logprobs", {"logprob_max_top": 1, "logprob_hide_tail": True}, ("topk-kd",)
    )  # fmt: skip
    both = parse_condition("antidistill-1+round-0")
    assert both.kind == "combined" and both.methods == ("sft", "topk-kd")
    assert both.options == {"antidistill_lambda": 1.0, "logprob_round": 0}
    settings = FrontierSettings(out="x", conditions="noise-1,reference,noise-1", seeds="2,0")
    assert [c.name for c in settings.condition_list] == ["reference", "noise-1"]
    assert settings.seed_list == [2, 0]


def test_paired_cost_and_bootstrap_errors():
    ref = [{"score": 1.0, "nll": 1.0, "agree": 1, "tokens": 2}] * 3 + [
        {"score": 0.0, "nll": 2.0, "agree": 0, "tokens": 2}
    ]
    same = _paired_cost(ref, ref)
    assert same == {"mean": 0.0, "se": 0.0}
    worse = _paired_cost(ref, [dict(r, score=0.0) for r in ref])
    assert worse["mean"] == pytest.approx(75.0) and worse["se"] > 0
    summary = summarise_utility(ref)
    assert summary["task_accuracy"] == 0.75 and summary["tokens"] == 8
    assert 0 < summary["task_accuracy_se"] < 0.5
    assert summary["agreement_with_undefended"] == pytest.approx(3 / 8)


def test_best_response_takes_the_reference_sft_gain_for_unchanged_text():
    def row(condition, kind, method, gain):
        return {"condition": condition, "kind": kind, "method": method, "fidelity_gain": {"mean": gain}}

    rows = [
        row("reference", "reference", "sft", 0.8),
        row("reference", "reference", "topk-kd", 0.7),
        row("noise-4", "logprobs", "topk-kd", 0.1),
        row("watermark-4", "watermark", "sft", 0.2),
    ]
    rows[2]["teacher_accuracy_cost_relative"] = 0.0
    rows[3]["teacher_accuracy_cost_relative"] = 0.04
    best = {b["condition"]: b for b in best_response(rows)}
    assert best["noise-4"]["best_method"] == "sft" and best["noise-4"]["gain_cut"] == pytest.approx(0.0)
    assert not best["noise-4"]["meets_goal"]  # the top-k KD student lost 7/8 of its gain, SFT nothing
    assert best["watermark-4"]["gain_cut"] == pytest.approx(0.75) and best["watermark-4"]["meets_goal"]
    rows[3]["teacher_accuracy_cost_relative"] = 0.06
    assert not {b["condition"]: b for b in best_response(rows)}["watermark-4"]["meets_goal"]


def test_a_condition_without_students_yet_shows_its_teacher(frontier, tiny_model_dir, tmp_path):
    import shutil

    out, _ = frontier
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for path in (copy / "scores").glob("watermark-6-*.json"):
        path.unlink()
    result = runner.invoke(app, [*_args(tiny_model_dir, copy), "--report-only"])
    assert result.exit_code == 0, result.output
    rows = json.loads((copy / "frontier.json").read_text())["rows"]
    row = next(r for r in rows if (r["condition"], r["method"]) == ("watermark-6", "sft"))
    assert row["seeds"] == [] and row["student_agreement"] is None and row["gain_cut"] is None
    assert row["teacher"]["items"] == 4 and row["teacher_accuracy_cost_points"] is not None
