#!/usr/bin/env bash
# DKP at 25x with Kronecker factor shapes of equal size but fewer multiply-accumulates,
# against the square-ish shapes of make paper and against pruning; then their LSTM layers
# as int8 C on three Cortex-M cores. Run from the repository root with the venv active,
# after make paper (runs/ptb-small/baseline, dkp-25 and pruned-25).
set -euo pipefail
PTB=${PTB:-../shared/data/ptb}
RUNS=runs/ptb-small-skinny
OUT=results/ptb-small-factors
for f in 200x2,4x100 100x4,8x50; do
  dkgen train lm --data "$PTB" --size small --method dkp --ratio 25 \
      --init-from runs/ptb-small/baseline --epochs 1 --lr-schedule cosine --factors "$f" \
      --threads 1 -o "$RUNS/dkp-25-${f//,/-}"
done
for run in runs/ptb-small/dkp-25 runs/ptb-small/pruned-25 "$RUNS/dkp-25-200x2-4x100" \
           "$RUNS/dkp-25-100x4-8x50"; do
  n=$(basename "$run")
  cp "$run/result.json" "$OUT/result-$n.json"
  dkgen export "$run" -o "/tmp/lstm-$n.onnx" --lstm-only --batch 8 --steps 20 --force
  dkgen verify "/tmp/lstm-$n.onnx" --target cortex-m0,cortex-m4,cortex-m55 \
      --inputs "/tmp/lstm-$n.npz" --dtype int8 --calib "/tmp/lstm-$n.npz" --json \
      > "$OUT/verify-int8-$n.json"
  dkgen verify "/tmp/lstm-$n.onnx" --target cortex-m4 --inputs "/tmp/lstm-$n.npz" --json \
      > "$OUT/verify-float32-$n.json"
done
