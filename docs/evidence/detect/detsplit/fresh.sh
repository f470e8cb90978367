#!/bin/bash
# detsplit: fresh seeds 2801, 2802 (benchmark shape), run once after the design was frozen and committed, and
# 2791 (development) for the whole-detect CPU of main and detsplit on one log.
# main exported with: git -C /work/main archive 33f7b8b | tar -x -C runs/main
# simulated with main's code (--design randomized --benign-users 1100 --days 14 --scale 2.85), detected by
# main's detector (run from the export, importing main's code) and by detsplit's (this worktree), the same
# logs, scored with detscale/score.py
set -e
W=/work/wt/detsplit
cd $W
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
MAIN=$W/runs/main
d=$W/runs/fresh
mkdir -p $d
ln -sfn /work/wt/detgate/runs/fresh/sim2791 $d/sim2791
for seed in ${SEEDS:-2801 2802 2791}; do
  [ -f $d/sim$seed/labels.jsonl ] || (cd $MAIN && PYTHONPATH=$MAIN nice -n 5 $PY -m distillscope.cli simulate-traffic --design randomized --seed $seed --benign-users 1100 --days 14 --scale 2.85 --out $d/sim$seed)
  for who in main split; do
    if [ $who = main ]; then src=$MAIN; else src=$W; fi
    rm -rf $d/det$seed-$who
    (cd $src && PYTHONPATH=$src nice -n 5 /usr/bin/time -v $PY -c "import distillscope.detect.scoring as c, sys; print(c.__file__, file=sys.stderr); from distillscope.cli import main; sys.argv=['distillscope','detect','$d/sim$seed/exchanges.jsonl','--out','$d/det$seed-$who']; main()" > $d/det$seed-$who.log 2> $d/det$seed-$who.time)
    (cd $src && PYTHONPATH=$src $PY $W/docs/evidence/detect/detscale/score.py $d/sim$seed $d/det$seed-$who $d/det$seed-$who.time > $d/r$seed-$who.json)
  done
  echo done $seed $(date -u)
done
