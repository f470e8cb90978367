#!/bin/bash
# The guard's default policy replayed on two fresh logs of issue 12's benchmark shape (simulated by helper detselfi
# for its fresh seeds 2851, 2852 with main's code; `simulate-traffic --design randomized --seed S --benign-users 1100
# --days 14 --scale 2.85`), main's code as landed (guard/risk.py unchanged since 6e3c0d9), PYTHONHASHSEED=1:
# first the score and policy alone, then with the offline detection of the same log loaded as the watch list
# (`--watch`, in force from the first exchange: every campaign "known" from the start, the optimistic case).
# usage: [SEEDS="2851 2852"] replay_fresh.sh SIM_ROOT OUT   (SIM_ROOT holds simS/ and detS-main/ from fresh_seeds.sh)
# (2881, 2882: drawn by helper detlone2 on 2026-12-08, replayed the same way after they were detected)
set -e
export OMP_NUM_THREADS=1 PYTHONHASHSEED=1
sims=$1; out=$2; mkdir -p "$out"
for S in ${SEEDS:-2851 2852}; do
  distillscope guard replay "$sims/sim$S/exchanges.jsonl" --out "$out/main_$S"
  distillscope guard replay "$sims/sim$S/exchanges.jsonl" --watch "$sims/det$S-main" --out "$out/watch_$S"
done
