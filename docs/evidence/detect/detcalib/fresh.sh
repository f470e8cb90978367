#!/bin/bash
# (main exported with: git archive bb56720 | tar -x -C /tmp/detcalib-main)
# fresh seeds, run once: simulate (if not there yet), detect with main's detector (an export of main's commit,
# run from its own folder so that it imports main's code) and with detcalib's (this worktree), score both
set -e
cd /work/wt/detcalib
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
MAIN=/tmp/detcalib-main
W=/work/wt/detcalib
d=$W/runs/fresh
for spec in "2755 1100 2.85" "2756 1100 2.85" "2757 150 1.5"; do
  set -- $spec; seed=$1; benign=$2; scale=$3
  [ -f $d/sim$seed/labels.jsonl ] || (cd $MAIN && PYTHONPATH=$MAIN nice -n 5 $PY -m distillscope.cli simulate-traffic --design randomized --seed $seed --benign-users $benign --days 14 --scale $scale --out $d/sim$seed)
  for who in main calib; do
    if [ $who = main ]; then src=$MAIN; else src=$W; fi
    rm -rf $d/det$seed-$who
    (cd $src && PYTHONPATH=$src nice -n 5 /usr/bin/time -v $PY -c "import distillscope.detect.calibrate as c, sys; print(c.__file__, file=sys.stderr); from distillscope.cli import main; sys.argv=['distillscope','detect','$d/sim$seed/exchanges.jsonl','--out','$d/det$seed-$who']; main()" > $d/det$seed-$who.log 2> $d/det$seed-$who.time)
    (cd $src && PYTHONPATH=$src $PY $W/docs/evidence/detect/detscale/score.py $d/sim$seed $d/det$seed-$who $d/det$seed-$who.time > $d/r$seed-$who.json)
  done
  echo done $seed $(date -u)
done
