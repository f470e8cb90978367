#!/bin/bash
# detpool: fresh seeds (benchmark shape), run once after the design was frozen and committed (938964a; 2b3a272 after rebasing).
# simulate with main's code (worktree /tmp/pool-base at main), detect with main's detector and with detpool's,
# score both with detscale/score.py. Usage: fresh.sh SEED [SEED ...]; then the same for dev 2812 (CPU).
set -e
W=/work/wt/detpool
cd $W
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
MAIN=/tmp/pool-base
d=$W/runs/fresh
mkdir -p $d
for seed in "$@"; do
  [ -f $d/sim$seed/labels.jsonl ] || (cd $MAIN && PYTHONPATH=$MAIN nice -n 5 $PY -m distillscope.cli simulate-traffic --design randomized --seed $seed --benign-users 1100 --days 14 --scale 2.85 --out $d/sim$seed)
  for who in main pool; do
    if [ $who = main ]; then src=$MAIN; else src=$W; fi
    rm -rf $d/det$seed-$who
    (cd $src && PYTHONPATH=$src nice -n 5 /usr/bin/time -v $PY -c "import distillscope.detect.scoring as c, sys; print(c.__file__, file=sys.stderr); from distillscope.cli import main; sys.argv=['distillscope','detect','$d/sim$seed/exchanges.jsonl','--out','$d/det$seed-$who']; main()" > $d/det$seed-$who.log 2> $d/det$seed-$who.time)
    (cd $src && PYTHONPATH=$src $PY $W/docs/evidence/detect/detscale/score.py $d/sim$seed $d/det$seed-$who $d/det$seed-$who.time > $d/r$seed-$who.json)
  done
  echo done $seed $(date -u)
done
