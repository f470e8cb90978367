"""The demo's frontier section: the evaluated frontier file read as it is, labelled, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillscope.demo.frontier import DEFAULT_FRONTIER, FrontierUnavailable, read_frontier

NEW_FORMAT_ROW = {
    "condition": "watermark-4",
    "kind": "watermark",
    "strength": {"watermark_delta": 4.0},
    "method": "sft",
    "seeds": [0, 1, 2],
    "teacher": {"task_accuracy": 0.15, "items": 64},
    "teacher_accuracy_cost_points": 10.9,
    "teacher_accuracy_cost_se": 3.8,
    "student_agreement": {"mean": 0.04, "sd": 0.01, "runs": [0.03, 0.04, 0.05]},
    "fidelity_gain": {"mean": 0.04, "sd": 0.01, "runs": [0.03, 0.04, 0.05]},
    "gain_cut": {"mean": 0.95, "sd": 0.02, "runs": [0.93, 0.95, 0.97]},
    "meets_goal": False,
}


def test_the_repositorys_frontier_is_read_with_where_it_was_measured() -> None:
    if not DEFAULT_FRONTIER.exists():
        pytest.skip("no frontier evidence in this checkout")
    raw = json.loads(DEFAULT_FRONTIER.read_text(encoding="utf-8"))
    section = read_frontier()
    assert section["source"] == "docs/evidence/defend/frontier.json"
    assert section["machine"] == raw["machine"] and section["task"] == raw["task"]
    assert len(section["rows"]) == len(raw["rows"])
    for row, source in zip(section["rows"], raw["rows"], strict=True):  # numbers as the file has them
        assert row["condition"] == source["condition"] and row["method"] == source["method"]
        assert row["teacher_cost_points"] == source["teacher_accuracy_cost_points"]
        assert row["gain_cut"] == (source["gain_cut"] or {}).get("mean")  # None: no student trained yet
        assert row["seeds"] == len(source["seeds"])


def test_the_defend_evaluate_format_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "frontier.json"
    goal = {"gain_cut": 0.5, "max_relative_accuracy_cost": 0.05, "met_by": []}
    data = {"format": "distillscope.frontier/1", "machine": "box", "rows": [NEW_FORMAT_ROW], "goal": goal,
            "reference_teacher": {"task_accuracy": 0.26}}  # fmt: skip
    path.write_text(json.dumps(data), encoding="utf-8")
    section = read_frontier(path)
    assert (
        section["measured_by"] == "distillscope defend evaluate"
        and section["format"] == "distillscope.frontier/1"
    )
    [row] = section["rows"]
    assert row == {
        "condition": "watermark-4", "kind": "watermark", "method": "sft", "seeds": 3,
        "teacher_cost_points": 10.9, "teacher_cost_se": 3.8, "teacher_accuracy": 0.15,
        "student_agreement": 0.04, "fidelity_gain": 0.04, "gain_cut": 0.95, "gain_cut_sd": 0.02,
        "meets_goal": False,
    }  # fmt: skip
    assert section["goal"] == goal and section["reference_teacher_accuracy"] == 0.26


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no frontier file at"),
        ("{not json", "is not readable JSON"),
        (json.dumps({"rows": []}), "holds no frontier rows"),
        (json.dumps([1, 2]), "holds no frontier rows"),
        (json.dumps({"rows": [{"condition": "x"}]}), "rows[0] has no condition or method"),
    ],
)
def test_an_unusable_frontier_file_says_why(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "frontier.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(FrontierUnavailable, match=message.replace("[", r"\[")):
        read_frontier(path)
