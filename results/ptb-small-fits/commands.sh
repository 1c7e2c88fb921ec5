#!/usr/bin/env bash
# The 25x fits of DKP and pruning before any fine-tuning, and a check that fine-tuning
# from a fixed baseline does not depend on the seed (the small recipe has no dropout, so a
# seed-1 fine-tune must give the seed-0 figures of results/ptb-small and
# results/ptb-small-factors). Run from the repository root with the venv active. BASE is
# a finished dense run of `dkgen train lm --size small` (here retrained at 9871649 with one
# thread: runs/ptb-small/baseline, valid 117.73 / test 113.41, the figures of
# results/ptb-small's two-thread baseline, to the last digit).
set -euo pipefail
PTB=${PTB:-../shared/data/ptb}
BASE=${BASE:-runs/ptb-small/baseline}
RUNS=${RUNS:-runs/ptb-small-seeds}
OUT=results/ptb-small-fits
SEEDS=${SEEDS:-1}

ft() {  # the fine-tuning of make paper's dkp-25 and pruned-25: 1 epoch, cosine lr
  dkgen train lm --data "$PTB" --size small --ratio 25 --init-from "$BASE" --epochs 1 \
      --lr-schedule cosine --threads 1 --no-progress "$@"
}
for seed in $SEEDS; do
  ft --method dkp --factors 100x4,8x50 --seed "$seed" -o "$RUNS/dkp-25-100x4-8x50-seed$seed" &
  ft --method pruned --seed "$seed" -o "$RUNS/pruned-25-seed$seed" &
  wait
done
# The fits themselves: the dope (pruning mask) starts at its final density, one step of a
# negligible learning rate, then valid and test perplexity.
ft --method dkp --factors 100x4,8x50 --initial-density 0.035 --max-steps 1 --lr 1e-9 \
    -o "$RUNS/dkp-25-100x4-8x50-no-ft"
ft --method dkp --factors 20x20,40x10 --initial-density 0.035 --max-steps 1 --lr 1e-9 \
    -o "$RUNS/dkp-25-20x20-40x10-no-ft"
ft --method pruned --initial-density 0.04 --max-steps 1 --lr 1e-9 -o "$RUNS/pruned-25-no-ft"
for run in "$RUNS"/*; do
  cp "$run/result.json" "$OUT/result-$(basename "$run").json"
done
