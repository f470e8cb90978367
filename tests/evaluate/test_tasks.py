"""Answer extraction and task accuracy with reasoning-gym's own scorers."""

from __future__ import annotations

import pytest

from distillscope.evaluate.tasks import extract_answer, task_accuracy, task_items


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("Let me think. 3 + 4 = 7.\nAnswer: 7", "7", "7"),
        ("The answer is: 1,234 apples.", "1234", "1234"),
        ("so we get \\boxed{42} in the end", "42", "42"),
        ("Work...\n#### 288", "288", "288"),
        ("First 12, then 15, so 20 in total", "20", "20"),
        ("Answer: apple, banana, cherry.", "apple, banana, cherry", "apple, banana, cherry"),
        ("no number here\nlast line", "x", "last line"),
        ("", "1", ""),
    ],
)
def test_extract_answer(text: str, reference: str, expected: str) -> None:
    assert extract_answer(text, reference) == expected


def test_task_accuracy_uses_the_datasets_own_scorer() -> None:
    items = task_items(["basic_arithmetic"], size=4, seed=5)
    right = task_accuracy(lambda convs: [f"Answer: {item['answer']}" for _, _, item in items], items)
    wrong = task_accuracy(lambda convs: ["Answer: banana"] * len(convs), items)
    assert right["accuracy"] == 1.0 and right["items"] == 4
    assert wrong["accuracy"] == 0.0
    assert set(right["per_task"]) == {"basic_arithmetic"}


def test_task_specs_carry_generator_settings() -> None:
    from distillscope.evaluate.tasks import parse_task, task_items

    assert parse_task("chain_sum:min_terms=2:max_digits=1") == (
        "chain_sum",
        {"min_terms": 2, "max_digits": 1},
    )
    assert parse_task("basic_arithmetic:operators=+-") == ("basic_arithmetic", {"operators": "+-"})
    with pytest.raises(ValueError, match="key=value"):
        parse_task("chain_sum:max_digits")
    items = task_items(["chain_sum:min_terms=2:max_terms=2:max_digits=1"], 5, 1)
    assert all(item["question"].count("+") + item["question"].count("-") == 1 for _, _, item in items)
    assert all(abs(int(item["answer"])) < 20 for _, _, item in items)


def test_eval_settings_read_tasks_from_a_comma_list_and_refuse_unknown_overrides(tiny_model_dir) -> None:
    from distillscope.evaluate import EvalSettings, evaluate_student

    assert EvalSettings(tasks="a, b,,c").tasks == ("a", "b", "c")
    assert EvalSettings(tasks="").tasks == ()
    with pytest.raises(ValueError, match="n must be >= 1"):
        EvalSettings(n=0)
    with pytest.raises(TypeError):
        evaluate_student(tiny_model_dir, EvalSettings(), no_such_setting=1)
