"""Split a simulated log at the midpoint of its time span (the watch-list rows of docs/guard.md).

Usage: python split_halves.py LOG_DIR OUT_A OUT_B. Writes OUT_A/exchanges.jsonl (ts before the
midpoint of the first and last timestamps) and OUT_B/exchanges.jsonl (the rest), each with a
copy of LOG_DIR/labels.jsonl, lines copied byte for byte in their order. Analysis only.
"""

import json
import shutil
import sys
from pathlib import Path


def main(log_dir: str, out_a: str, out_b: str) -> None:
    src = Path(log_dir) / "exchanges.jsonl"
    first = last = None
    with src.open(encoding="utf-8") as handle:
        for line in handle:
            ts = json.loads(line)["ts"]
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
    mid = (first + last) / 2
    counts = [0, 0]
    outs = [Path(out_a), Path(out_b)]
    for out in outs:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(log_dir) / "labels.jsonl", out / "labels.jsonl")
    with (
        src.open(encoding="utf-8") as handle,
        (outs[0] / "exchanges.jsonl").open("w", encoding="utf-8") as a,
        (outs[1] / "exchanges.jsonl").open("w", encoding="utf-8") as b,
    ):
        for line in handle:
            half = json.loads(line)["ts"] >= mid
            (b if half else a).write(line)
            counts[half] += 1
    print(json.dumps({"midpoint": mid, "first_half": counts[0], "second_half": counts[1]}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
