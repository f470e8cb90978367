"""bench/detect.py prints, per seed, TPR at FPR <= 1% and <= 0.1% with the false positives behind them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from distillscope.detect.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_detect", ROOT / "bench" / "detect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_lines_carry_tpr_at_low_fpr_with_denominators(capsys: pytest.CaptureFixture[str]) -> None:
    labels = {
        f"c{i}": {"account": f"c{i}", "label": "campaign", "group": "g", "style": "hydra"} for i in range(4)
    }
    labels |= {
        f"b{i}": {"account": f"b{i}", "label": "benign", "group": "", "style": "ordinary"} for i in range(200)
    }
    scores = {"c0": 0.9, "c1": 0.8, "c2": 0.3, "c3": 0.0, "b0": 0.5, "b1": 0.35, "b2": 0.31}
    accounts = [
        {"account": a, "score": scores.get(a, 0.0), "flagged": scores.get(a, 0.0) >= 0.5, "campaign": None}
        for a in labels
    ]
    report = evaluate(accounts, labels)
    report.update(
        design="randomized", seed=1, exchanges=1000, accounts=len(labels), detect_s=0.1, embeddings=False
    )
    _bench().print_quality(report)
    out = capsys.readouterr().out
    # 1% of 200 benign allows 2 above the bar (b2's 0.31): c0 and c1 clear it, c2 (0.30) does not
    assert "TPR at FPR<=1.0%: 2/4 (FPR 2/200)" in out
    # 0.1% of 200 allows none: the bar is b0's 0.5, cleared by c0 and c1
    assert "TPR at FPR<=0.1%: 2/4 (FPR 0/200)" in out
    assert "FPR 1/200" in out  # at the default threshold, with its denominator


def test_throughput_on_a_users_jsonl_log_counts_its_exchanges_and_scans_it_as_the_baseline(
    standard_sim: dict, tmp_path: Path
) -> None:
    """`bench/detect.py --logs` times detection on a JSONL log beside a DuckDB scan of the same lines."""
    log = standard_sim["sim"].exchanges_path
    rows = _bench().log_throughput([log], threads=1, workdir=tmp_path)
    lines = sum(1 for line in Path(log).read_text(encoding="utf-8").splitlines() if line.strip())
    assert rows[0]["log"] == str(log) and rows[0]["exchanges"] == lines
    assert rows[0]["accounts"] == len(standard_sim["result"].accounts)
    assert rows[0]["scan_cpu_s"] > 0 and rows[0]["exchanges_per_cpu_min"] > 0
    assert (tmp_path / "log-out-0" / "accounts.jsonl").exists()
