#!/bin/bash
# detscale: simulate a log of the benchmark's shape and detect it with default settings, timed, then score.
# usage: run.sh SEED BENIGN SCALE   (benchmark shape: 1100 2.85; ~300 accounts: 150 1.5); outputs in runs/
set -e
seed=$1; benign=$2; scale=$3
export OMP_NUM_THREADS=1 PYTHONPATH=$PWD
PY=/work/main/.venv/bin/python
nice -n 5 $PY -m distillscope.cli simulate-traffic --design randomized --seed $seed --benign-users $benign \
  --days 14 --scale $scale --out runs/sim$seed
nice -n 5 /usr/bin/time -v $PY -m distillscope.cli detect runs/sim$seed/exchanges.jsonl --out runs/det$seed \
  > runs/det$seed.log 2> runs/det$seed.time
$PY docs/evidence/detect/detscale/score.py runs/sim$seed runs/det$seed runs/det$seed.time > runs/r$seed.json
