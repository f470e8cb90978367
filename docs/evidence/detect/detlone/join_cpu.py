"""CPU of the pool join alone (scoring._join_pool_users) inside one scoring of a cached log, and of the whole
scoring. Usage: PYTHONPATH=$PWD python docs/evidence/detect/detlone/join_cpu.py SEED ..."""

import pickle
import resource
import sys
from pathlib import Path

from distillscope.detect import scoring


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(seed: int) -> None:
    with open(Path("runs/cache") / f"{seed}.pkl", "rb") as fh:
        tables = pickle.load(fh)
    spent = [0.0]
    orig = scoring._join_pool_users

    def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
        t0 = cpu()
        orig(*a, **k)
        spent[0] += cpu() - t0

    scoring._join_pool_users = timed
    t0 = cpu()
    scoring.score(tables)
    print(seed, f"scoring {cpu() - t0:.2f} CPU-s, pool join {spent[0]:.2f}", flush=True)
    scoring._join_pool_users = orig


if __name__ == "__main__":
    for s in sys.argv[1:]:
        main(int(s))
