"""Development sweep of the piece join (coordination.join_pieces, scoring._join_pieces, in the code on
PYTHONPATH): score the cached feature tables of the development logs with the detgroups harness.

Usage, from the worktree root (runs/cache holds the detgate c2 tables plus 2791 and 2772 from prep.py)::

    PYTHONPATH=$PWD python docs/evidence/detect/detsplit/sweep.py split [LOG ...]      # this branch
    PYTHONPATH=runs/main python docs/evidence/detect/detsplit/sweep.py main [LOG ...]  # main (export)

Writes runs/ev/TAG/LOG.json and prints each log's summary line."""

import sys

sys.path.insert(0, "docs/evidence/detect/detgroups")

import harness  # noqa: E402

SMALL = [1, 2, 3, 4, 7, 404, 505, *range(2101, 2109), *range(2201, 2213)]
KEY = ["2771-1100", "2791-1100", "2702-1100", "2772-1100"]
ALL = [*KEY, "2701-1100", *[f"{s}-600" for s in (1, 2, 3, 4, 7, 2201)], *[f"{s}-220" for s in SMALL]]


def main() -> None:
    for name in sys.argv[2:] or ALL:
        seed, benign = name.split("-")
        harness.score_one(sys.argv[1], int(seed), int(benign))


if __name__ == "__main__":
    main()
