#!/usr/bin/env bash
# Methods as arms at equal teacher dollars, 4 seeds, auto:15 student, tasks the teacher can do:
# sft, topk-kd and on-policy (fourth round; the third round ran METHODS=sft,on-policy NAME=onpolicy_curve;
# the fifth ran METHODS=sft BUDGETS=32,64 NAME=sft_curve, then warm_evidence.py --lr 5e-5 on its students).
# Data: PYTHONPATH=$PWD .venv/bin/python docs/evidence/train/task_pool.py 40 1   (pool + held-out prompts)
# Then this one command (resumable: trained students and their scores are reused). Several processes
# may share the out folder with PART=1 and their own SEEDS/METHODS (NO_UNTRAINED=1 in all but one);
# a last run without PART collects and copies the evidence.
# Long answers (sixth round): onpolicy_long_pool.py first, then
#   POOL=runs/evidence/longpool SAMPLE_TOKENS=128 MAX_NEW_TOKENS=128 NO_TASKS=1 METHODS=sft,on-policy,gkd \
#   OUT=runs/evidence/longcurve NAME=onpolicy_long ./docs/evidence/train/onpolicy_curve.sh
# (EXTRA passes more curve options, e.g. EXTRA="--divergence jsd --alpha 0.5").
# Seventh round (warm-gkd: SFT warm-up on half the answers, then forward KL on scored samples at
# temperature 0.7 mixed with SFT, each paid scored batch replayed once), same long pool:
#   POOL=runs/evidence/longpool SAMPLE_TOKENS=128 MAX_NEW_TOKENS=128 NO_TASKS=1 METHODS=sft,warm-gkd \
#   OUT=runs/evidence/warmgkd NAME=onpolicy_warm_gkd \
#   EXTRA="--divergence forward-kl --sample-temperature 0.7" ./docs/evidence/train/onpolicy_curve.sh
# Eighth round: onpolicy_r8.sh (PROMPTS names another prompt set, e.g. a validation split; DATA another
# dataset than $POOL/pool).
set -euo pipefail
TASKS="basic_arithmetic:min_terms=2:max_terms=2:max_digits=1:operators=+-:allow_parentheses=False:allow_negation=False"
TASKS+=",chain_sum:min_terms=2:max_terms=2:max_digits=1,products:max_digits=1,gcd:max_value=20"
[ -n "${NO_TASKS:-}" ] && TASKS=""
POOL=${POOL:-runs/evidence/taskpool}
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/evidence/opcurve}
NAME=${NAME:-arms_curve}
PYTHONPATH=$PWD nice -n 10 "$PYTHON" -m distillscope curve "pool=${DATA:-$POOL/pool}" \
  --out "$OUT" --methods "${METHODS:-sft,topk-kd,on-policy}" --budgets "${BUDGETS:-32}" \
  --seeds "${SEEDS:-0,1,2,3}" ${NO_UNTRAINED:+--no-untrained} \
  --student-layers auto:15 --lr 2e-4 --epochs 2 --batch-size 8 --threads 1 \
  --price-model gpt-4o-mini --sample-tokens "${SAMPLE_TOKENS:-32}" \
  --prompts "${PROMPTS:-$POOL/heldout}" --n 32 --max-new-tokens "${MAX_NEW_TOKENS:-24}" \
  --tasks "$TASKS" --task-size 8 --task-max-new-tokens 48 ${EXTRA:-}
[ -n "${PART:-}" ] && exit 0  # part of the runs (parallel processes): not the evidence
cp "$OUT/curve.json" "docs/evidence/train/$NAME.json"
cp "$OUT/curve.png" "docs/evidence/train/$NAME.png"
