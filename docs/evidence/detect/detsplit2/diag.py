"""detsplit2 diagnostic: why a slow-and-low campaign's pieces stay apart, and where its missed members are.

Scores cached tables (runs/cache/NAME.pkl, from detslow's harness.py prep) with the code on PYTHONPATH,
capturing the campaigns ``coordination.join_pieces`` is given and the topic groups of the selection-aware
round. Prints (1) every pair of pieces (>= PIECE_MIN) where either holds a slow-and-low member, plus every
other pair that passes the kind and scale rules, with join_pieces' quantities: the share of the way across
(``(across - random) / (looser inside - random)``, bar MERGE_RATIO), the set p-values of parameters and
topic against the level, and whether the two are one true campaign; (2) for each missed slow-and-low member,
why: requests, own part, in the own pool, in which topic group, kept, flagged.
Usage: diag.py NAME > diag_NAME.txt. It reads labels; the detector never does."""

import pickle
import sys
from collections import Counter

import numpy as np

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.communities import MERGE_RATIO, playbook_similarity
from distillscope.detect.evaluation import load_labels


def capture(name: str) -> dict:
    """Score NAME with spies on join_pieces and the topic round; returns what they saw."""
    with open(f"runs/cache/{name}.pkl", "rb") as f:
        tables = pickle.load(f)
    cap: dict = {"topic": []}
    orig_test, orig_join = coord.test_groups, coord.join_pieces

    def spy_test(groups, sig, space, grouped_on="ties", population=None, select_level=None):
        out = orig_test(groups, sig, space, grouped_on, population, select_level)
        if grouped_on == "topic" and select_level is not None:
            cap["topic"] = out
            cap["own"] = population
        return out

    def spy_join(campaigns, sig, samples, vectors, pool, machine_p=coord.MACHINE_P, **kw):
        cap.update(campaigns=dict(campaigns), sig=sig, samples=samples, pool=pool, machine_p=machine_p, **kw)
        return orig_join(campaigns, sig, samples, vectors, pool, machine_p, **kw)

    scoring.coord.test_groups, scoring.coord.join_pieces = spy_test, spy_join
    try:
        cap["scored"] = scoring.score(tables)
    finally:
        scoring.coord.test_groups, scoring.coord.join_pieces = orig_test, orig_join
    return cap


def label_mix(labels: dict, ms: list[str], top: int) -> str:
    """The campaigns (or benign styles) of the accounts ``ms``, most common first."""
    c = Counter(labels[a]["group"] if labels[a]["label"] == "campaign" else labels[a]["style"] for a in ms)
    return ",".join(f"{g}:{n}" for g, n in c.most_common(top))


