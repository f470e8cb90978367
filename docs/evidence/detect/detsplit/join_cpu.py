"""CPU of the piece join alone (coordination.join_pieces, user + system of this process) while scoring the
cached feature tables of the given development logs: join_cpu.py LOG ... (runs/cache as for sweep.py)."""

import pickle
import resource
import sys

from distillscope.detect import coordination as coord
from distillscope.detect import scoring

SPENT: list[float] = []
ORIG = coord.join_pieces


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(*args, **kwargs):
    start = cpu()
    out = ORIG(*args, **kwargs)
    SPENT.append(cpu() - start)
    return out


def main() -> None:
    scoring.coord.join_pieces = timed
    for name in sys.argv[1:]:
        with open(f"runs/cache/{name}.pkl", "rb") as f:
            tables = pickle.load(f)
        start = cpu()
        scoring.score(tables)
        print(f"{name}: score {cpu() - start:.2f} CPU-s, join_pieces {SPENT[-1]:.2f} CPU-s", flush=True)


if __name__ == "__main__":
    main()
