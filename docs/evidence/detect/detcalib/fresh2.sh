#!/bin/bash
# members-apart design, fresh seeds run once after the design was frozen and committed:
# (main exported with: git archive 449d564 | tar -x -C /tmp/detcalib-main-449d564)
# simulate (with main's code), detect with main's detector (run from the export, importing main's code) and with
# detcalib's (this worktree), score both with detscale/score.py
set -e
cd /work/wt/detcalib
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
MAIN=/tmp/detcalib-main-449d564
W=/work/wt/detcalib
d=$W/runs/fresh2
mkdir -p $d
for spec in "2771 1100 2.85" "2772 1100 2.85" "2773 150 1.5"; do
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
