"""Why hydra members stay alone: score a cached log (harness.py prep) with the code on PYTHONPATH, capture
the crowded pools' round (the links, the pools, the groups tested), and print per campaign account of the
style given (default hydra) outside its style's largest predicted campaign: volume, own evidence, pool use
(addresses after the links' filter, share of requests through the pool's addresses), whether the pool's
group held it and peeling dropped it, and its own-part condition.

Usage: PYTHONPATH=$PWD python docs/evidence/detect/detlone/diagnose.py SEED [STYLE]"""

import collections
import pickle
import sys
from pathlib import Path

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.evaluation import load_labels

ROOT = Path("runs")


def main(seed: int, style: str) -> None:
    with open(ROOT / "cache" / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    labels = load_labels(ROOT / f"sim{seed}" / "labels.jsonl")
    seen: dict = {"links": None, "tested": []}
    orig_crowded, orig_test = coord.crowded_groups, coord.test_groups

    def spy_crowded(links, pool, taken):
        seen["links"] = links
        return orig_crowded(links, pool, taken)

    def spy_test(*a, **k):
        out = orig_test(*a, **k)
        if k.get("grouped_on") == "crowded":
            seen["tested"].extend(out)
        return out

    scoring.coord.crowded_groups, scoring.coord.test_groups = spy_crowded, spy_test
    s = scoring.score(tables)
    scoring.coord.crowded_groups, scoring.coord.test_groups = orig_crowded, orig_test
    sig = s.signals.set_index("account")
    acc = {a["account"]: a for a in s.accounts}
    st = {a: lab.get("style") for a, lab in labels.items()}
    mine = [a for a in acc if st.get(a) == style]
    camps = collections.Counter(acc[a]["campaign"] for a in mine if acc[a]["flagged"])
    main_cid = camps.most_common(1)[0][0] if camps else None
    links = seen["links"]
    print(
        "campaigns of the style:", camps.most_common(5), "unflagged", sum(not acc[a]["flagged"] for a in mine)
    )
    infra = tables["infra"]
    ip = infra[infra["kind"] == "ip"]
    for g in seen["tested"]:
        print(
            "pool group",
            len(g.tied),
            dict(collections.Counter(st.get(a) for a in g.tied)),
            "kept",
            len(g.members),
            f"p_topic {g.p_topic:.2g} p_play {g.p_playbook:.2g}",
        )
    crowded = links.crowded if links else {}
    pool_vals = {
        v for (k, v), accs in crowded.items() if sum(st.get(a) == style for a in accs) > len(accs) / 2
    }
    print("crowded values of the style:", len(pool_vals), "of", len(crowded))
    tied = {a: g for g in seen["tested"] for a in g.tied}
    own = coord.does_own_part(sig.loc[mine].reset_index(), coord.TIED_MEMBER_SHARED)
    own_by = dict(zip(mine, own, strict=True))
    rows = []
    for a in mine:
        r = acc[a]
        if r["flagged"] and r["campaign"] == main_cid:
            continue
        mine_ip = ip[ip["account"] == a]
        n = float(sig.loc[a, "n"])
        used = sum(1 for v in pool_vals if a in crowded.get(("ip", v), ()))
        through = float(mine_ip[mine_ip["value"].isin(pool_vals)]["cnt"].sum()) / max(n, 1)
        g = tied.get(a)
        where = "peeled" if g is not None and a not in g.members else ("kept" if g is not None else "outside")
        rows.append(
            (
                r["flagged"],
                r["campaign"] == main_cid,
                int(n),
                round(float(sig.loc[a, "p_account"]), 6),
                round(float(sig.loc[a, "p_own"]), 3),
                f"{used}/{len(pool_vals)}",
                round(through, 2),
                where,
                bool(own_by[a]),
                round(float(sig.loc[a, "p_reach_log"]), 3),
                round(float(sig.loc[a, "shared_prompts"] / max(1, sig.loc[a, "distinct_prompts"])), 2),
                r["reasons"][0][:90] if r["reasons"] else "",
            )
        )
    print("flagged in_main n p_account p_own pool_used through where own_part p_reach_log shared reason0")
    for row in sorted(rows, key=lambda x: (x[0], x[7], x[2])):
        print(*row)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "hydra")
