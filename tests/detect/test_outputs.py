"""Output files in DESIGN.md's exact schema, empty logs, the CLI, and reading from the guard's database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.detect import run_detection

from .helpers import T0, ex, write_log

runner = CliRunner()


def _text(result: Any) -> str:
    """CLI output with rich's line wrapping undone."""
    return "".join(result.output.split())


def _has(result: Any, phrase: str) -> bool:
    return "".join(phrase.split()) in _text(result)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_output_schema_is_exact(standard_sim: dict[str, Any]) -> None:
    out = standard_sim["dir"] / "detect"
    accounts = _read(out / "accounts.jsonl")
    campaigns = _read(out / "campaigns.jsonl")
    assert accounts and campaigns
    campaign_ids = {c["campaign"] for c in campaigns}
    for a in accounts:
        assert list(a) == ["account", "score", "flagged", "campaign", "reasons"]
        assert isinstance(a["account"], str) and isinstance(a["flagged"], bool)
        assert isinstance(a["score"], float) and 0.0 <= a["score"] <= 1.0
        assert a["campaign"] is None or a["campaign"] in campaign_ids
        assert isinstance(a["reasons"], list) and all(isinstance(r, str) for r in a["reasons"])
        assert a["flagged"] == (a["campaign"] is not None)
    for c in campaigns:
        assert list(c) == ["campaign", "accounts", "evidence"]
        assert isinstance(c["accounts"], list) and c["accounts"] == sorted(c["accounts"])
        assert isinstance(c["evidence"], dict) and {"score", "exchanges", "signals", "reasons"} <= set(
            c["evidence"]
        )
        flagged = {a["account"] for a in accounts if a["campaign"] == c["campaign"]}
        assert flagged == set(c["accounts"])
    summary = (out / "summary.md").read_text()
    assert "## Campaigns" in summary


def test_outputs_carry_no_prompt_text(standard_sim: dict[str, Any]) -> None:
    out = standard_sim["dir"] / "detect"
    text = (out / "campaigns.jsonl").read_text() + (out / "accounts.jsonl").read_text()
    assert "Solve the following problem" not in text and "Explain" not in text


