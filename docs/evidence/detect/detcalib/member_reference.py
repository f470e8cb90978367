"""Diagnostic, not shipped (variant excl2 of results.json): the member test of a topic group against a
reference without the members of the *other* topic groups whose whole-group parameter test passes at alpha
(test_groups called twice; the group p-values stay the first call's), and the pooled reach of a group against
the bulk of the log (one-sided) instead of the whole log. Usage, from the worktree root:
PYTHONPATH=$PWD python docs/evidence/detect/detcalib/member_reference.py  (writes runs/ev/excl2/*.json)."""

import sys

sys.path.insert(0, "docs/evidence/detect/detgroups")

import harness  # noqa: E402

from distillscope.detect import calibrate as cal  # noqa: E402
from distillscope.detect import coordination as coord  # noqa: E402
from distillscope.detect import scoring  # noqa: E402

ORIG_TEST, ORIG_REF, ORIG_TAIL = coord.test_groups, coord.reference_sample, cal.robust_tail
EXCLUDE: set[str] = set()


def reference_sample(pool):
    return [a for a in ORIG_REF(pool) if a not in EXCLUDE]


def test_groups(groups, sig, space, grouped_on="ties", population=None, select_level=None):
    first = ORIG_TEST(
        groups, sig, space, grouped_on=grouped_on, population=population, select_level=select_level
    )
    if grouped_on != "topic" or select_level is None:
        return first
    passing = {a for g in first if g.p_playbook <= select_level for a in g.tied}
    if not passing:
        return first
    EXCLUDE.update(passing)
    try:
        second = ORIG_TEST(
            groups, sig, space, grouped_on=grouped_on, population=population, select_level=select_level
        )
    finally:
        EXCLUDE.clear()
    for a, b in zip(first, second, strict=True):
        if a.p_playbook <= select_level:
            a.members = b.members
    return first


def robust_tail(values, reference, scale_floor, one_sided=False):
    # one value: a group's pooled reach (scoring's three calls); against the bulk
    return ORIG_TAIL(values, reference, scale_floor, one_sided or len(values) == 1)


def main() -> None:
    coord.reference_sample = reference_sample
    coord.test_groups = scoring.coord.test_groups = test_groups
    cal.robust_tail = robust_tail
    small = [1, 2, 3, 4, 7, 404, 505, *range(2101, 2109), *range(2201, 2213)]
    logs = [
        (2702, 1100),
        *[(s, 600) for s in (1, 2, 3, 4, 7, 2201)],
        *[(s, 220) for s in small],
        (2701, 1100),
    ]
    for seed, benign in logs:
        harness.score_one("excl2", seed, benign)


if __name__ == "__main__":
    main()
