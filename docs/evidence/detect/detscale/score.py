"""detscale: score one `distillscope detect --out DIR` run against the simulator's labels.jsonl with
distillscope.detect.evaluation.evaluate (the bench's scorer), and print every issue-12 goal with its
denominator. Usage: score.py SIMDIR DETDIR [TIME_FILE] > result.json.
It reads labels; the detector never does."""

import json
import re
import sys
from pathlib import Path

from distillscope.detect.evaluation import evaluate, load_labels
from distillscope.simulate.randomized import HARD_NEGATIVES as HARD


def main() -> None:
    sim, det = Path(sys.argv[1]), Path(sys.argv[2])
    labels = load_labels(sim / "labels.jsonl")
    with open(det / "accounts.jsonl", encoding="utf-8") as handle:
        accounts = [json.loads(x) for x in handle]
    ev = evaluate(accounts, labels)
    summary = json.loads((det / "summary.json").read_text()) if (det / "summary.json").exists() else {}
    with open(sim / "exchanges.jsonl", encoding="utf-8") as handle:
        n_ex = sum(1 for _ in handle)
    d = ev["at_default_threshold"]
    hard = {s: v for s, v in ev["flag_rate_by_benign_style"].items() if s in HARD}
    goals = {
        "tpr>=0.95": [f"{d['tp']}/{d['positives']}", d["tpr"] >= 0.95],
        "fpr<=0.005": [f"{d['fp']}/{d['negatives']}", d["fpr"] <= 0.005],
        "style_recall>=0.8": [
            {s: f"{v['flagged']}/{v['accounts']}" for s, v in ev["recall_by_style"].items()},
            all(v["rate"] >= 0.8 for v in ev["recall_by_style"].values()),
        ],
        "hard_negative_groups<=0.01": [
            {s: f"{v['flagged']}/{v['accounts']}" for s, v in hard.items()},
            all(v["rate"] <= 0.01 for v in hard.values()),
        ],
        "auroc>=0.99": [round(ev["auroc"], 5), ev["auroc"] >= 0.99],
        "tpr_at_fpr1%>=0.95": [
            f"{ev['tpr_at_fpr_1pct']['tp']}/{ev['tpr_at_fpr_1pct']['positives']}",
            ev["tpr_at_fpr_1pct"]["tpr"] >= 0.95,
        ],
        "ari>=0.9": [round(ev["grouping"]["ari"], 4), ev["grouping"]["ari"] >= 0.9],
        "no_benign_in_campaign": [
            f"{ev['grouping']['predicted_campaigns_with_benign_member']}/{ev['grouping']['predicted_campaigns']}",
            ev["grouping"]["predicted_campaigns_with_benign_member"] == 0,
        ],
    }
    out = {
        "log": str(sim),
        "scenario": json.loads((sim / "scenario.json").read_text()),
        "shape": {
            "accounts": len(labels),
            "campaign_accounts": d["positives"],
            "campaign_share": round(d["positives"] / len(labels), 3),
            "exchanges": n_ex,
        },
        "goals": goals,
        "evaluation": ev,
        "summary": summary,
    }
    if len(sys.argv) > 3:
        t = Path(sys.argv[3]).read_text()
        cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", t))
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
        out["cpu_s"] = round(cpu, 1)
        out["exchanges_per_cpu_minute"] = round(n_ex / cpu * 60) if cpu else None
        out["max_rss_mb"] = int(rss.group(1)) // 1024 if rss else None
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
