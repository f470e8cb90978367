"""detslow harness: extract a simulated log's feature tables once (prep SIM_DIR NAME ->
runs/cache/NAME.pkl and its labels), then score them with the code on PYTHONPATH (score TAG NAME...:
scoring.score, the call `detect` makes with default settings) and write runs/ev/TAG/NAME.json: the
issue-12 measures with denominators, per-style recall, every topic group the selection-aware round
tested (styles, kept, p-values), how each campaign-labelled group came out (predicted campaigns of its
members) and per account flag, score, campaign. KNOBS=module.NAME=VALUE,... sets module constants first.
It reads labels; the detector never does."""

import json
import os
import pickle
import resource
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path("runs")
CACHE = ROOT / "cache"


def prep(sim: str, name: str) -> None:
    from distillscope.detect.run import extract

    dest = CACHE / f"{name}.pkl"
    if dest.exists():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    t = extract(Path(sim) / "exchanges.jsonl", "duckdb", threads=1)
    shutil.copy(Path(sim) / "labels.jsonl", CACHE / f"{name}.labels.jsonl")
    with open(str(dest) + ".tmp", "wb") as f:
        pickle.dump(t, f)
    os.replace(str(dest) + ".tmp", dest)
    print("prepped", name, flush=True)


def score_one(tag: str, name: str) -> dict:
    from distillscope.detect import coordination as coord
    from distillscope.detect import scoring
    from distillscope.detect.evaluation import evaluate, load_labels

    for knob in os.environ.get("KNOBS", "").split(","):  # e.g. KNOBS=coordination.TOPIC_RESOLUTION=1.5
        if knob:
            path, value = knob.split("=")
            module, attr = path.rsplit(".", 1)
            setattr(__import__(f"distillscope.detect.{module}", fromlist=[attr]), attr, float(value))
    with open(CACHE / f"{name}.pkl", "rb") as f:
        t = pickle.load(f)
    labels = load_labels(CACHE / f"{name}.labels.jsonl")
    st = {a: lab["style"] for a, lab in labels.items()}
    grp = {a: lab["group"] for a, lab in labels.items()}
    seen = []
    orig = coord.test_groups

    def spy(*a, **k):
        out = orig(*a, **k)
        if k.get("grouped_on") == "topic" and k.get("select_level") is not None:
            seen.extend(out)
        return out

    scoring.coord.test_groups = spy
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    s = scoring.score(t)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    scoring.coord.test_groups = orig
    ev = evaluate(s.accounts, labels)
    d = ev["at_default_threshold"]
    acc = {a["account"]: a for a in s.accounts}
    campaigns = {}
    for a, lab in labels.items():
        if lab["label"] == "campaign":
            campaigns.setdefault(lab["group"], []).append(a)
    came_out = {
        g: {
            "style": st[ms[0]],
            "size": len(ms),
            "flagged": sum(acc[a]["flagged"] for a in ms if a in acc),
            "pieces": sorted(
                Counter(acc[a]["campaign"] for a in ms if a in acc and acc[a]["campaign"]).values(),
                reverse=True,
            ),
        }
        for g, ms in sorted(campaigns.items())
    }
    pred = {}
    for a in s.accounts:
        if a["campaign"]:
            pred.setdefault(a["campaign"], []).append(a["account"])
    benign_in = [
        {"campaign": c, "size": len(ms), "benign": [st[a] for a in ms if labels[a]["label"] != "campaign"]}
        for c, ms in pred.items()
        if any(labels[a]["label"] != "campaign" for a in ms)
    ]
    groups = [
        {
            "size": len(g.tied),
            "styles": dict(Counter(st.get(a) or "?" for a in g.tied)),
            "groups": dict(Counter(grp.get(a) for a in g.tied if labels[a]["label"] == "campaign")),
            "kept": dict(Counter(st.get(a) for a in g.members)),
            "p_topic": g.p_topic,
            "p_play": g.p_playbook,
            "p_sel": g.p_selected,
        }
        for g in seen
    ]
    rep = {
        "log": name,
        "tp": f"{d['tp']}/{d['positives']}",
        "fp": f"{d['fp']}/{d['negatives']}",
        "auroc": round(ev["auroc"], 4),
        "tpr1": f"{ev['tpr_at_fpr_1pct']['tp']}/{ev['tpr_at_fpr_1pct']['positives']}",
        "ari": round(ev["grouping"]["ari"], 4),
        "benign_camps": "{}/{}".format(
            ev["grouping"]["predicted_campaigns_with_benign_member"], ev["grouping"]["predicted_campaigns"]
        ),
        "recall": {k: f"{v['flagged']}/{v['accounts']}" for k, v in ev["recall_by_style"].items()},
        "hard_fp": {
            k: f"{v['flagged']}/{v['accounts']}"
            for k, v in ev["flag_rate_by_benign_style"].items()
            if v["flagged"]
        },
        "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
    }
    out = {
        "rep": rep,
        "campaigns": came_out,
        "benign_in": benign_in,
        "groups": groups,
        "accounts": {
            a["account"]: [a["flagged"], round(a["score"], 6), a["campaign"], st.get(a["account"])]
            for a in s.accounts
        },
    }
    dest = ROOT / "ev" / tag / f"{name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, default=str))
    return out


if __name__ == "__main__":
    if sys.argv[1] == "prep":
        args = sys.argv[2:]
        for i in range(0, len(args), 2):
            prep(args[i], args[i + 1])
    else:
        for name in sys.argv[3:]:
            o = score_one(sys.argv[2], name)
            sal = {g: v for g, v in o["campaigns"].items() if v["style"] in ("slow_and_low", "hydra")}
            print(json.dumps(o["rep"]), json.dumps(sal), json.dumps(o["benign_in"]), flush=True)
