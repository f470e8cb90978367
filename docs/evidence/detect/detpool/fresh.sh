#!/bin/bash
# detpool: fresh seeds, run once after the design was frozen and committed (938964a; 2b3a272 after rebasing),
# main from a worktree at main in /tmp/pool-base. Usage: fresh.sh SEED [SEED ...] (2831 2832, then dev 2812 for CPU)
exec "$(dirname "$0")/../fresh_seeds.sh" "${MAIN:-/tmp/pool-base}" "${NEW:-$PWD}" pool runs/fresh "$@"
