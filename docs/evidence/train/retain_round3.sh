#!/usr/bin/env bash
# Retention round 3 end to end (resumable: pools, students and scores already there are reused): round 2's
# greedy pool (400 distinct questions, 172 verified answers), the same auto:24 student, the same 3.0 epochs
# (65 steps), but the loss is top-k KD on the verified answers' top-20 log-probs (+ tail bucket) instead of
# SFT on their greedy tokens (METHOD, ALPHA: the registered arm, see docs/train.md "retention round 3").
# Run from the repository root:
#   PYTHON=.venv/bin/python docs/evidence/train/retain_round3.sh          (SEEDS=0,1,2,3 by default)
# Two processes side by side: NO_REPORT=1 SEEDS=1,3 ... & NO_REPORT=1 SEEDS=2 ... ; then REPORT_ONLY=1 ...
# The pilot's other arm: LABEL=g400-l24-mix METHOD=mixed ALPHA=0.5 SEEDS=0 NO_REPORT=1 ... (see the doc).
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
E=docs/evidence/train
POOL=runs/evidence/retain/greedy
METHOD=${METHOD:-topk-kd}
LABEL=${LABEL:-g400-l24-kd}
run() { PYTHONPATH=$PWD:$E nice -n 10 "$PYTHON" "$@"; }
[ -f runs/evidence/taskpool/heldout/exchanges.jsonl ] || run $E/task_pool.py 16 1
[ -f $POOL/exchanges.jsonl ] || run $E/retain_pool.py --total 400 --temperature 0 --out $POOL
run $E/retain_pool_summary.py $POOL
if [ -z "${REPORT_ONLY:-}" ]; then
  EPOCHS=$(run $E/retain_pool_summary.py $POOL --epochs-only)
  LABEL=$LABEL METHOD=$METHOD ALPHA=${ALPHA:-} DATA=$POOL LAYERS=auto:24 VERIFY=1 EPOCHS=$EPOCHS BUDGETS=400 \
    SEEDS=${SEEDS:-0,1,2,3} PYTHON=$PYTHON bash $E/retain_curve.sh
fi
[ -n "${NO_REPORT:-}" ] || run $E/retain_report.py --name l24_greedy_kd --arms $LABEL:400 \
  --previous l24_greedy:g400-l24:400 l24_verified:v400-l24-e2:400
