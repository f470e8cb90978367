"""Collect the registered-benchmark backtests into one JSON (docs/guard.md, "Public benchmarks").

For each log NAME it reads two `distillscope guard replay` outputs of the same log
with the same code and default policy: ``nb_NAME`` (no benchmarks registered: the
earlier behaviour) and ``reg_NAME`` (``--benchmarks NAME/benchmarks``, the public
benchmark the simulator exported from the seed), and writes their ``metrics.json``,
the accounts whose outcome differs between the two (with their labelled style) and
the benchmark file's digest and size.

    python docs/evidence/guard/benchmarks_backtest.py /tmp/gb rnd61 rnd62 ... > out.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def _rows(path: Path) -> dict[str, dict]:
    return {r["account"]: r for r in map(json.loads, path.read_text().splitlines())}


def collect(root: Path, name: str) -> dict:
    labels = _rows(root / name / "labels.jsonl")
    before, after = (
        _rows(root / f"nb_{name}" / "accounts.jsonl"),
        _rows(root / f"reg_{name}" / "accounts.jsonl"),
    )
    changed = []
    for account in sorted(before):
        a, b = before[account], after[account]
        keys = ("flagged", "decisions", "delayed", "first_action_request")
        if any(a[k] != b[k] for k in keys):
            changed.append(
                {
                    "account": account,
                    "style": labels.get(account, {}).get("style"),
                    "label": labels.get(account, {}).get("label"),
                    "requests": a["requests"],
                    "before": {k: a[k] for k in keys},
                    "after": {k: b[k] for k in keys},
                }
            )
    benches = []
    for path in sorted((root / name / "benchmarks").glob("*.jsonl")):
        data = path.read_bytes()
        benches.append(
            {"file": path.name, "lines": data.count(b"\n"), "sha256": hashlib.sha256(data).hexdigest()}
        )
    return {
        "log": name,
        "benchmarks": benches,
        "registered_questions": json.loads((root / f"reg_{name}" / "decisions.json").read_text())[
            "public_benchmark_questions"
        ],
        "before": json.loads((root / f"nb_{name}" / "metrics.json").read_text()),
        "after": json.loads((root / f"reg_{name}" / "metrics.json").read_text()),
        "accounts_changed": changed,
    }


if __name__ == "__main__":
    root = Path(sys.argv[1])
    json.dump({name: collect(root, name) for name in sys.argv[2:]}, sys.stdout, indent=1)
    sys.stdout.write("\n")
