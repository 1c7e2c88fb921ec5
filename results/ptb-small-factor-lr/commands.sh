#!/usr/bin/env bash
# DKP at 25x, factors (100,4)x(8,50) with a 3.5% dope, fine-tuned exactly as make paper's
# dkp-25 (one epoch from the seed-0 baseline, cosine lr from 1) but with the Kronecker
# factors' learning rate a multiple of the run's (--factor-lr). Run from the repository
# root with the venv active; BASE is a finished `dkgen train lm --size small` run.
set -euo pipefail
PTB=${PTB:-../shared/data/ptb}
BASE=${BASE:-runs/ptb-small/baseline}
RUNS=${RUNS:-runs/flr}
OUT=results/ptb-small-factor-lr
ft() {
  dkgen train lm --data "$PTB" --size small --method dkp --ratio 25 --factors 100x4,8x50 \
      --init-from "$BASE" --epochs 1 --lr-schedule cosine --threads 1 --no-progress "$@"
}
for pair in "10 0.1" "2 4"; do  # two runs side by side, one thread each
  for s in $pair; do ft --factor-lr "$s" -o "$RUNS/dkp-narrow-flr$s" & done
  wait
done
for s in 0.1 2 4 10; do
  cp "$RUNS/dkp-narrow-flr$s/result.json" "$OUT/result-dkp-25-100x4-8x50-flr$s.json"
done
