"""Development sweep of the members-apart design (coordination._members_apart, the barred quiet joins and the
one-sided pooled reach, all in the code on PYTHONPATH): score the 35 dev logs' cached feature tables with the
detgroups harness and print each peeled_null call of the round (group size, p, draws, mean kept).

Usage, from the worktree root (runs/cache as for drive.py)::

    PYTHONPATH=$PWD python docs/evidence/detect/detcalib/members_apart.py fin     # this branch
    PYTHONPATH=/tmp/main python docs/evidence/detect/detcalib/members_apart.py base2   # main (export)

Writes runs/ev/TAG/LOG.json; collect.py gathers them into results.json."""

import sys

sys.path.insert(0, "docs/evidence/detect/detgroups")

import harness  # noqa: E402

from distillscope.detect import coordination as coord  # noqa: E402

SMALL = [1, 2, 3, 4, 7, 404, 505, *range(2101, 2109), *range(2201, 2213)]
ALL = ["2702-1100", *[f"{s}-600" for s in (1, 2, 3, 4, 7, 2201)], *[f"{s}-220" for s in SMALL], "2701-1100"]
ORIG = coord.peeled_null


def peeled_null(group, pool, reference, space, by, *rest):
    out = ORIG(group, pool, reference, space, by, *rest)
    p, drawn, hits, mean = out
    print(
        f"peeled_null g={len(group)} pool={len(pool)} ref={len(reference)}",
        f"p={p:.3g} {drawn=} {hits=} {mean=:.2f}",
    )
    return out


def main() -> None:
    coord.peeled_null = peeled_null
    for name in sys.argv[2:] or ALL:
        seed, benign = name.split("-")
        harness.score_one(sys.argv[1], int(seed), int(benign))


if __name__ == "__main__":
    main()
