#!/bin/bash
# detgate: fresh seeds 2791, 2792, run once after the design was frozen and committed, then 2771 (development,
# detcalib's fresh2 log: link it to runs/fresh/sim2771 first) for the whole-detect CPU; main exported with:
# git archive 1591458 | tar -x -C runs/main; run from the repository root of the new checkout
exec "$(dirname "$0")/../fresh_seeds.sh" "${MAIN:-runs/main}" "${NEW:-$PWD}" gate runs/fresh 2791 2792 2771
