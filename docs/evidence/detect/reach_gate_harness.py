"""Before/after of the reach-gate change (detreach) on cached feature tables.

    PYTHONPATH=. python docs/evidence/detect/reach_gate_harness.py extract 0 1   # simulate + extract
    PYTHONPATH=<code> python docs/evidence/detect/reach_gate_harness.py score TAG [prefixes]

``extract`` simulates every log of ``specs()`` (Parquet) and pickles its DuckDB feature tables (one thread)
under runs/cache; ``score`` runs ``scoring.score`` (the call ``detect`` makes) with the code on PYTHONPATH
(before: ``git archive c3e9588 distillscope``), writes accounts/campaigns JSONL and the evaluation under
runs/out/TAG/LOG and prints one JSON line per log, with every topic group the selection-aware test was run
on (its kept members' labels, p-values, pooled reach tail). OTHER: another helper's cache of the same logs
(same extraction code), read when present."""

import json
import pickle
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).parent
CACHE = ROOT / "cache"


def specs():
    out = []
    for s in (1, 2, 3, 4, 7):
        out += [("tune", "randomized", s, 220), ("tune", "randomized", s, 600)]
    out += [("tune", "randomized", s, 220) for s in (404, 505)]
    out += [("dev", "randomized", s, 220) for s in range(2101, 2109)]
    for s in (101, 202, 303, 606, 707):
        out += [("held", "randomized", s, 220), ("held", "randomized", s, 600)]
    for s in (808, 909, 1111, 1212, 1313, 1414, 1515, 1616, 1717, 1818):
        out += [("seen", "randomized", s, 220), ("seen", "randomized", s, 600)]
    out += [("classic", "classic", s, 600) for s in (101, 202, 303, 606, 707, 808, 909)]
    out += [("fresh", "randomized", s, b) for s in (2301, 2302, 2303, 2304) for b in (220, 600)]
    pri = {
        ("held", 220): 0,
        ("seen", 220): 1,
        ("fresh", 220): 2,
        ("held", 600): 3,
        ("classic", 600): 4,
        ("fresh", 600): 5,
        ("seen", 600): 6,
        ("dev", 220): 7,
        ("tune", 220): 8,
        ("tune", 600): 9,
    }
    return sorted(out, key=lambda sp: pri[(sp[0], sp[3])])


def name(sp):
    return f"{sp[0]}-{sp[1][0]}{sp[2]}-{sp[3]}"


OTHER = Path("/work/wt/dethydra/runs/tables")


def other(sp):
    return OTHER / f"{sp[1]}-{sp[2]}-{sp[3]}.pkl"


def extract_one(sp):
    from distillscope.detect.run import extract

    d = ROOT / "logs" / name(sp)
    if (CACHE / f"{name(sp)}.pkl").exists() or other(sp).exists():
        return
    if sp[1] == "classic":
        from distillscope.simulate.classic import simulate_traffic

        sim = simulate_traffic(d, benign_users=sp[3], days=7, seed=sp[2], fmt="parquet")
    else:
        from distillscope.simulate import simulate_randomized

        sim = simulate_randomized(d, seed=sp[2], benign=sp[3], fmt="parquet")
    t = extract(sim.exchanges_path, "duckdb", threads=1)
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / f"{name(sp)}.pkl", "wb") as f:
        pickle.dump({"tables": t, "labels": str(sim.labels_path)}, f)
    print(name(sp), "extracted", flush=True)


def score_one(tag, n):
    from distillscope.detect.evaluation import evaluate, load_labels
    from distillscope.detect.scoring import score
    from distillscope.records import write_jsonl

    with open(CACHE / f"{n}.pkl", "rb") as f:
        c = pickle.load(f)
    if isinstance(c["labels"], str):
        c["labels"] = load_labels(c["labels"])
    import numpy as np

    from distillscope.detect import calibrate as cal
    from distillscope.detect import coordination as coord
    from distillscope.detect import scoring

    seen = []
    orig = coord.test_groups

    def spy(*a, **k):
        out = orig(*a, **k)
        seen.extend(g for g in out if g.selected_draws)
        return out

    scoring.coord.test_groups = spy
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    s = score(c["tables"])
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    scoring.coord.test_groups = orig
    sig = s.signals
    by = sig.set_index("account")
    sel = []
    for g in seen:
        rows = by.loc[g.members]
        pooled = float(np.log(max(1.0, float((rows["distinct_prompts"] * rows["answer_tokens"]).sum()))))
        pr = float(cal.robust_tail(np.array([pooled]), sig["reach"].to_numpy(float), 0.5)[1][0])
        sel.append(
            {
                "size": len(g.tied),
                "kept": [c["labels"][m]["style"] for m in g.members],
                "p_sel": g.p_selected,
                "p_play": g.p_playbook,
                "selected": g.selected,
                "draws": g.selected_draws,
                "hits": g.selected_hits,
                "p_pooled": pr,
            }
        )
    changed = []  # (the comparison with the code before is runs/compare.py: accounts.jsonl byte for byte)
    od = ROOT / "out" / tag / n
    od.mkdir(parents=True, exist_ok=True)
    write_jsonl(s.accounts, od / "accounts.jsonl")
    write_jsonl(s.campaigns, od / "campaigns.jsonl")
    labels = c["labels"]
    ev = evaluate(s.accounts, labels)
    d = ev["at_default_threshold"]
    sal = [a for a, lab in labels.items() if lab.get("style") == "slow_and_low"]
    fl = {a["account"]: a["flagged"] for a in s.accounts}
    rep = {
        "log": n,
        "tp": d["tp"],
        "pos": d["positives"],
        "fp": d["fp"],
        "neg": d["negatives"],
        "auroc": ev["auroc"],
        "tpr1": ev["tpr_at_fpr_1pct"]["tp"],
        "ari": ev["grouping"]["ari"],
        "benign_camps": ev["grouping"]["predicted_campaigns_with_benign_member"],
        "sal": f"{sum(fl.get(a, False) for a in sal)}/{len(sal)}",
        "selected": sel,
        "changed": changed,
        "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
    }
    (od / "report.json").write_text(json.dumps({"rep": rep, "eval": ev}, default=str))
    print(json.dumps(rep), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "extract":
        part, parts = int(sys.argv[2]), int(sys.argv[3])
        for i, sp in enumerate(specs()):
            if i % parts == part:
                extract_one(sp)
    else:
        tag = sys.argv[2]
        wanted = sys.argv[3].split(",") if len(sys.argv) > 3 else None
        for sp in specs():
            n = name(sp)
            if wanted and not any(n.startswith(w) for w in wanted):
                continue
            if not (CACHE / f"{n}.pkl").exists() and other(sp).exists():
                import shutil

                shutil.copy(other(sp), CACHE / f"{n}.pkl")
            if not (CACHE / f"{n}.pkl").exists():
                continue
            if (ROOT / "out" / tag / n / "report.json").exists():
                continue
            score_one(tag, n)
