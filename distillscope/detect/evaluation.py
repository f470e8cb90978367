"""Score a detection run against simulator labels: TPR at fixed FPR, recall per style, FPR per group.

Every rate comes with its numerator and denominator. Used by ``bench/detect.py``
and the tests; the detector itself never sees labels.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def load_labels(path: str | Path) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return {row["account"]: row for row in map(json.loads, handle) if row}


def tpr_at_fpr(
    scores: dict[str, float], positive: set[str], negative: set[str], max_fpr: float
) -> dict[str, Any]:
    """The best TPR whose threshold keeps FPR <= max_fpr (ties at a threshold count against it)."""
    neg = sorted((scores.get(a, 0.0) for a in negative), reverse=True)
    allowed = int(max_fpr * len(neg))  # how many negatives may score at or above the threshold
    # threshold strictly above the (allowed+1)-th highest negative score
    bar = neg[allowed] if allowed < len(neg) else float("-inf")
    tp = sum(1 for a in positive if scores.get(a, 0.0) > bar)
    fp = sum(1 for s in neg if s > bar)
    return {
        "max_fpr": max_fpr,
        "threshold": bar,
        "tp": tp,
        "positives": len(positive),
        "fp": fp,
        "negatives": len(neg),
        "tpr": tp / len(positive) if positive else None,
    }


def evaluate(accounts: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    scores = {a["account"]: float(a["score"]) for a in accounts}
    flagged = {a["account"] for a in accounts if a["flagged"]}
    positive = {a for a, lab in labels.items() if lab["label"] == "campaign"}
    negative = {a for a, lab in labels.items() if lab["label"] != "campaign"}
    by_style: dict[str, list[str]] = defaultdict(list)
    for a, lab in labels.items():
        by_style[lab["style"]].append(a)
    recall = {}
    fpr = {}
    for style, accs in sorted(by_style.items()):
        hits = sum(1 for a in accs if a in flagged)
        target = recall if labels[accs[0]]["label"] == "campaign" else fpr
        target[style] = {"flagged": hits, "accounts": len(accs), "rate": hits / len(accs)}
    tp = len(flagged & positive)
    fp = len(flagged & negative)
    return {
        "at_default_threshold": {
            "tp": tp,
            "positives": len(positive),
            "fp": fp,
            "negatives": len(negative),
            "tpr": tp / len(positive) if positive else None,
            "fpr": fp / len(negative) if negative else None,
        },
        "tpr_at_fpr_1pct": tpr_at_fpr(scores, positive, negative, 0.01),
        "tpr_at_fpr_0.1pct": tpr_at_fpr(scores, positive, negative, 0.001),
        "recall_by_style": recall,
        "flag_rate_by_benign_style": fpr,
    }
