#!/bin/bash
# detgate: fresh seeds 2791, 2792 (benchmark shape), run once after the design was frozen and committed.
# main exported with: git archive 1591458 | tar -x -C runs/main
# simulate (with main's code), detect with main's detector (run from the export, importing main's code) and with
# detgate's (this worktree), score both with detscale/score.py
set -e
W=/work/wt/detgate
cd $W
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
MAIN=$W/runs/main
d=$W/runs/fresh
mkdir -p $d
# 2771 (development, already simulated by detcalib) last: whole-detect CPU before/after on the same log
ln -sfn /work/wt/detcalib/runs/fresh2/sim2771 $d/sim2771
for seed in 2791 2792 2771; do
  [ -f $d/sim$seed/labels.jsonl ] || (cd $MAIN && PYTHONPATH=$MAIN nice -n 5 $PY -m distillscope.cli simulate-traffic --design randomized --seed $seed --benign-users 1100 --days 14 --scale 2.85 --out $d/sim$seed)
  for who in main gate; do
    if [ $who = main ]; then src=$MAIN; else src=$W; fi
    rm -rf $d/det$seed-$who
    (cd $src && PYTHONPATH=$src nice -n 5 /usr/bin/time -v $PY -c "import distillscope.detect.scoring as c, sys; print(c.__file__, file=sys.stderr); from distillscope.cli import main; sys.argv=['distillscope','detect','$d/sim$seed/exchanges.jsonl','--out','$d/det$seed-$who']; main()" > $d/det$seed-$who.log 2> $d/det$seed-$who.time)
    (cd $src && PYTHONPATH=$src $PY $W/docs/evidence/detect/detscale/score.py $d/sim$seed $d/det$seed-$who $d/det$seed-$who.time > $d/r$seed-$who.json)
  done
  echo done $seed $(date -u)
done
