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


def auroc(scores: dict[str, float], positive: set[str], negative: set[str]) -> float | None:
    """Area under the ROC curve of the account score (ties count half)."""
    from sklearn.metrics import roc_auc_score

    if not positive or not negative:
        return None
    keys = sorted(positive | negative)
    return float(roc_auc_score([k in positive for k in keys], [scores.get(k, 0.0) for k in keys]))


def grouping(accounts: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """ARI of predicted campaigns over the true campaign accounts; predicted campaigns with benign members.

    An unflagged campaign account counts as a campaign of its own (a miss splits its group).
    """
    from sklearn.metrics import adjusted_rand_score

    predicted = {a["account"]: a["campaign"] for a in accounts}
    camp = sorted(a for a, lab in labels.items() if lab["label"] == "campaign")
    truth = [labels[a]["group"] for a in camp]
    pred = [predicted.get(a) or f"alone:{a}" for a in camp]
    members: dict[str, set[str]] = defaultdict(set)
    for a, c in predicted.items():
        if c:
            members[c].add(a)
    tainted = [
        c for c, ms in members.items() if any(labels.get(m, {}).get("label") != "campaign" for m in ms)
    ]
    return {
        "ari": float(adjusted_rand_score(truth, pred)) if camp else None,
        "campaign_accounts": len(camp),
        "predicted_campaigns": len(members),
        "predicted_campaigns_with_benign_member": len(tainted),
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
        "auroc": auroc(scores, positive, negative),
        "grouping": grouping(accounts, labels),
        "tpr_at_fpr_0.5pct": tpr_at_fpr(scores, positive, negative, 0.005),
        "tpr_at_fpr_1pct": tpr_at_fpr(scores, positive, negative, 0.01),
        "tpr_at_fpr_0.1pct": tpr_at_fpr(scores, positive, negative, 0.001),
        "recall_by_style": recall,
        "flag_rate_by_benign_style": fpr,
    }
