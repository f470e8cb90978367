#!/usr/bin/env bash
# Retention round 4 end to end (resumable: pools, students and scores already there are reused): round 3's
# top-k KD on the greedy pool's 172 verified answers (auto:24, lr 2e-4, batch 8), with the teacher's top-20
# (+ tail) targets sharpened by a target temperature fixed from the pool alone (retain_round4_target.py) and
# 2.4 epochs = 52 steps, what 550 of the 600 training CPU-s held on 2026-12-08's measured rate
# (docs/evidence/train/retain_round4_RULE.md: the registered design and verdict rule).
# Run from the repository root:
#   PYTHON=.venv/bin/python docs/evidence/train/retain_round4.sh          (SEEDS=0,1,2,3 by default)
# Two processes side by side: NO_REPORT=1 SEEDS=0,2 ... & NO_REPORT=1 SEEDS=1,3 ... ; then REPORT_ONLY=1 ...
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
E=docs/evidence/train
POOL=runs/evidence/retain/greedy
LABEL=${LABEL:-g400-l24-kdsharp}
EPOCHS=${EPOCHS:-2.4}
run() { PYTHONPATH=$PWD:$E nice -n 10 "$PYTHON" "$@"; }
[ -f runs/evidence/taskpool/heldout/exchanges.jsonl ] || run $E/task_pool.py 16 1
[ -f $POOL/exchanges.jsonl ] || run $E/retain_pool.py --total 400 --temperature 0 --out $POOL
run $E/retain_pool_summary.py $POOL
TAU=$(run $E/retain_round4_target.py $POOL --tau-only)
echo "target temperature (registered rule): $TAU; epochs $EPOCHS"
if [ -z "${REPORT_ONLY:-}" ]; then
  LABEL=$LABEL METHOD=topk-kd TARGET_T=$TAU DATA=$POOL LAYERS=auto:24 VERIFY=1 EPOCHS=$EPOCHS BUDGETS=400 \
    SEEDS=${SEEDS:-0,1,2,3} PYTHON=$PYTHON bash $E/retain_curve.sh
fi
[ -n "${NO_REPORT:-}" ] || run $E/retain_report.py --name l24_greedy_kdsharp --arms $LABEL:400 \
  --previous l24_greedy_kd:g400-l24-kd:400 l24_greedy:g400-l24:400
