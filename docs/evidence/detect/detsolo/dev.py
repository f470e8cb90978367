"""detsolo: score the cached development tables with the detgroups harness, the code on PYTHONPATH.

runs/cache -> /work/wt/detgate/runs/c2 (the 35 dev logs plus 2771-1100). Usage, from the worktree root::

    PYTHONPATH=$PWD python docs/evidence/detect/detsolo/dev.py solo          # this branch
    PYTHONPATH=/tmp/solo-base python docs/evidence/detect/detsolo/dev.py base  # main (a detached worktree)

Writes runs/ev/TAG/LOG.json; compare_dev.py compares two tags."""

import sys

sys.path.insert(0, "docs/evidence/detect/detgroups")

import harness  # noqa: E402

SMALL = [1, 2, 3, 4, 7, 404, 505, *range(2101, 2109), *range(2201, 2213)]
ALL = [
    "2771-1100",
    "2702-1100",
    "2701-1100",
    *[f"{s}-600" for s in (1, 2, 3, 4, 7, 2201)],
    *[f"{s}-220" for s in SMALL],
]


def main() -> None:
    for name in sys.argv[2:] or ALL:
        seed, benign = name.split("-")
        harness.score_one(sys.argv[1], int(seed), int(benign))
        print(name, flush=True)


if __name__ == "__main__":
    main()
