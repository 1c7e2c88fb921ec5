#!/usr/bin/env bash
# DKP at 25x with three and four Kronecker factors, fine-tuned exactly as
# results/ptb-small-mask-scope/ (one epoch from each dense baseline, cosine lr from 1,
# dope annealed over the first half, one magnitude threshold for all gate matrices),
# from the seed-0, seed-1 and seed-2 baselines there; then the fine-tuning's own noise
# (another --seed: none, below); then the seed-0 three-factor run's LSTM layers as int8 C under QEMU. Run from
# the repository root with the venv active; two runs at a time, one thread each.
set -euo pipefail
PTB=${PTB:-../shared/data/ptb}
OUT=results/ptb-small-three-factors
mkdir -p /tmp/msv
ft() {  # BASE, then the method's options
  local base=$1; shift
  dkgen train lm --data "$PTB" --size small --init-from "$base" --epochs 1 \
      --lr-schedule cosine --threads 1 --no-progress --mask-scope model "$@"
}
base() { [ "$1" = 0 ] && echo runs/ptb-small/baseline || echo "runs/ptb-small-seed$1/baseline"; }
pre() { [ "$1" = 0 ] && echo "" || echo "seed$1-"; }
ft "$(base 0)" --method dkp --ratio 25 --factors 10x5,10x5,8x8 -o runs/three/dkp-25-10x5-10x5-8x8 &
ft "$(base 1)" --method dkp --ratio 25 --factors 10x5,10x5,8x8 -o runs/three/seed1-dkp-25-10x5-10x5-8x8 &
wait
ft "$(base 2)" --method dkp --ratio 25 --factors 10x5,10x5,8x8 -o runs/three/seed2-dkp-25-10x5-10x5-8x8 &
ft "$(base 0)" --method dkp --ratio 25 --factors 4x5,4x5,5x4,10x2 -o runs/three/dkp-25-4x5-4x5-5x4-10x2 &
wait
ft "$(base 1)" --method dkp --ratio 25 --factors 4x5,4x5,5x4,10x2 -o runs/three/seed1-dkp-25-4x5-4x5-5x4-10x2 &
ft "$(base 2)" --method dkp --ratio 25 --factors 4x5,4x5,5x4,10x2 -o runs/three/seed2-dkp-25-4x5-4x5-5x4-10x2 &
wait
# The small recipe has no dropout: --seed changes nothing once the model is loaded from the
# baseline, so fine-tuning one baseline is deterministic (this equals
# results/ptb-small-mask-scope/result-pruned-25-model.json to the last digit).
ft "$(base 0)" --method pruned --ratio 25 --seed 1 -o runs/three/ftseed1-pruned-25
for run in runs/three/*/; do
  cp "$run/result.json" "$OUT/result-$(basename "$run").json"
done
dkgen export runs/three/dkp-25-10x5-10x5-8x8 -o /tmp/msv/lstm-dkp3.onnx --lstm-only --batch 8 --steps 20 --force
dkgen verify /tmp/msv/lstm-dkp3.onnx --target cortex-m0,cortex-m4,cortex-m55 \
    --inputs /tmp/msv/lstm-dkp3.npz --dtype int8 --calib /tmp/msv/lstm-dkp3.npz --json \
    > "$OUT/verify-int8-dkp-25-10x5-10x5-8x8.json"
# Twice the fine-tuning (two epochs, the dope / mask annealed over the first), as
# results/ptb-small-mask-scope/ did for the two-factor DKP and pruning on seed 0: the
# three-factor DKP on seeds 0, 1 and 2 and pruning on seeds 1 and 2 (the first three at a
# time on 2 cores, so their wall times are longer than alone).
ft2() {  # BASE, then the method's options
  local base=$1; shift
  dkgen train lm --data "$PTB" --size small --init-from "$base" --epochs 2 \
      --lr-schedule cosine --threads 1 --no-progress --mask-scope model "$@"
}
ft2 "$(base 0)" --method dkp --ratio 25 --factors 10x5,10x5,8x8 -o runs/three/dkp-25-10x5-10x5-8x8-2ep &
ft2 "$(base 1)" --method dkp --ratio 25 --factors 10x5,10x5,8x8 -o runs/three/seed1-dkp-25-10x5-10x5-8x8-2ep &
ft2 "$(base 1)" --method pruned --ratio 25 -o runs/three/seed1-pruned-25-2ep &
wait
# then seed 2, two at a time
ft2 "$(base 2)" --method dkp --ratio 25 --factors 10x5,10x5,8x8 -o runs/three/seed2-dkp-25-10x5-10x5-8x8-2ep &
ft2 "$(base 2)" --method pruned --ratio 25 -o runs/three/seed2-pruned-25-2ep &
wait
for run in runs/three/*-2ep/; do
  cp "$run/result.json" "$OUT/result-$(basename "$run").json"
done
