"""detevals: score cached feature tables (runs/cache/NAME.pkl, docs/evidence/detect/detslow/harness.py prep)
with the evaluation rules off (main's rules: own cross-model share only, `repeated` strict) and on (this
branch's defaults), and print per log: TP/FP with denominators, per hard-negative group and per campaign
style, the accounts whose flag changed, and the spread of `log_cross_model` by label/style. Reads labels; the
detector never does. usage: measure.py NAME... > out.json"""

import json
import pickle
import sys
from collections import Counter

from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels

HARD = (
    "agent",
    "batch_customer",
    "cgnat",
    "corporate_nat",
    "eval_harness",
    "rag_app",
    "university",
    "vpn_user",
)


def run(t, off: bool) -> tuple[dict[str, bool], object]:
    saved = scoring.EVALUATION_LOG_SHARE, scoring.REPEATED_INCLUSIVE
    if off:
        scoring.EVALUATION_LOG_SHARE, scoring.REPEATED_INCLUSIVE = 2.0, False
    try:
        s = scoring.score(t)
    finally:
        scoring.EVALUATION_LOG_SHARE, scoring.REPEATED_INCLUSIVE = saved
    return {a["account"]: bool(a["flagged"]) for a in s.accounts}, s.signals


def tally(flags: dict[str, bool], labels: dict) -> dict:
    out: dict = {"tp": 0, "pos": 0, "fp": 0, "neg": 0, "style": Counter(), "style_n": Counter()}
    for a, lab in labels.items():
        f = flags.get(a, False)
        camp = lab["label"] == "campaign"
        out["pos" if camp else "neg"] += 1
        out["tp" if camp else "fp"] += int(f)
        out["style_n"][lab["style"]] += 1
        out["style"][lab["style"]] += int(f)
    return out


def one(name: str) -> dict:
    with open(f"runs/cache/{name}.pkl", "rb") as f:
        t = pickle.load(f)
    labels = load_labels(f"runs/cache/{name}.labels.jsonl")
    res = {}
    for side, off in (("main", True), ("detevals", False)):
        flags, sig = run(t, off)
        res[side] = tally(flags, labels)
        res[side + "_flags"] = flags
    lc = dict(zip(sig["account"], sig["log_cross_model"], strict=True))
    changed = [
        {
            "account": a,
            "style": labels[a]["style"],
            "main": res["main_flags"].get(a),
            "new": res["detevals_flags"].get(a),
            "log_cross": round(float(lc[a]), 3),
        }
        for a in labels
        if res["main_flags"].get(a) != res["detevals_flags"].get(a)
    ]
    spread: dict[str, float] = {}
    for a, lab in labels.items():
        key = lab["style"] if lab["label"] == "campaign" or lab["style"] == "eval_harness" else "benign_other"
        fn = min if lab["style"] == "eval_harness" else max
        spread[key] = round(fn(spread.get(key, float(lc[a])), float(lc[a])), 3)
    out = {"log": name, "changed": changed, "log_cross_max_by_style (eval_harness: min)": spread}
    for side in ("main", "detevals"):
        r = res[side]
        out[side] = {
            "TP": f"{r['tp']}/{r['pos']}",
            "FP": f"{r['fp']}/{r['neg']}",
            "hard_negatives": {g: f"{r['style'][g]}/{r['style_n'][g]}" for g in HARD if r["style_n"][g]},
            "styles": {
                g: f"{r['style'][g]}/{r['style_n'][g]}"
                for g in sorted(r["style_n"])
                if g not in HARD and g not in ("ordinary",)
            },
        }
    return out


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(json.dumps(one(name)), flush=True)
