#!/bin/bash
# detcalib, fresh seeds run once (main exported with: git archive bb56720 | tar -x -C /tmp/detcalib-main);
# run from the repository root of the new checkout
exec "$(dirname "$0")/../fresh_seeds.sh" "${MAIN:-/tmp/detcalib-main}" "${NEW:-$PWD}" calib runs/fresh 2755 2756 2757:150:1.5
