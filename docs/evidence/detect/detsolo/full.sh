#!/bin/bash
# detsolo: whole `detect` on full logs with main's detector (a detached worktree of main, MAIN) and this
# branch's (this worktree), each run from its own tree so it imports its own code, CPU by /usr/bin/time,
# scored by detscale/score.py. Usage: full.sh TAG SIMDIR...  (writes runs/full/TAG-<sim>-{main,solo}.*)
set -e
W=/work/wt/detsolo
MAIN=${MAIN:-/tmp/solo-base}
PY=/work/main/.venv/bin/python
export OMP_NUM_THREADS=1
tag=$1; shift
d=$W/runs/full; mkdir -p $d
for sim in "$@"; do
  s=$(basename $sim)
  for who in main solo; do
    if [ $who = main ]; then src=$MAIN; else src=$W; fi
    out=$d/$tag-$s-$who
    rm -rf $out
    (cd $src && PYTHONPATH=$src nice -n 5 /usr/bin/time -v $PY -c "import distillscope.detect.scoring as c, sys; print(c.__file__, file=sys.stderr); from distillscope.cli import main; sys.argv=['distillscope','detect','$sim/exchanges.jsonl','--out','$out']; main()" > $out.log 2> $out.time)
    (cd $src && PYTHONPATH=$src $PY $W/docs/evidence/detect/detscale/score.py $sim $out $out.time > $out.json)
    echo "$tag $s $who $(date -u)"
  done
done
