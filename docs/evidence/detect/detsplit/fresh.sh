#!/bin/bash
# detsplit: fresh seeds 2801, 2802, run once after the design was frozen and committed, then 2791 (development,
# detgate's fresh log: link it to runs/fresh/sim2791 first) for the whole-detect CPU; main exported with:
# git -C /work/main archive 33f7b8b | tar -x -C runs/main; run from the repository root of the new checkout
exec "$(dirname "$0")/../fresh_seeds.sh" "${MAIN:-runs/main}" "${NEW:-$PWD}" split runs/fresh ${SEEDS:-2801 2802 2791}
