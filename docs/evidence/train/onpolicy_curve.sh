#!/usr/bin/env bash
# Third round: on-policy vs SFT at equal teacher dollars, 4 seeds, auto:15 student, tasks the teacher can do.
# Data: PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/task_pool.py 40 1   (pool + held-out prompts)
# Then this one command (resumable: trained students and their scores are reused):
set -euo pipefail
TASKS="basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False"
TASKS+=",chain_sum:min_terms=2:max_terms=2:max_digits=1,products:max_digits=1,gcd:max_value=20"
PYTHON=${PYTHON:-.venv/bin/python}
PYTHONPATH=$PWD nice -n 10 "$PYTHON" -m distillscope curve pool=runs/evidence/taskpool/pool \
  --out "${OUT:-runs/evidence/opcurve}" --methods "${METHODS:-sft,on-policy}" --budgets "${BUDGETS:-32}" \
  --seeds "${SEEDS:-0,1,2,3}" ${NO_UNTRAINED:+--no-untrained} \
  --student-layers auto:15 --lr 2e-4 --epochs 2 --batch-size 8 --threads 1 \
  --price-model gpt-4o-mini --sample-tokens 32 \
  --prompts runs/evidence/taskpool/heldout --n 32 --max-new-tokens 24 \
  --tasks "$TASKS" --task-size 8 --task-max-new-tokens 48
[ -n "${OUT:-}${SEEDS:-}${METHODS:-}" ] && exit 0  # part of the runs (parallel processes): not the evidence
cp runs/evidence/opcurve/curve.json docs/evidence/train/onpolicy_curve.json
cp runs/evidence/opcurve/curve.png docs/evidence/train/onpolicy_curve.png
