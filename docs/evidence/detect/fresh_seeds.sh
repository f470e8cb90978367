#!/bin/bash
# Fresh seeds of issue 12's benchmark shape, run once: simulate each seed with the old checkout's code (unless
# OUT/simSEED is there already), detect it with the old checkout (outputs OUT/detSEED-main) and with the new one
# (OUT/detSEED-LABEL), each importing its own code (python -P), under /usr/bin/time, and score both against the
# labels with detscale/score.py (OUT/rSEED-main.json, OUT/rSEED-LABEL.json).
# usage: fresh_seeds.sh OLD_CHECKOUT NEW_CHECKOUT LABEL OUT SEED[:BENIGN:SCALE]...
#        (default 1100 benign users at scale 2.85, 14 days: ~1,800-2,200 accounts, 0.5-0.7 M exchanges;
#         150:1.5 gives ~300 accounts); e.g. main from `git -C . worktree add --detach /tmp/base main`
set -e
old=$(realpath "$1"); new=$(realpath "$2"); label=$3; out=$(realpath -m "$4"); shift 4
PY=${PY:-/work/main/.venv/bin/python}
score=$(realpath "$(dirname "$0")/detscale/score.py")
export OMP_NUM_THREADS=1
mkdir -p "$out"
for spec in "$@"; do
  IFS=: read -r seed benign scale <<< "$spec"
  sim=$out/sim$seed
  [ -f "$sim/labels.jsonl" ] || PYTHONPATH=$old nice -n 5 "$PY" -P -m distillscope.cli simulate-traffic \
    --design randomized --seed "$seed" --benign-users "${benign:-1100}" --days 14 --scale "${scale:-2.85}" --out "$sim"
  for side in "main:$old" "$label:$new"; do
    who=${side%%:*}; src=${side#*:}; det=$out/det$seed-$who
    rm -rf "$det"
    PYTHONPATH=$src nice -n 5 /usr/bin/time -v "$PY" -P -m distillscope.cli detect "$sim/exchanges.jsonl" --out "$det" \
      > "$det.log" 2> "$det.time"
    PYTHONPATH=$src "$PY" -P "$score" "$sim" "$det" "$det.time" > "$out/r$seed-$who.json"
  done
  echo "done $seed $(date -u)"
done
