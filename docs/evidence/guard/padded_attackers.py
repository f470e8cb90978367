"""A log's campaign accounts padded with the registered benchmark: are they still acted on?

Reads a simulated log (``LOG_DIR/exchanges.jsonl``, ``labels.jsonl``,
``benchmarks/*.jsonl``) and writes ``OUT_DIR/exchanges.jsonl`` + ``labels.jsonl``: the
same traffic, except that after every request of every campaign account of an online
style (not hydra / slow-and-low, the watch list's) the account also asks RATIO items of
the public benchmark with "Let's think step by step.", 0.5 s apart, at temperature 0 with
a 512-token budget, and takes a 350-token answer -- a distiller that hides its harvest
among registered questions. Then ``guard replay OUT_DIR/exchanges.jsonl --benchmarks
LOG_DIR/benchmarks --per-exchange`` says when each was first acted on; ``summary`` turns that into
"within 200 requests" and "within 200 new questions".

    python padded_attackers.py make LOG_DIR OUT_DIR [RATIO]
    python padded_attackers.py summary OUT_DIR REPLAY_DIR   # REPLAY_DIR from guard replay --per-exchange
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ONLINE_EXCLUDED = ("hydra", "slow_and_low")
ACTED = ("throttle", "strip_logprobs", "defend", "block")
COT = " Let's think step by step."


def _labels(folder: Path) -> dict[str, dict]:
    return {r["account"]: r for r in map(json.loads, (folder / "labels.jsonl").read_text().splitlines())}


def make(log_dir: Path, out_dir: Path, ratio: int) -> None:
    labels = _labels(log_dir)
    padded = {a for a, r in labels.items() if r["label"] == "campaign" and r["style"] not in ONLINE_EXCLUDED}
    items = [
        json.loads(line)["question"]
        for path in sorted((log_dir / "benchmarks").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    rows, used = [], 0
    with open(log_dir / "exchanges.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            rows.append(row)
            if row["account"] not in padded:
                continue
            for k in range(ratio):
                item = items[used % len(items)]
                used += 1
                rows.append(
                    {
                        "id": f"pad-{row['id']}-{k}",
                        "ts": row["ts"] + 0.5 * (k + 1),
                        "account": row["account"],
                        "messages": [{"role": "user", "content": item + COT}],
                        "params": {"temperature": 0.0, "max_tokens": 512},
                        "model": row.get("model"),
                        "prompt_tokens": 60,
                        "completion_tokens": 350,
                        "status": 200,
                    }
                )
    rows.sort(key=lambda r: (r["ts"], r["id"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "exchanges.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out_dir / "labels.jsonl").write_text((log_dir / "labels.jsonl").read_text())
    print(f"{len(padded)} campaign accounts padded with {used} benchmark requests", file=sys.stderr)


def summary(out_dir: Path, replay_dir: Path, first_n: int = 200) -> dict:
    """Per style: accounts, first acted on within ``first_n`` requests, within ``first_n`` new questions."""
    labels = _labels(out_dir)
    seen: dict[str, list[int]] = {}  # account -> [requests, new questions, first action (requests, new)]
    first: dict[str, tuple[int, int]] = {}
    with open(replay_dir / "exchanges.jsonl", encoding="utf-8") as handle:  # guard replay --per-exchange
        for line in handle:
            row = json.loads(line)
            account = row["account"]
            label = labels.get(account)
            if label is None or label["label"] != "campaign" or label["style"] in ONLINE_EXCLUDED:
                continue
            counts = seen.setdefault(account, [0, 0])
            counts[0] += 1
            counts[1] += not row["id"].startswith("pad-")
            if account not in first and row["action"] in ACTED:
                first[account] = (counts[0], counts[1])
    result: dict[str, dict[str, int]] = {}
    for account in seen:
        style = result.setdefault(
            labels[account]["style"], {"accounts": 0, "within_requests": 0, "within_new": 0, "never": 0}
        )
        style["accounts"] += 1
        requests, new = first.get(account, (None, None))
        style["never"] += requests is None
        style["within_requests"] += requests is not None and requests <= first_n
        style["within_new"] += new is not None and new <= first_n
    return result


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "make":
        make(Path(args[0]), Path(args[1]), int(args[2]) if len(args) > 2 else 1)
    else:
        table = summary(Path(args[0]), Path(args[1]))
        print(json.dumps(table, indent=1))
