"""``scenarios.json``: the radioactivity scenarios' results collected into one table a report can read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "docs" / "evidence" / "watermark"


def test_collect_writes_one_row_per_saved_scenario_with_its_verdict(tmp_path):
    for name in ["pure", "clean", "spread"]:
        shutil.copyfile(EVIDENCE / f"radioactivity-{name}.json", tmp_path / f"radioactivity-{name}.json")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "radioactivity.py"), "--collect", "--evidence", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    table = json.loads((tmp_path / "scenarios.json").read_text())
    assert str(tmp_path / "scenarios.json") in done.stdout
    assert table["format"] == "distillscope.radioactivity-scenarios/1" and table["alpha"] == 1e-3
    rows = {r["scenario"]: r for r in table["scenarios"]}
    assert list(rows) == ["pure", "clean", "spread"]  # the bench's order, only what was saved
    for name, row in rows.items():
        result = json.loads((tmp_path / f"radioactivity-{name}.json").read_text())
        summary = result["suspect"]["summary"]
        assert [h["account"] for h in row["harvesters"]] == list(summary["harvesters"])
        assert [h["p"] for h in row["harvesters"]] == [v["p"] for v in summary["harvesters"].values()]
        # a key with too few pairs has no p-value (null) and is never named
        holm = [(h["account"], h["p_holm"]) for h in row["harvesters"]]
        assert row["named"] == [a for a, p in holm if p is not None and p < 1e-3]
        assert row["controls"]["tests"] == summary["controls"] >= 20
        assert row["controls"]["below_0.05"] == summary["controls_below_0.05"]
        assert row["command"].endswith(f"--scenario {name}") and row["evidence"].endswith(f"-{name}.json")
    assert rows["pure"]["share"] == 1.0 and rows["pure"]["verdict"] == "all 2 harvesting accounts named"
    assert rows["clean"]["negative_control"] and rows["clean"]["verdict"] == "not named"
    assert rows["clean"]["share"] == 0.0 and not rows["pure"]["negative_control"]
    spread = rows["spread"]
    assert spread["pooled"]["p"] < 1e-3 and spread["pooled"]["control_sets"] == 20
    assert spread["verdict"].startswith("model named (pooled test)")
    assert spread["untrained_min_p"] == spread["pooled"]["untrained_p"] > 0.01
