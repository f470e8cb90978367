"""Malformed, empty or unusable datasets fail early with a clear message (API and CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.exchanges import DatasetError, load_dataset
from distillscope.train.data import build_examples


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "exchanges.jsonl"
    path.write_text("")
    with pytest.raises(DatasetError, match="holds no exchanges"):
        load_dataset(path)


def test_malformed_line_names_its_line_number(tmp_path: Path, dataset_file: Path) -> None:
    lines = dataset_file.read_text().splitlines()
    lines.insert(2, '{"id": "x", "ts": 1, oops')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"bad.jsonl:3: invalid JSON"):
        load_dataset(bad)


def test_wrong_keys_and_missing_paths(tmp_path: Path) -> None:
    bad = tmp_path / "keys.jsonl"
    bad.write_text(json.dumps({"id": "a", "ts": 1.0, "account": "x", "text": "no messages"}) + "\n")
    with pytest.raises(DatasetError, match="messages"):
        load_dataset(bad)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.jsonl")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DatasetError, match="no exchanges.parquet or exchanges.jsonl"):
        load_dataset(tmp_path / "emptydir")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="expected a harvest directory"):
        load_dataset(tmp_path / "data.csv")


def test_only_failed_exchanges_is_an_error(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "ts": 1.0, "account": "h", "messages": [{"role": "user", "content": "q"}], "status": 429},
        {"id": "b", "ts": 2.0, "account": "h", "messages": [{"role": "user", "content": "q"}]},
    ]
    path = tmp_path / "failed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DatasetError, match="none of its 2 exchanges has an answer"):
        load_dataset(path)


def test_directory_parquet_and_order_by_time(tmp_path: Path, dataset_file: Path) -> None:
    from distillscope.records import read_exchanges, write_parquet

    records = read_exchanges(dataset_file)
    write_parquet(list(reversed(records)), tmp_path / "exchanges.parquet")
    (tmp_path / "manifest.json").write_text('{"terms": "ok"}')
    data = load_dataset(tmp_path, limit=5)
    assert [e.id for e in data.exchanges] == [f"ex{i}" for i in range(5)]
    assert data.manifest == {"terms": "ok"}
    assert data.cost_usd == pytest.approx(0.005)


def test_topk_kd_without_logprobs_is_an_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    row = {"id": "a", "ts": 1.0, "account": "h", "messages": [{"role": "user", "content": "q"}]}
    row["response_text"] = "an answer"
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps(row) + "\n")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    examples, _ = build_examples(load_dataset(path), tokenizer, 64, with_kd=False)
    assert len(examples) == 1
    with pytest.raises(DatasetError, match="top_logprobs"):
        build_examples(load_dataset(path), tokenizer, 64, with_kd=True)


def test_examples_mask_the_prompt_and_carry_kd_targets(dataset_file: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    examples, stats = build_examples(load_dataset(dataset_file), tokenizer, 256, with_kd=True)
    example = examples[0]
    answer = tokenizer.encode("The answer is 42.", add_special_tokens=False) + [tokenizer.eos_token_id]
    completion = [t for t in example.labels if t != -100]
    assert completion == answer
    assert example.input_ids[-len(answer) :] == answer
    # Targets sit at the position before each answer token (next-token prediction), EOS has none.
    first = len(example.input_ids) - len(answer)
    assert [p for p, _, _ in example.kd] == list(range(first - 1, first - 1 + len(answer) - 1))
    assert stats["kd_positions"] == sum(len(e.kd) for e in examples)


def test_cli_reports_dataset_errors_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "exchanges.jsonl"
    path.write_text("not json\n")
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "invalid JSON" in output and "Traceback" not in output
