#!/usr/bin/env bash
# Retention round 2 end to end (resumable: pools, students and scores already there are reused):
# greedy teacher answers on 400 distinct pool questions, auto:24 students trained on the verified ones for the
# registered epochs (retain_pool_summary.py: the most tenths of a pass in <= 66 steps), 4 seeds, then the tables
# against round 1's arm and the default. Run from the repository root:
#   PYTHON=.venv/bin/python docs/evidence/train/retain_round2.sh          (SEEDS=0,1,2,3 by default)
# Two seeds side by side (the machine's memory allows two 24-layer students): NO_REPORT=1 SEEDS=0,2 ... &
# NO_REPORT=1 SEEDS=1,3 ... (start the second once the first has written OUT's teacher caches), then
# REPORT_ONLY=1 ... for the tables.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
E=docs/evidence/train
POOL=runs/evidence/retain/greedy
run() { PYTHONPATH=$PWD:$E nice -n 10 "$PYTHON" "$@"; }
[ -f runs/evidence/taskpool/heldout/exchanges.jsonl ] || run $E/task_pool.py 16 1
[ -f $POOL/exchanges.jsonl ] || run $E/retain_pool.py --total 400 --temperature 0 --out $POOL
run $E/retain_pool_summary.py $POOL
if [ -z "${REPORT_ONLY:-}" ]; then
  EPOCHS=$(run $E/retain_pool_summary.py $POOL --epochs-only)
  LABEL=g400-l24 DATA=$POOL LAYERS=auto:24 VERIFY=1 EPOCHS=$EPOCHS BUDGETS=400 SEEDS=${SEEDS:-0,1,2,3} \
    PYTHON=$PYTHON bash $E/retain_curve.sh
fi
[ -n "${NO_REPORT:-}" ] || run $E/retain_report.py --name l24_greedy --arms g400-l24:400 --previous l24_verified:v400-l24-e2:400
