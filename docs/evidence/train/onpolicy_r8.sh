#!/usr/bin/env bash
# Eighth round (docs/train.md, "Evidence, eighth round"): SFT's number of steps chosen on a validation
# split, then sft vs warm-gkd at that number of optimizer steps each, equal dollars, 4 seeds.
# Data first (as in the sixth and seventh rounds): onpolicy_long_pool.py 16.
#   STAGE=grid  : SFT, seed 0 (trained on pool exchanges 1-32), --epochs E for E in GRID (default 2 4 6),
#                 scored on the VALIDATION split: the prompts of pool exchanges 33-64 (never trained on by
#                 seed 0; the teacher's greedy answers <= 128 tokens, as for the held-out set). Prints the
#                 rule's choice: the E with the highest validation agreement (ties within 0.001: lower KL).
#   STAGE=main E=<chosen>: sft and warm-gkd, seeds 0-3, --epochs E --max-steps 4E (SFT's 4E steps over its
#                 32 answers; warm-gkd the same number of optimizer steps: its warm-up of E epochs over
#                 its 16 answers, then sampled + replayed mixed steps up to 4E), held-out judge.
#   STAGE=repro : the grid's E=2 seed-0 student (the same 32 exchanges, seed and calibration as `sft` seed 0)
#                 on the held-out set: must be the sixth/seventh rounds' 0.400 / 1.77.
set -euo pipefail
PY=${PYTHON:-.venv/bin/python}
POOL=runs/evidence/longpool
VALID=$POOL/valid
HERE=docs/evidence/train
# The curve never scores a prompt of its training dataset, so the grid trains on a copy of the first 32
# exchanges (seed 0's draw, the same student) and is scored on the other 32's prompts.
if [ ! -s "$POOL/pool32/exchanges.jsonl" ]; then
  mkdir -p "$VALID" "$POOL/pool32" && sed -n 33,64p "$POOL/pool/exchanges.jsonl" > "$VALID/exchanges.jsonl"
  sed -n 1,32p "$POOL/pool/exchanges.jsonl" > "$POOL/pool32/exchanges.jsonl"
  cp "$POOL/pool/manifest.json" "$POOL/pool32/"
fi
common() {  # OUT METHODS SEEDS EPOCHS PROMPTS [PART]
  local steps
  steps=$(python3 -c "import math; print(math.ceil($4 * 32 / 8))")
  POOL=$POOL SAMPLE_TOKENS=128 MAX_NEW_TOKENS=128 NO_TASKS=1 PYTHON=$PY OUT=$1 METHODS=$2 SEEDS=$3 \
    PROMPTS=$5 PART=${6:-} DATA=${DATA:-} NAME=${NAME:-onpolicy_r8} NO_UNTRAINED=${NO_UNTRAINED:-} \
    EXTRA="--divergence forward-kl --sample-temperature 0.7 --epochs $4 --max-steps $steps" \
    "$HERE/onpolicy_curve.sh"
}
case "${STAGE:-grid}" in
  grid)
    for E in ${GRID:-2 4 6}; do
      OUTE=runs/evidence/r8grid/e$E
      mkdir -p "$OUTE"
      [ -f runs/evidence/r8grid/teacher_reference.json ] && [ ! -f "$OUTE/teacher_reference.json" ] \
        && cp runs/evidence/r8grid/teacher_reference.json "$OUTE/"
      DATA=$POOL/pool32 NO_UNTRAINED=1 common "$OUTE" sft 0 "$E" "$VALID" 1
      cp "$OUTE/teacher_reference.json" runs/evidence/r8grid/teacher_reference.json
    done
    PYTHONPATH=$PWD "$PY" "$HERE/onpolicy_r8_choose.py" runs/evidence/r8grid ${GRID:-2 4 6} ;;
  repro)
    mkdir -p runs/evidence/r8repro/pool/sft && cp -rn runs/evidence/r8grid/e2/pool/sft/n32 runs/evidence/r8repro/pool/sft/
    [ -f runs/evidence/r8main/teacher_reference.json ] && cp -n runs/evidence/r8main/teacher_reference.json runs/evidence/r8repro/
    NO_UNTRAINED=1 DATA=$POOL/pool32 NAME=onpolicy_r8_repro common runs/evidence/r8repro sft 0 2 "$POOL/heldout" ;;
  main)  # one training process at a time, the arms interleaved seed by seed, then one collecting pass
    for S in ${SEEDS:-0 1 2 3}; do
      for M in warm-gkd sft; do
        NO_UNTRAINED=1 common runs/evidence/r8main "$M" "$S" "$E" "$POOL/heldout" 1
      done
    done
    NAME=onpolicy_r8 common runs/evidence/r8main sft,warm-gkd "${COLLECT:-0,1,2,3}" "$E" "$POOL/heldout" ;;
esac
