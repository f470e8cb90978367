#!/bin/bash
# members-apart design, fresh seeds run once after the design was frozen and committed (main exported with:
# git archive 449d564 | tar -x -C /tmp/detcalib-main-449d564); run from the repository root of the new checkout
exec "$(dirname "$0")/../fresh_seeds.sh" "${MAIN:-/tmp/detcalib-main-449d564}" "${NEW:-$PWD}" calib runs/fresh2 2771 2772 2773:150:1.5
