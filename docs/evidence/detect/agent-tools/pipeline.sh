#!/bin/bash
# Per seed: simulate (this branch), detect with main at 5ea5bdb ("base", unpacked with
# `git archive 5ea5bdb distillscope | tar -x -C runs/base`) and with this branch ("new").
# Scripts are copied from runs/ev/; run them from there.
cd "$(git rev-parse --show-toplevel)"
export OMP_NUM_THREADS=1
PY=/work/main/.venv/bin/python
for s in "$@"; do
  PYTHONPATH=$PWD nice -n 19 $PY runs/ev/sim.py ${BENIGN:-220} $s
  PYTHONPATH=$PWD/runs/base nice -n 19 $PY runs/ev/det.py base ${BENIGN:-220} $s
  PYTHONPATH=$PWD nice -n 19 $PY runs/ev/det.py new ${BENIGN:-220} $s
done
echo DONE
