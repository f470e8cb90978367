#!/bin/bash
# Detect's CPU on benchmark-shaped JSONL logs, two versions side by side (alternated on each log), and whether
# their outputs are byte-identical. (-P: the current directory is not put on the path, so each side imports its own checkout.)
# usage: side_by_side.sh OLD_CHECKOUT NEW_CHECKOUT LOG_DIR... (each LOG_DIR holds exchanges.jsonl, e.g. runs/sim2711
#        from docs/evidence/detect/detscale/run.sh 2711 1100 2.85); outputs and /usr/bin/time reports in runs/tp/
set -e
old=$1; new=$2; shift 2
PY=${PY:-/work/main/.venv/bin/python}
mkdir -p runs/tp
for log in "$@"; do
  s=$(basename "$log")
  for w in "$old" "$new"; do
    n=$(basename "$w")
    OMP_NUM_THREADS=1 PYTHONPATH=$w nice -n 5 /usr/bin/time -v "$PY" -P -m distillscope.cli detect "$log/exchanges.jsonl" \
      --out "runs/tp/${n}_$s" > "runs/tp/${n}_$s.log" 2> "runs/tp/${n}_$s.time"
    cpu=$(grep -E 'User time|System time' "runs/tp/${n}_$s.time" | awk '{s += $NF} END {print s}')
    echo "$s $n CPU-s $cpu exchanges $(wc -l < "$log/exchanges.jsonl")"
  done
  for f in accounts.jsonl campaigns.jsonl summary.md; do
    cmp -s "runs/tp/$(basename "$old")_$s/$f" "runs/tp/$(basename "$new")_$s/$f" && echo "$s $f identical" || echo "$s $f DIFFERENT"
  done
done
