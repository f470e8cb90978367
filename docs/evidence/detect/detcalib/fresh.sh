#!/bin/bash
# fresh seeds, run once: simulate with main's code, detect with main's detector and with detcalib's, score both
set -e
cd /work/wt/detcalib
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
for spec in "2755 1100 2.85" "2756 1100 2.85" "2757 150 1.5"; do
  set -- $spec; seed=$1; benign=$2; scale=$3
  d=runs/fresh
  PYTHONPATH=/work/main nice -n 5 $PY -m distillscope.cli simulate-traffic --design randomized --seed $seed --benign-users $benign --days 14 --scale $scale --out $d/sim$seed
  for who in main calib; do
    if [ $who = main ]; then pp=/work/main; else pp=/work/wt/detcalib; fi
    PYTHONPATH=$pp nice -n 5 /usr/bin/time -v $PY -m distillscope.cli detect $d/sim$seed/exchanges.jsonl --out $d/det$seed-$who > $d/det$seed-$who.log 2> $d/det$seed-$who.time
    PYTHONPATH=$pp $PY docs/evidence/detect/detscale/score.py $d/sim$seed $d/det$seed-$who $d/det$seed-$who.time > $d/r$seed-$who.json
  done
  echo done $seed $(date -u)
done
