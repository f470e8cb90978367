"""detslow: would MiniLM centroids join the pieces of a slow-and-low campaign that TF-IDF leaves apart? Scores
the cached tables (runs/cache/NAME.pkl), captures join_pieces' arguments, embeds the pieces' members and the
reference accounts with the packaged MiniLM (embeddings.account_embeddings; DISTILLSCOPE_CACHE for the vector
cache), runs join_pieces with TF-IDF and with the vectors, then prints each piece's topic similarity to the
largest piece's union with everything TF-IDF joined to it, against random sets of its size, in both spaces.
Usage: joinmini.py NAME. It reads labels; the detector never does."""

import pickle
import resource
import sys
from collections import Counter

import numpy as np

from distillscope.detect import coordination as coord
from distillscope.detect import scoring
from distillscope.detect.embeddings import account_embeddings
from distillscope.detect.evaluation import load_labels


def main(name: str) -> None:
    with open(f"runs/cache/{name}.pkl", "rb") as f:
        tables = pickle.load(f)
    group = {a: lab["group"] for a, lab in load_labels(f"runs/cache/{name}.labels.jsonl").items()}
    c: dict = {}
    orig = coord.join_pieces

    def spy(campaigns, sig, samples, vectors, pool, machine_p=coord.MACHINE_P):
        c.update(campaigns=campaigns, sig=sig, samples=samples, pool=pool, machine_p=machine_p)
        return orig(campaigns, sig, samples, vectors, pool, machine_p)

    scoring.coord.join_pieces = spy
    scoring.score(tables)
    pieces = {cid: ms for cid, ms in c["campaigns"].items() if len(ms) >= coord.PIECE_MIN}
    members = sorted({a for ms in pieces.values() for a in ms})
    ref = [a for a in coord.reference_sample(c["pool"]) if a not in set(members)]
    names = members + ref
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    _, vec = account_embeddings({a: c["samples"].get(a, []) for a in names})
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    print(
        "pieces",
        len(pieces),
        "members",
        len(members),
        "reference",
        len(ref),
        "embedding CPU-s",
        round(cpu, 1),
    )
    for cid, ms in sorted(pieces.items(), key=lambda x: -len(x[1])):
        print(" ", cid, len(ms), dict(Counter(group[a] for a in ms)))
    v = {a: vec.get(a, np.zeros(384, dtype=np.float32)) for a in names}  # none missing on 2702
    tfidf = orig(c["campaigns"], c["sig"], c["samples"], None, c["pool"], c["machine_p"])
    mini = orig(c["campaigns"], c["sig"], c["samples"], v, c["pool"], c["machine_p"])
    print("joins, TF-IDF:", tfidf)
    print("joins, MiniLM:", mini)
    # the slow-and-low campaign's largest piece (labels: which campaign a piece holds)
    largest = max(pieces, key=lambda p: (group[pieces[p][0]].startswith("slow_and_low"), len(pieces[p])))
    big = sorted({a for p, ms in pieces.items() if p == largest or tfidf.get(p) == largest for a in ms})
    pos = {a: i for i, a in enumerate(names)}
    cols = np.array([pos[a] for a in big])
    ref_rows = np.arange(len(members), len(names))
    for label, vectors in (("tfidf", None), ("minilm", v)):
        topic = coord.PromptSpace.build(names, c["samples"], vectors).similarity(names)
        each = topic[np.ix_(ref_rows, cols)].mean(1)
        for cid, ms in pieces.items():
            if cid == largest or tfidf.get(cid) == largest or group[ms[0]] != group[big[0]]:
                continue
            rows = np.array([pos[a] for a in ms])
            p = coord._set_tail(topic, rows, cols, ref_rows, big + ms, 20000)
            print(
                f"{label} piece {cid} ({len(ms)}) to the joined {len(big)}: across "
                f"{topic[np.ix_(rows, cols)].mean():.3f}, random accounts {each.mean():.3f} "
                f"(SD {each.std():.3f}), "
                f"set p {p:.3g}"
            )


if __name__ == "__main__":
    main(sys.argv[1])
