"""`distillscope harvest` on the command line: clear errors, dry runs, a real run."""

from __future__ import annotations

import json
from pathlib import Path

from harvest_helpers import write_prompts
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.testing.wire_server import Faults, WireServer

runner = CliRunner()


def test_malformed_prompts_file_is_refused_with_line_numbers(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "good"}\n{"prompt": 3}\nnot json\n')
    result = runner.invoke(app, ["harvest", str(tmp_path / "out"), "--prompts", str(prompts), "--dry-run"])
    assert result.exit_code == 2
    assert "p.jsonl:2" in result.output and "p.jsonl:3" in result.output
    assert "Traceback" not in result.output


def test_exactly_one_strategy_is_required(tmp_path: Path) -> None:
    result = runner.invoke(app, ["harvest", str(tmp_path / "out"), "--random-words", "3", "--task", "x"])
    assert result.exit_code == 2 and "exactly one query strategy" in result.output
    result = runner.invoke(app, ["harvest", str(tmp_path / "out"), "--teacher", "local"])
    assert result.exit_code == 2 and "got none" in result.output


def test_invalid_settings_are_named(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["harvest", str(tmp_path / "o"), "--random-words", "2", "--top-logprobs", "50", "--dry-run"]
    )
    assert result.exit_code == 2 and "top_logprobs" in result.output


def test_dry_run_prints_estimate_and_sends_nothing(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 25)
    with WireServer(Faults()) as server:
        result = runner.invoke(
            app,
            [
                "harvest", str(tmp_path / "out"), "--teacher", server.base_url, "--model", "gpt-4o",
                "--prompts", str(prompts), "--dry-run", "--max-cost", "0.01", "--max-new-tokens", "100",
            ],
        )  # fmt: skip
        assert server.stats()["requests"] == 0
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout[result.stdout.index("{") :])
    assert estimate["to_send"] == 25 and estimate["completion_tokens_max"] == 2500
    assert estimate["cost_worst_usd"] > 0.025  # 2500 output tokens at $10/M alone
    assert estimate["within_budget"] < 25
    assert "No terms of use were stated" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_run_writes_dataset_and_manifest(tmp_path: Path) -> None:
    prompts = write_prompts(tmp_path / "p.jsonl", 6)
    out = tmp_path / "out"
    with WireServer(Faults()) as server:
        result = runner.invoke(
            app,
            [
                "harvest", str(out), "--teacher", server.base_url, "--model", "gpt-4o-mini",
                "--prompts", str(prompts), "--no-progress", "--terms", "own server",
                "--max-requests", "4", "--max-new-tokens", "8",
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "budget_exhausted" and manifest["totals"]["exchanges"] == 4
    assert manifest["terms"] == "own server" and manifest["budget"]["max_requests"] == 4
    names = {p.name for p in out.iterdir()}
    expected = {"cache.sqlite", "exchanges.jsonl", "exchanges.parquet", "failures.jsonl", "manifest.json"}
    assert expected <= names
    assert not any(name.endswith(".tmp") for name in names)  # atomic writes leave no temporary files


def test_active_pool_harvests_in_rounds_and_replays_them(tmp_path: Path, tiny_model_dir: Path) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(f"Explain topic number {i} in one line." for i in range(6)) + "\n")
    out = tmp_path / "out"
    args = ["harvest", str(out), "--teacher", "local", "--model", str(tiny_model_dir)]
    args += ["--active-pool", str(pool), "--round-size", "2", "--rounds", "2", "--max-new-tokens", "4"]
    args += ["--no-progress", "--terms", "test"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "exchanges.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and len({r["messages"][-1]["content"] for r in rows}) == 4
    assert all(r["provenance"]["strategy"] == "active" for r in rows)
    rounds = json.loads((out / "active-rounds.json").read_text())
    assert len(rounds["rounds"]) == 2
    # A second run replays the saved rounds: same prompts, all from the cache.
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    rows_again = [json.loads(line) for line in (out / "exchanges.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows_again) == sorted(r["id"] for r in rows)
