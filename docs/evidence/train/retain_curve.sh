#!/usr/bin/env bash
# Retention round: students of several sizes trained on up to the whole allowed budget (400 exchanges),
# optionally only on answers the task checker scores correct (--verify), scored like every curve since the
# third round (32 held-out prompts, 24 greedy tokens; 8 items a task of the task pool's four tasks).
# Data: PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/task_pool.py 16 1     (held-out prompts + the 64 of
#       earlier rounds) and PYTHONPATH=$PWD:docs/evidence/train .venv/bin/python docs/evidence/train/retain_pool.py
#       50 2  (400 addressed answers: 200 questions x 2 samples; its first 64 are task_pool's 64).
# One command per arm (resumable; students and scores are reused), e.g.
#   LABEL=v400-l24 DATA=runs/evidence/retain/pool LAYERS=auto:24 BUDGETS=400 VERIFY=1 SEEDS=0,1,2,3 retain_curve.sh
# LABEL names the arm (and its folder under OUT); every arm shares OUT's teacher caches.
# METHOD (default sft) and ALPHA pass --method/--alpha (retention round 3: METHOD=topk-kd, or mixed ALPHA=0.5).
# TARGET_T passes --target-temperature (retention round 4: top-k KD's teacher targets sharpened).
set -euo pipefail
TASKS="basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False"
TASKS+=",chain_sum:min_terms=2:max_terms=2:max_digits=1,products:max_digits=1,gcd:max_value=20"
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/evidence/retain/curve}
PYTHONPATH=$PWD nice -n 10 "$PYTHON" -m distillscope curve "${LABEL:?name the arm}=${DATA:-runs/evidence/retain/pool}" \
  --out "$OUT" --budgets "${BUDGETS:-400}" --seeds "${SEEDS:-0,1,2,3}" --no-untrained \
  --student-layers "${LAYERS:-auto:15}" --lr "${LR:-2e-4}" --epochs "${EPOCHS:-2}" --batch-size 8 --threads 1 \
  ${VERIFY:+--verify} --method "${METHOD:-sft}" ${ALPHA:+--alpha "$ALPHA"} ${TARGET_T:+--target-temperature "$TARGET_T"} --price-model gpt-4o-mini \
  --prompts runs/evidence/taskpool/heldout --n 32 --max-new-tokens 24 \
  --tasks "$TASKS" --task-size 8 --task-max-new-tokens 48
