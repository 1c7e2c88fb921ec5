#!/usr/bin/env bash
# Every method at the bytes of DKP at 25x (166,408 B of LSTM: float32 values and biases,
# 16-bit CSR indices of the dope), fine-tuned as make paper's 25x runs (one epoch from
# the baseline, cosine lr from 1, mask/dope annealed over the first half); DKP with the
# (100,4)x(8,50) factors of results/ptb-small-factors. Then the same DKP and pruning
# pair from a second baseline (seed 1). Run from the repository root with the venv
# active; runs/ptb-small/baseline is make paper's seed-0 baseline.
set -euo pipefail
PTB=${PTB:-../shared/data/ptb}
OUT=results/ptb-small-equal-bytes
ft() {  # BASE, then the method's options
  local base=$1; shift
  dkgen train lm --data "$PTB" --size small --init-from "$base" --epochs 1 \
      --lr-schedule cosine --threads 1 --no-progress "$@"
}
# Pruning at equal bytes: each kept weight also pays a 2-byte column index, so 6,133
# weights a matrix instead of 6,400 (166,400 B).
ft runs/ptb-small/baseline --method pruned --ratio 26.088 -o runs/flr/pruned-equal-bytes
# The methods without indices at 16.667x (9,600 values a matrix, at most 166,400 B).
for m in lmf hmd kp; do
  ft runs/ptb-small/baseline --method "$m" --ratio 16.667 -o "runs/equal-bytes/$m-16.7"
done
# A second baseline (Zaremba small, 13 epochs, seed 1), then DKP and pruning from it.
dkgen train lm --data "$PTB" --size small --seed 1 --threads 1 --no-progress \
    -o runs/ptb-small-seed1/baseline
B1=runs/ptb-small-seed1/baseline
ft $B1 --method dkp --ratio 25 --factors 100x4,8x50 -o runs/ptb-small-seed1/dkp-25-100x4-8x50 &
ft $B1 --method pruned --ratio 25 -o runs/ptb-small-seed1/pruned-25 &
ft $B1 --method pruned --ratio 26.088 -o runs/ptb-small-seed1/pruned-equal-bytes &
wait
cp runs/flr/pruned-equal-bytes/result.json $OUT/result-seed0-pruned-equal-bytes.json
for m in lmf hmd kp; do cp "runs/equal-bytes/$m-16.7/result.json" "$OUT/result-seed0-$m-16.7.json"; done
for run in baseline dkp-25-100x4-8x50 pruned-25 pruned-equal-bytes; do
  cp "runs/ptb-small-seed1/$run/result.json" "$OUT/result-seed1-$run.json"
done
