"""detgroups harness (used by detgroups and detattach; it also records every join made by
coordination.attach with the joiner's style and own evidence, in "joins"): prep (simulate a randomized
~340-account log, extract its DuckDB tables once, runs/cache) and score TAG SEEDS (scoring.score, the
call detect makes, with the code on PYTHONPATH;
SEEDdK = the tables without the 3 ordinary accounts of draw K of reach_gate_drop.py). Writes
runs/ev/TAG/SEED-220.json: summary, every topic group the selection-aware round tested (styles,
explained members, kept, p-values), and per account flag, score, campaign."""

import json
import pickle
import resource
import shutil
import sys
from pathlib import Path

ROOT = Path("runs")
CACHE = ROOT / "cache"


def prep(seed, benign=220):
    from distillscope.detect.run import extract
    from distillscope.simulate import simulate_randomized

    p = CACHE / f"{seed}-{benign}.pkl"
    if p.exists():
        return
    import os

    d = ROOT / f"logs{os.getpid()}" / f"{seed}-{benign}"
    sim = simulate_randomized(d, seed=seed, benign=benign, fmt="parquet")
    t = extract(sim.exchanges_path, "duckdb", threads=1)
    CACHE.mkdir(exist_ok=True)
    shutil.copy(sim.labels_path, CACHE / f"{seed}-{benign}.labels.jsonl")
    with open(str(p) + ".tmp", "wb") as f:
        pickle.dump(t, f)
    os.replace(str(p) + ".tmp", p)
    shutil.rmtree(d)
    print("prepped", seed, benign, flush=True)


def score_one(tag, seed, benign=220, drop=None):
    from distillscope.detect import coordination as coord
    from distillscope.detect import scoring
    from distillscope.detect.evaluation import evaluate, load_labels

    name = f"{seed}-{benign}" + (f"-drop{drop}" if drop is not None else "")
    dest = ROOT / "ev" / tag / f"{name}.json"
    if dest.exists():
        return
    with open(CACHE / f"{seed}-{benign}.pkl", "rb") as f:
        t = pickle.load(f)
    labels = load_labels(CACHE / f"{seed}-{benign}.labels.jsonl")
    if drop is not None:
        t = drop_accounts(t, labels, drop, seed)
        keep = set(t.frames["accounts"]["account"])
        labels = {a: lab for a, lab in labels.items() if a in keep}
    seen = []
    orig = coord.test_groups

    def spy(*a, **k):
        out = orig(*a, **k)
        if k.get("grouped_on") == "topic" and k.get("select_level") is not None:
            seen.extend(out)
        return out

    scoring.coord.test_groups = spy
    joined = {}
    orig_attach = coord.attach

    def spy_attach(*a, **k):
        out = orig_attach(*a, **k)
        joined.update(out)
        return out

    scoring.coord.attach = spy_attach
    getattr(coord, "JOIN_Z", {}).clear()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    s = scoring.score(t)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    scoring.coord.test_groups = orig
    scoring.coord.attach = orig_attach
    sg = s.signals.set_index("account")
    joins = [
        {
            "account": a,
            "campaign": cid,
            "style": labels.get(a, {}).get("style"),
            "label": labels.get(a, {}).get("label"),
            "n": int(sg.loc[a, "n"]),
            "p_own": float(sg.loc[a, "p_own"]),
            "p_account": float(sg.loc[a, "p_account"]),
            "p_reach": float(sg.loc[a, "p_reach"]),
            # (campaign, [topic z, playbook z], per-campaign bar, family bar, accounts tried) where the
            # code under test records them (coord.JOIN_Z, a diagnostic build only)
            "z": getattr(coord, "JOIN_Z", {}).get(a),
        }
        for a, cid in sorted(joined.items())
    ]
    st = {a: lab.get("style") for a, lab in labels.items()}
    ev = evaluate(s.accounts, labels)
    d = ev["at_default_threshold"]
    sal = [a for a, x in st.items() if x == "slow_and_low"]
    fl = {a["account"]: a["flagged"] for a in s.accounts}
    ex = dict(zip(s.signals["account"], s.signals["explained"], strict=True))
    groups = [
        {
            "size": len(g.tied),
            "styles": sorted(st.get(a) or "?" for a in g.tied),
            "explained": sum(1 for a in g.tied if ex.get(a)),
            "kept": [st.get(a) for a in g.members],
            "p_play": g.p_playbook,
            "p_sel": g.p_selected,
            "draws": g.selected_draws,
        }
        for g in seen
    ]
    rep = {
        "log": name,
        "tp": d["tp"],
        "pos": d["positives"],
        "fp": d["fp"],
        "neg": d["negatives"],
        "auroc": ev["auroc"],
        "tpr1": ev["tpr_at_fpr_1pct"]["tp"],
        "ari": ev["grouping"]["ari"],
        "benign_camps": ev["grouping"]["predicted_campaigns_with_benign_member"],
        "sal": f"{sum(fl.get(a, False) for a in sal)}/{len(sal)}",
        "ncamp": len(s.campaigns),
        "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(
        json.dumps(
            {
                "rep": rep,
                "groups": groups,
                "joins": joins,
                "accounts": {
                    a["account"]: [
                        a["flagged"],
                        round(a["score"], 6),
                        a["campaign"],
                        st.get(a["account"]),
                        ex.get(a["account"]),
                    ]
                    for a in s.accounts
                },
            },
            default=str,
        )
    )
    print(
        json.dumps(rep),
        "groups:",
        json.dumps([(g["size"], g["explained"], g["kept"], g["p_play"], g["p_sel"]) for g in groups]),
        "joins:",
        json.dumps([(j["style"], j["n"], round(j["p_own"], 4)) for j in joins]),
        flush=True,
    )


def drop_accounts(t, labels, k, seed):
    """The feature tables without 3 random ordinary accounts, the draws of reach_gate_drop.py."""
    import copy
    import random

    n = f"dev-r{seed}-220"
    ordinary = sorted(a for a, lab in labels.items() if lab["style"] == "ordinary")
    drop = set(random.Random(1000 * k + len(n)).sample(ordinary, 3))
    out = copy.copy(t)
    out.frames = {
        f: df[~df["account"].isin(drop)].reset_index(drop=True) if "account" in df else df
        for f, df in t.frames.items()
    }
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "prep":
        for s in sys.argv[2:]:
            prep(int(s))
    else:
        tag = sys.argv[2]
        for s in sys.argv[3:]:
            seed, _, drop = s.partition("d")
            score_one(tag, int(seed), drop=int(drop) if drop else None)