def test_empty_log_gives_empty_outputs(tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text("")
    result = run_detection(log, tmp_path / "out")
    assert result.exchanges == 0 and result.accounts == [] and result.campaigns == []
    assert (tmp_path / "out" / "accounts.jsonl").read_text() == ""
    assert "no exchanges" in (tmp_path / "out" / "summary.md").read_text()


def test_log_of_only_malformed_lines_reports_them(tmp_path: Path) -> None:
    log = write_log(tmp_path / "bad.jsonl", ["nope", '{"id": 1}'])
    result = run_detection(log, tmp_path / "out")
    assert result.exchanges == 0 and result.accounts == []
    assert [e.line for e in result.errors] == [1, 2]
    assert "bad.jsonl:1: invalid JSON" in (tmp_path / "out" / "errors.txt").read_text()


def test_cli_simulate_then_detect(tmp_path: Path) -> None:
    sim = runner.invoke(
        app,
        [
            "simulate-traffic",
            "--out",
            str(tmp_path / "sim"),
            "--benign-users",
            "40",
            "--days",
            "3",
            "--scale",
            "0.3",
            "--format",
            "parquet",
        ],
    )
    assert sim.exit_code == 0, sim.output
    info = json.loads(sim.stdout.strip().splitlines()[-1])
    assert info["log"].endswith("exchanges.parquet")
    res = runner.invoke(app, ["detect", info["log"], "--out", str(tmp_path / "det")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["exchanges"] == info["exchanges"] and summary["flagged"] >= 1
    labels = {
        json.loads(x)["account"]: json.loads(x)
        for x in (tmp_path / "sim" / "labels.jsonl").read_text().splitlines()
    }
    flagged = [a for a in _read(tmp_path / "det" / "accounts.jsonl") if a["flagged"]]
    assert all(labels[a["account"]]["label"] == "campaign" for a in flagged)


def test_cli_on_error_stop_and_skip(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.jsonl", [ex(0, "a", T0, "hi"), "{oops", ex(1, "a", T0 + 1, "hi")])
    stop = runner.invoke(app, ["detect", str(log), "--out", str(tmp_path / "o1"), "--on-error", "stop"])
    assert stop.exit_code == 2
    assert _has(stop, "log.jsonl:2: invalid JSON")
    assert not (tmp_path / "o1" / "accounts.jsonl").exists()
    skip = runner.invoke(app, ["detect", str(log), "--out", str(tmp_path / "o2")])
    assert skip.exit_code == 0
    assert json.loads(skip.stdout.strip().splitlines()[-1])["malformed"] == 1


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    res = runner.invoke(app, ["detect", "--out", str(tmp_path)])
    assert res.exit_code == 2 and _has(res, "exactly one source")
    res = runner.invoke(app, ["detect", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and _has(res, "no such file")
    res = runner.invoke(app, ["simulate-traffic", "--out", str(tmp_path), "--campaigns", "bogus"])
    assert res.exit_code == 2 and _has(res, "unknown styles")


def test_detect_from_the_guard_database(tmp_path: Path) -> None:
    from distillscope.guard.logstore import open_log_store
    from distillscope.records import Exchange

    rows = [
        ex(i, "sweeper", T0 + i, "The", params={"max_tokens": 1, "logit_bias": {str(i): 100}})
        for i in range(300)
    ] + [ex(i, f"user{i}", T0 + 60 * i, f"hello number {i}") for i in range(30)]
    db = tmp_path / "log.db"
    store = open_log_store(str(db), create=True)
    store.write_batch([Exchange.from_dict(r) for r in rows])
    store.close()
    from_db = run_detection(None, tmp_path / "db", db_url=str(db))
    from_file = run_detection(write_log(tmp_path / "log.jsonl", rows), tmp_path / "file")
    assert from_db.exchanges == from_file.exchanges == 330
    assert from_db.flagged == from_file.flagged == ["sweeper"]
    assert from_db.scores() == from_file.scores()
    as_source = run_detection(f"sqlite:///{db}", tmp_path / "url")  # a store URL as the log itself
    assert as_source.flagged == ["sweeper"] and as_source.scores() == from_file.scores()
    res = runner.invoke(app, ["detect", "--db", str(tmp_path / "absent.db"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and _has(res, "no such exchange log")


def test_target_fpr_sets_the_threshold_and_excludes_threshold(
    tmp_path: Path, standard_sim: dict[str, Any]
) -> None:
    from distillscope.detect.calibrate import p_of_score, threshold_for_fpr

    assert abs(threshold_for_fpr(1e-3) - 0.5) < 1e-9 and abs(p_of_score(0.5) - 1e-3) < 1e-12
    log = str(standard_sim["sim"].exchanges_path)
    both = runner.invoke(
        app, ["detect", log, "--out", str(tmp_path / "x"), "--threshold", "0.5", "--target-fpr", "0.01"]
    )
    assert both.exit_code == 2 and _has(both, "not both")
    strict = runner.invoke(app, ["detect", log, "--out", str(tmp_path / "s"), "--target-fpr", "1e-6"])
    loose = runner.invoke(app, ["detect", log, "--out", str(tmp_path / "l"), "--target-fpr", "0.1"])
    assert strict.exit_code == 0 and loose.exit_code == 0
    flagged = [json.loads(r.stdout.strip().splitlines()[-1])["flagged"] for r in (strict, loose)]
    assert flagged[0] < flagged[1]  # a looser target flags more
    default = {a["account"] for a in standard_sim["result"].accounts if a["flagged"]}
    rows = [json.loads(x) for x in (tmp_path / "s" / "accounts.jsonl").read_text().splitlines()]
    assert {r["account"] for r in rows if r["flagged"]} <= default  # p <= 1e-6 is a subset of p <= 1e-3


def test_detect_settings_check_themselves_and_run_like_the_command(
    tmp_path: Path, standard_sim: dict[str, Any]
) -> None:
    from distillscope.detect import DetectSettings, SimulateSettings

    log = standard_sim["sim"].exchanges_path
    for bad, words in (
        ({"logs": log, "out": tmp_path, "threshold": 0.4, "target_fpr": 0.01}, "not both"),
        ({"logs": log, "out": tmp_path, "engine": "sqlite"}, "unknown engine"),
        ({"logs": log, "db": "x.db", "out": tmp_path}, "exactly one source"),
        ({"logs": log}, "--out"),
        ({"logs": log, "out": tmp_path, "on_error": "ignore"}, "skip or stop"),
    ):
        with pytest.raises(ValueError, match=words):
            DetectSettings(**bad)
    with pytest.raises(ValueError, match="unknown styles"):
        SimulateSettings(out=tmp_path, campaigns="hydra,nope")
    assert SimulateSettings(out=tmp_path, design="randomized", campaigns="none").styles == ()
    settings = DetectSettings(logs=log, out=tmp_path / "py", target_fpr=1e-6)
    assert abs(settings.flag_threshold - 1.0) < 1e-9
    result = settings.run()
    cli = runner.invoke(app, ["detect", str(log), "--out", str(tmp_path / "cli"), "--target-fpr", "1e-6"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout.strip().splitlines()[-1])["flagged"] == len(result.flagged)
    py, cli_rows = (tmp_path / d / "accounts.jsonl" for d in ("py", "cli"))
    assert py.read_text() == cli_rows.read_text()
