"""The radioactivity-scenarios table the demo's report shows: read from bench/radioactivity.py's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from distillscope.demo.radioactivity_table import (
    DEFAULT_EVIDENCE,
    ScenariosUnavailable,
    read_scenarios,
    scenarios_section,
)
from distillscope.report.schema import parse_report


def _result(name: str, harvesters: dict[str, float], named: list[str], **extra: object) -> dict[str, object]:
    """A bench result in the layout of docs/evidence/watermark/radioactivity-<name>.json."""
    return {
        "scenario": name,
        "harvest": {"delta": 4.0, "answers": 16, "tokens": 724},
        "training": {"examples": 16, "answer_tokens": 724, "layers": "spread:30"},
        "suspect": {
            "summary": {
                "harvesters": {
                    a: {"p": p, "p_adjusted": min(1.0, 5 * p), "scored": 470, "green_fraction": 0.4}
                    for a, p in harvesters.items()
                },
                "bystanders_min_p": 0.2,
                "controls": 20,
                "controls_min_p": 0.04,
                "controls_below_0.05": 1,
                "named": named,
            }
        },
        "untrained": {"summary": {"harvesters": {a: {"p": 0.5} for a in harvesters}}},
        **extra,
    }


def test_reads_the_bench_result_files(tmp_path: Path) -> None:
    (tmp_path / "radioactivity-pure.json").write_text(
        json.dumps(_result("pure", {"attacker-1": 1e-20, "attacker-2": 1e-18}, ["attacker-1", "attacker-2"]))
    )
    mix = {"share": 0.1, "marked": 16, "filler": 144}
    (tmp_path / "radioactivity-mixed10.json").write_text(
        json.dumps(_result("mixed10", {"attacker-1": 1e-5, "attacker-2": 0.2}, ["attacker-1"], mix=mix))
    )
    (tmp_path / "radioactivity-clean.json").write_text(
        json.dumps(_result("clean", {"attacker-1": 0.7, "attacker-2": 0.3}, []))
    )
    section = read_scenarios(tmp_path)
    rows = {r["scenario"]: r for r in section["scenarios"]}
    assert [r["scenario"] for r in section["scenarios"]] == ["pure", "clean", "mixed10"]  # the bench's order
    assert rows["pure"]["verdict"] == "detected: every harvesting key named" and rows["pure"]["share"] == 1.0
    assert rows["mixed10"]["share"] == 0.1 and rows["mixed10"]["named"] == 1
    assert rows["mixed10"]["verdict"] == "partly detected: 1 of 2 harvesting keys named"
    assert rows["clean"]["verdict"] == "negative control: nothing named" and rows["clean"]["share"] == 0.0
    assert rows["clean"]["controls"] == {"count": 20, "min_p": 0.04, "below_0.05": 1}
    assert rows["pure"]["harvesters"][0] == {
        "name": "attacker-1", "p": 1e-20, "p_adjusted": 5e-20, "scored": 470, "green_fraction": 0.4
    }  # fmt: skip
    assert rows["pure"]["reproduce"].endswith("bench/radioactivity.py --scenario pure")
    assert rows["pure"]["untrained_min_p"] == 0.5
    assert parse_report({"schema_version": 1, "scenarios": section}).sections["scenarios"].measured


def test_a_scenarios_json_wins_over_the_result_files(tmp_path: Path) -> None:
    (tmp_path / "radioactivity-pure.json").write_text(json.dumps(_result("pure", {"a": 1e-9}, ["a"])))
    rows = [
        {"scenario": "mixed5", "share": 0.05, "delta": 4, "student": "spread:30",
         "harvesting_keys": {"attacker-1": {"p": 2e-8, "p_adjusted": 8e-8}, "attacker-2": 0.3},
         "controls": {"count": 20, "min_p": 0.06, "below_0.05": 0},
         "verdict": "partly detected", "reproduce": "python bench/radioactivity.py --scenario mixed5"},
    ]  # fmt: skip
    (tmp_path / "scenarios.json").write_text(json.dumps({"machine": "2 cores", "scenarios": rows}))
    section = read_scenarios(tmp_path)
    assert section["machine"] == "2 cores" and section["source"].endswith("scenarios.json")
    (row,) = section["scenarios"]
    assert row["scenario"] == "mixed5" and row["share"] == 0.05 and row["verdict"] == "partly detected"
    assert [(k["name"], k["p"]) for k in row["harvesters"]] == [("attacker-1", 2e-8), ("attacker-2", 0.3)]
    assert row["named"] == 1  # counted from the adjusted p-values when the file does not say
    assert row["reproduce"] == "python bench/radioactivity.py --scenario mixed5"
    assert parse_report({"schema_version": 1, "scenarios": section}).sections["scenarios"].measured
    assert row["outcome"] == "some"
    # The file alone works too, and a bare list of rows.
    (tmp_path / "only.json").write_text(json.dumps(rows))
    assert read_scenarios(tmp_path / "only.json")["scenarios"][0]["scenario"] == "mixed5"


def test_missing_or_broken_files_are_not_measured_with_the_reason(tmp_path: Path) -> None:
    assert "no scenario results in" in scenarios_section(tmp_path)["not_measured"]
    assert "no scenario file at" in scenarios_section(tmp_path / "nope.json")["not_measured"]
    (tmp_path / "scenarios.json").write_text("{not json")
    assert "is not readable JSON" in scenarios_section(tmp_path)["not_measured"]
    (tmp_path / "scenarios.json").write_text(json.dumps({"scenarios": [{"share": 1}]}))
    with pytest.raises(ScenariosUnavailable, match="row 0 names no scenario"):
        read_scenarios(tmp_path)
    (tmp_path / "scenarios.json").unlink()
    (tmp_path / "radioactivity-x.json").write_text(json.dumps({"scenario": "x"}))
    assert "is not a bench/radioactivity.py result" in scenarios_section(tmp_path)["not_measured"]


@pytest.mark.skipif(not any(DEFAULT_EVIDENCE.glob("radioactivity-*.json")), reason="no evidence files")
def test_the_repository_evidence_reads_and_validates(tmp_path: Path) -> None:
    for file in DEFAULT_EVIDENCE.glob("radioactivity-*.json"):
        shutil.copy(file, tmp_path / file.name)  # the result files alone, whatever else is there
    section = read_scenarios(tmp_path)
    assert (
        section["scenarios"]
        and parse_report({"schema_version": 1, "scenarios": section}).sections["scenarios"].measured
    )
    names = {r["scenario"] for r in section["scenarios"]}
    if "clean" in names:
        clean = next(r for r in section["scenarios"] if r["scenario"] == "clean")
        assert clean["verdict"].startswith("negative control")


def test_reads_the_bench_scenarios_format(tmp_path: Path) -> None:
    """``distillscope.radioactivity-scenarios/1``: what bench/radioactivity.py writes to scenarios.json."""
    rows = [
        {"scenario": "paraphrase", "description": "rewritten", "negative_control": False, "share": 1.0,
         "delta": 4.0, "student": {"layers": "spread:30", "answer_tokens": 779}, "reading": "own texts",
         "harvesters": [{"account": "attacker-1", "p": 2.7e-4, "p_holm": 1.4e-3, "pairs": 289, "green": 0.33},
                        {"account": "attacker-2", "p": 2e-10, "p_holm": 1e-9, "pairs": 273, "green": 0.4}],
         "named": ["attacker-2"], "pooled": None, "bystanders_min_p": 0.2,
         "controls": {"tests": 100, "min_p": 0.034, "below_0.05": 1, "min_p_holm": 1.0},
         "untrained_min_p": 0.2, "black_box": None, "verdict": "1 of 2 harvesting accounts named",
         "command": "PYTHONPATH=$PWD .venv/bin/python bench/radioactivity.py --scenario paraphrase",
         "evidence": "docs/evidence/watermark/radioactivity-paraphrase.json"},
        {"scenario": "spread", "negative_control": False, "share": 1.0, "delta": 4.0,
         "student": {"layers": "spread:30"},
         "harvesters": [{"account": f"s{i}", "p": 0.2} for i in range(16)],
         "named": [], "pooled": {"p": 1e-59, "pairs": 558, "untrained_p": 0.81},
         "controls": {"tests": 20, "min_p": 0.03, "below_0.05": 1}, "verdict": "model named (pooled test)"},
        {"scenario": "clean", "negative_control": True, "share": 0.0,
         "harvesters": [{"account": "a", "p": 0.7}],
         "named": [], "controls": {"tests": 100, "min_p": 0.03, "below_0.05": 2}, "verdict": "not named"},
    ]  # fmt: skip
    (tmp_path / "scenarios.json").write_text(
        json.dumps(
            {
                "format": "distillscope.radioactivity-scenarios/1",
                "alpha": 0.001,
                "teacher": "SmolLM2-135M-Instruct",
                "scenarios": rows,
            }
        )  # fmt: skip
    )
    section = read_scenarios(tmp_path)
    assert section["alpha"] == 0.001 and section["teacher"] == "SmolLM2-135M-Instruct"
    got = {r["scenario"]: r for r in section["scenarios"]}
    para = got["paraphrase"]
    assert (
        para["student"] == "spread:30" and para["training_tokens"] == 779 and para["reading"] == "own texts"
    )
    assert para["harvesters"][1] == {
        "name": "attacker-2", "p": 2e-10, "p_adjusted": 1e-9, "scored": 273, "green_fraction": 0.4
    }  # fmt: skip
    assert (
        para["named"] == 1
        and para["outcome"] == "some"
        and para["verdict"] == "1 of 2 harvesting accounts named"
    )
    assert para["controls"] == {"count": 100, "min_p": 0.034, "below_0.05": 1}
    assert para["reproduce"].endswith("--scenario paraphrase")
    assert para["source"] == "docs/evidence/watermark/radioactivity-paraphrase.json"
    assert got["spread"]["outcome"] == "pooled" and got["spread"]["pooled_p"] == 1e-59
    assert got["spread"]["untrained_min_p"] == 0.81
    assert got["clean"]["outcome"] == "quiet"
    assert [r["scenario"] for r in section["scenarios"]] == ["clean", "paraphrase", "spread"]
    assert parse_report({"schema_version": 1, "scenarios": section}).sections["scenarios"].measured
