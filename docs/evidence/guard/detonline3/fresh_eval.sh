# main's code (git archive of 33f7b8b, run from /tmp so only it is importable) and this worktree's code
# (after runs/FROZEN exists), default policy, PYTHONHASHSEED=1; then determinism (rnd21, seeds 1 and 77)
export OMP_NUM_THREADS=1 PYTHONHASHSEED=1
R=/work/wt/detonline3/runs
while pgrep -f "bash runs/chain2.sh" >/dev/null || pgrep -f "bash runs/chain.sh" >/dev/null; do sleep 5; done
rm -rf $R/main_export && mkdir -p $R/main_export && git -C /work/wt/detonline3 archive 33f7b8b | tar -x -C $R/main_export
run() {  # side seed
  local side=$1 S=$2 code
  if [ $side = main ]; then code=$R/main_export; cd /tmp; else code=/work/wt/detonline3; cd /work/wt/detonline3; fi
  [ -f $R/${side}_$S/metrics.json ] && return
  PYTHONPATH=$code /usr/bin/time -f "user %U sys %S maxrss_kb %M wall %e" nice -n 5 /work/main/.venv/bin/python -c "import distillscope.guard.risk as r, sys; print('risk from', r.__file__, file=sys.stderr); from distillscope.cli import main; sys.argv=['distillscope','guard','replay','$R/fresh/sim$S/exchanges.jsonl','--out','$R/${side}_$S']; main()" > $R/${side}_$S.log 2>&1
  date -u >> $R/fresh_eval.out
}
run main 2821; run main 2822
while [ ! -f $R/FROZEN ]; do sleep 5; done
echo "new $(git -C /work/wt/detonline3 rev-parse HEAD)" >> $R/fresh_eval.out
run new 2821; run new 2822
cd /work/wt/detonline3
for h in 1 77; do
  PYTHONHASHSEED=$h PYTHONPATH=/work/wt/detonline3 nice -n 5 /work/main/.venv/bin/python -m distillscope.cli guard replay /work/wt/detonline/runs/dev/rnd21/exchanges.jsonl --out runs/det${h}_rnd21 > runs/det${h}_rnd21.log 2>&1
done
echo done > $R/fresh_eval.done
