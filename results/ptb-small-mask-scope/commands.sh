#!/usr/bin/env bash
# DKP and pruning at 25x with one magnitude threshold for the dope / pruning masks of all
# four gate matrices (--mask-scope model) instead of one per matrix, fine-tuned exactly as
# results/ptb-small-equal-bytes/ (one epoch from the baseline, cosine lr from 1, masks
# annealed over the first half), from the seed-0 baseline of make paper, from the
# seed-1 baseline of results/ptb-small-equal-bytes/ and from a seed-2 baseline trained
# here. Run from the repository root with the venv active; two runs at a time, one
# thread each.
set -euo pipefail
PTB=${PTB:-../shared/data/ptb}
OUT=results/ptb-small-mask-scope
mkdir -p /tmp/msv
ft() {  # BASE, then the method's options
  local base=$1; shift
  dkgen train lm --data "$PTB" --size small --init-from "$base" --epochs 1 \
      --lr-schedule cosine --threads 1 --no-progress --mask-scope model "$@"
}
# The seed-2 baseline (the seed-1 one is results/ptb-small-equal-bytes/'s).
dkgen train lm --data "$PTB" --size small --method dense --seed 2 --threads 2 --no-progress \
    -o runs/ptb-small-seed2/baseline
cp runs/ptb-small-seed2/baseline/result.json "$OUT/result-seed2-baseline.json"
# Run folders: runs/scope/<run> from the seed-0 baseline, runs/scope/seedN-<run> from seed N.
for seed in 0 1 2; do
  base=runs/ptb-small/baseline; pre=
  [ "$seed" != 0 ] && base=runs/ptb-small-seed$seed/baseline && pre=seed$seed-
  ft $base --method dkp --ratio 25 --factors 100x4,8x50 -o "runs/scope/${pre}dkp-25-model" &
  ft $base --method pruned --ratio 25 -o "runs/scope/${pre}pruned-25-model" &
  wait
  # equal bytes: each kept weight also pays a 2-byte column index
  ft $base --method pruned --ratio 26.088 -o "runs/scope/${pre}pruned-equal-bytes-model"
done
for run in runs/scope/*; do
  cp "$run/result.json" "$OUT/result-$(basename "$run").json"
done
# The seed-0 runs' LSTM layers as int8 C on three Cortex-M cores under QEMU, as in
# results/ptb-small-factors/ (8 validation windows of 20 tokens, also the calibration).
for n in dkp-25-model pruned-25-model; do
  dkgen export "runs/scope/$n" -o "/tmp/msv/lstm-$n.onnx" --lstm-only --batch 8 --steps 20 --force
  dkgen verify "/tmp/msv/lstm-$n.onnx" --target cortex-m0,cortex-m4,cortex-m55 \
      --inputs "/tmp/msv/lstm-$n.npz" --dtype int8 --calib "/tmp/msv/lstm-$n.npz" --json \
      > "$OUT/verify-int8-$n.json"
done
# What the Kronecker term and the dope each carry in the trained DKPs (no retraining).
python scripts/dkp_parts.py runs/scope/dkp-25-model runs/scope/seed1-dkp-25-model \
    runs/ptb-small/dkp-25 > "$OUT/parts.jsonl"
# Twice the fine-tuning (two epochs, the masks annealed over the first), seed 0.
dkgen train lm --data "$PTB" --size small --init-from runs/ptb-small/baseline --epochs 2 \
    --lr-schedule cosine --threads 1 --no-progress --mask-scope model --method dkp \
    --ratio 25 --factors 100x4,8x50 -o runs/scope/dkp-25-model-2ep &
dkgen train lm --data "$PTB" --size small --init-from runs/ptb-small/baseline --epochs 2 \
    --lr-schedule cosine --threads 1 --no-progress --mask-scope model --method pruned \
    --ratio 25 -o runs/scope/pruned-25-model-2ep &
wait
for n in dkp-25-model-2ep pruned-25-model-2ep; do
  cp "runs/scope/$n/result.json" "$OUT/result-$n.json"
done