def pair_table(cap: dict, labels: dict) -> None:
    """join_pieces' quantities for the pairs of pieces (see the module docstring)."""
    pieces = {c: sorted(ms) for c, ms in cap["campaigns"].items() if len(ms) >= coord.PIECE_MIN}
    sig, pool = cap["sig"], cap["pool"]
    members = sorted({a for ms in pieces.values() for a in ms})
    reference = [a for a in coord.reference_sample(pool) if a not in set(members)]
    names = members + reference
    space = coord.PromptSpace.build(names, cap["samples"], None)
    cross = space.rows(names) @ space.rows(members).T
    topic = np.clip(cross.toarray(), 0.0, 1.0)
    by = sig.set_index("account")
    play = playbook_similarity(by.loc[names].reset_index(), by.loc[members].reset_index())
    pos = {a: i for i, a in enumerate(names)}
    volume = by.loc[names, "n"].to_numpy(dtype=float)
    machine = by.loc[names, "p_automation"].fillna(1.0).to_numpy(dtype=float) <= cap["machine_p"]
    ref_rows = np.arange(len(members), len(names))
    k = len(pieces)
    level = coord.MEMBER_P / (k * (k - 1) / 2)
    limit = int(np.ceil(coord.PIECE_STOP / level))
    print(f"pieces {k} (members {len(members)}), reference {len(reference)}, level {level:.2g}", end=" ")
    print(f"limit {limit}")

    def who(ms: list[str]) -> str:
        return label_mix(labels, ms, 3)

    ids = sorted(pieces, key=lambda c: (-len(pieces[c]), c))
    for c in ids:
        ms = pieces[c]
        print(
            f"piece {c[:10]} size {len(ms):3d} [{who(ms)}] "
            f"median n {np.median(volume[[pos[a] for a in ms]]):.0f} "
            f"machines {machine[[pos[a] for a in ms]].mean():.2f}"
        )
    rows_out = []
    for x, into in enumerate(ids):
        cols = np.array([pos[a] for a in pieces[into]])
        for piece in ids[x + 1 :]:
            rows = np.array([pos[a] for a in pieces[piece]])
            slow = any(labels[a]["style"] == "slow_and_low" for a in pieces[into] + pieces[piece])
            kind = (machine[cols].mean() > 0.5) != (machine[rows].mean() > 0.5)
            scale = coord._one_scale(volume[cols], volume[rows])
            if not slow and (kind or not scale):
                continue
            across = float(play[np.ix_(rows, cols)].mean())
            null = float(play[np.ix_(ref_rows, cols)].mean(axis=1).mean())
            inner = [coord._mean_offdiag(play[np.ix_(s, s)]) for s in (cols, rows)]
            looser = min(inner)
            way = (across - null) / max(looser - null, 1e-9)
            nm = pieces[into] + pieces[piece]
            p_play = coord._set_tail(play, rows, cols, ref_rows, nm, limit)
            p_top = coord._set_tail(topic, rows, cols, ref_rows, nm, limit)
            t_across = float(topic[np.ix_(rows, cols)].mean())
            t_null = float(topic[np.ix_(ref_rows, cols)].mean(axis=1).mean())
            gi = {labels[a]["group"] for a in pieces[into] if labels[a]["label"] == "campaign"}
            gp = {labels[a]["group"] for a in pieces[piece] if labels[a]["label"] == "campaign"}
            same = bool(gi & gp)
            rows_out.append((same, way, p_play, p_top))
            joins = not kind and scale and way >= MERGE_RATIO and max(p_play, p_top) <= level
            print(
                f"  {into[:10]}({len(cols)}) + {piece[:10]}({len(rows)}) same={same!s:5} "
                f"kind_differs={kind!s:5} "
                f"one_scale={scale!s:5} way={way:5.2f} (bar {MERGE_RATIO}) p_play={p_play:.2g} "
                f"topic across {t_across:.3f} random {t_null:.3f} p_topic={p_top:.2g} "
                f"join={'yes' if joins else 'no'}"
            )


def missed(cap: dict, labels: dict) -> None:
    """Each slow-and-low member not flagged: where it is lost."""
    sig = cap["sig"]
    by = sig.set_index("account")
    acc = {a["account"]: a for a in cap["scored"].accounts}
    own_pool = set(cap.get("own") or [])
    pool = set(cap["pool"])
    group_of = {a: i for i, g in enumerate(cap["topic"]) for a in g.tied}
    own = coord.does_own_part(sig)
    own_by = dict(zip(sig["account"], own, strict=True))
    slow = sorted(a for a, lab in labels.items() if lab["style"] == "slow_and_low")
    gone = [a for a in slow if not acc[a]["flagged"]]
    print(f"slow-and-low {len(slow)}, flagged {len(slow) - len(gone)}, missed {len(gone)}")
    for a in gone:
        g = group_of.get(a)
        grp = cap["topic"][g] if g is not None else None
        desc = (
            f"topic group #{g} size {len(grp.tied)} "
            f"slow {sum(labels[b]['style'] == 'slow_and_low' for b in grp.tied)} "
            f"p_play {grp.p_playbook:.2g} kept {len(grp.members)} (this: {a in grp.members})"
            if grp
            else "no topic group"
        )
        print(
            f"  {a} n={int(by.loc[a, 'n']):4d} reach_p={by.loc[a, 'p_reach_log']:.2f} "
            f"own_part={bool(own_by[a])} "
            f"request_pool={a in pool} own_pool={a in own_pool} p_own={by.loc[a, 'p_own']:.2g} "
            f"explained={by.loc[a, 'explained'] or '-'} | {desc}"
        )


def main(name: str) -> None:
    labels = load_labels(f"runs/cache/{name}.labels.jsonl")
    cap = capture(name)
    pair_table(cap, labels)
    missed(cap, labels)


if __name__ == "__main__":
    main(sys.argv[1])
