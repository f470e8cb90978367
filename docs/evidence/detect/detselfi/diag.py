"""detselfi diagnosis: score a cached log's tables (runs/cache/SEED-1100.pkl, detsplit/prep.py) with the code
on PYTHONPATH and print the campaign accounts left unflagged next to the benign accounts of similar volume:
diag.py SEED [STYLE] (STYLE: only that campaign style's misses)."""

import json
import pickle
import sys
from pathlib import Path

import numpy as np

from distillscope.detect import scoring

COLS = [
    "n",
    "distinct_prompts",
    "shared_prompts",
    "answer_tokens",
    "reach",
    "p_reach",
    "p_reach_log",
    "p_own",
    "p_harvest",
    "p_content",
    "p_clock",
    "p_session",
    "longest_session",
    "quiet_share",
    "diversity",
    "top_head_share",
    "explained",
    "p_account",
]


def load(seed: str):
    with open(Path("runs/cache") / f"{seed}-1100.pkl", "rb") as f:
        t = pickle.load(f)
    labels = {}
    for line in (Path("runs/cache") / f"{seed}-1100.labels.jsonl").read_text().splitlines():
        r = json.loads(line)
        labels[r["account"]] = r
    return t, labels


def main(seed: str, style: str | None = None) -> None:
    t, labels = load(seed)
    s = scoring.score(t)
    sig = s.signals.set_index("account")
    flagged = {a["account"]: a for a in s.accounts}
    sig["label"] = [labels.get(a, {}).get("label") for a in sig.index]
    sig["style"] = [labels.get(a, {}).get("style") for a in sig.index]
    sig["flagged"] = [flagged[a]["flagged"] for a in sig.index]
    sig["score"] = [flagged[a]["score"] for a in sig.index]
    miss = sig[(sig["label"] == "campaign") & ~sig["flagged"]]
    if style:
        miss = miss[miss["style"] == style]
    with np.printoptions(precision=3):
        print("MISSED", len(miss))
        print(miss[["style", "score"] + COLS].sort_values("n").to_string())
        ben = sig[(sig["label"] == "benign") & (sig["n"] >= 300)]
        print("BENIGN n>=300", len(ben))
        print(ben[["style", "score"] + COLS].sort_values("n").to_string())


if __name__ == "__main__":
    main(*sys.argv[1:])
