"""Development sweep of the crowded-pool groups (coordination.crowded_groups, scoring._coordinated's round of
pools): score the cached feature tables with the detgroups harness (code on PYTHONPATH) and record every pool
group the behaviour tests saw (its size, the styles of its accounts, p-values, members kept).

Usage, from the worktree root (runs/cache holds the c2 tables, 2791, 2772 and 2812)::

    PYTHONPATH=$PWD python docs/evidence/detect/detpool/sweep.py pool [LOG ...]

Writes runs/ev/TAG/LOG.json (harness) and runs/ev/TAG/LOG.pools.json, prints one line per log."""

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, "docs/evidence/detect/detgroups")
sys.path.insert(0, "docs/evidence/detect/detsplit")

import harness  # noqa: E402
from sweep import ALL  # noqa: E402

from distillscope.detect import coordination as coord  # noqa: E402
from distillscope.detect import scoring  # noqa: E402
from distillscope.detect.evaluation import load_labels  # noqa: E402


def main() -> None:
    tag = sys.argv[1]
    for name in sys.argv[2:] or [*ALL, "2812-1100"]:
        seed, benign = name.split("-")
        dest = Path("runs/ev") / tag / f"{name}.pools.json"
        if dest.exists():
            continue
        st = {a: lab.get("style") for a, lab in load_labels(harness.CACHE / f"{name}.labels.jsonl").items()}
        seen = []
        orig = coord.test_groups

        def spy(*a, _orig=orig, _seen=seen, **k):
            out = _orig(*a, **k)
            if k.get("grouped_on") == "crowded":
                _seen.extend(out)
            return out

        scoring.coord.test_groups = spy
        try:
            harness.score_one(tag, int(seed), int(benign))
        finally:
            scoring.coord.test_groups = orig
        pools = [
            {
                "size": len(g.tied),
                "styles": dict(Counter(st.get(a) or "?" for a in g.tied)),
                "p_topic": g.p_topic,
                "p_playbook": g.p_playbook,
                "kept": dict(Counter(st.get(a) or "?" for a in g.members)),
            }
            for g in seen
        ]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(pools, indent=1))
        print(name, "pools:", json.dumps(pools), flush=True)


if __name__ == "__main__":
    main()
