"""detcalib driver: score the dev logs' cached feature tables with a calibration variant.

Usage (from the worktree root, with ``runs/cache`` holding the detgroups harness's tables and labels, plus
``2701-1100`` / ``2702-1100`` for the benchmark-shaped dev logs)::

    PYTHONPATH=$PWD python docs/evidence/detect/detcalib/drive.py TAG COLS [CUT] [small,big,dev]

COLS: comma list of the signals calibrated one-sided ("" = median/MAD everywhere, main's detector: with
``p_reach`` equal to ``p_reach_log`` the shipped code gives main's decisions; "reach" = the shipped
detector). CUT: ``calibrate.TRUNCATE_AT``. Writes ``runs/ev/TAG/LOG.json`` through
``docs/evidence/detect/detgroups/harness.py``. The variants G1/G2/G3/CM of results.json were code switches of
the session (see ``collect.py``), not reproducible with this file alone.
"""

import dataclasses
import sys

sys.path.insert(0, "docs/evidence/detect/detgroups")

import harness  # noqa: E402

from distillscope.detect import calibrate as cal  # noqa: E402
from distillscope.detect import scoring  # noqa: E402

SMALL = [1, 2, 3, 4, 7, 404, 505, *range(2101, 2109), *range(2201, 2213)]
BIG = [1, 2, 3, 4, 7, 2201]
DEV = [2701, 2702]


def main() -> None:
    tag, cols = sys.argv[1], [c for c in sys.argv[2].split(",") if c]
    cal.TRUNCATE_AT = float(sys.argv[3]) if len(sys.argv) > 3 else cal.TRUNCATE_AT
    which = sys.argv[4] if len(sys.argv) > 4 else "small,big,dev"
    scoring.SPECS = [dataclasses.replace(s, one_sided=s.column in cols) for s in scoring.SPECS]
    logs = []
    if "small" in which:
        logs += [(s, 220) for s in SMALL]
    if "big" in which:
        logs += [(s, 600) for s in BIG]
    if "dev" in which:
        logs += [(s, 1100) for s in DEV]
    for seed, benign in logs:
        harness.score_one(tag, seed, benign)


if __name__ == "__main__":
    main()
