#!/bin/bash
# The follow-up runs of docs/training.md ("Is the gap between DKP and pruning real?" and the
# two-epoch CMR check), as they were run (two at a time, one thread each, on 2 idle cores).
# The committed figures were made from the seed-0 baseline of the previous `make paper`
# (results/ptb-small-previous; its runs are now runs/ptb-small-previous); rerun after a new
# `make paper`, they start from its baseline instead.  Each run folder's result.json records
# its configuration, revision and wall time; results.json here collects them.
set -e
D=${PTB:-../shared/data/ptb}
FT="--epochs 1 --lr-schedule cosine --anneal 0 0.5 --prune-every 20 --threads 1 --no-progress"

# A second baseline (seed 1; its first 3,500 steps ran as two gloo ranks, the rest as one
# process with two threads) and DKP / pruning from it.
dkgen train lm --data $D --seed 1 --threads 2 --no-progress -o runs/ptb-small-seed1/baseline
dkgen train lm --data $D --method dkp --ratio 25 --factors 20x20,40x10 \
    --init-from runs/ptb-small-seed1/baseline --seed 1 $FT -o runs/ptb-small-seed1/dkp-25
dkgen train lm --data $D --method pruned --ratio 25 \
    --init-from runs/ptb-small-seed1/baseline --seed 1 $FT -o runs/ptb-small-seed1/pruned-25

# Twice the fine-tuning budget, from the seed-0 baseline.
dkgen train lm --data $D --method dkp --ratio 25 --factors 20x20,40x10 \
    --init-from runs/ptb-small/baseline ${FT/--epochs 1/--epochs 2} -o runs/ptb-small-extra/dkp-25-2ep
dkgen train lm --data $D --method pruned --ratio 25 \
    --init-from runs/ptb-small/baseline ${FT/--epochs 1/--epochs 2} -o runs/ptb-small-extra/pruned-25-2ep

# Pruning at DKP's bytes (6,133 kept weights a matrix: 166,400 B against DKP's 166,408 B).
dkgen train lm --data $D --method pruned --ratio 26.088 \
    --init-from runs/ptb-small/baseline $FT -o runs/ptb-small-extra/pruned-equal-bytes

# CMR at the extremely sparse point (0.25% dope) with 4x the ablation's budget.
C="--method dkp --ratio 25 --factors 8x4,100x50 --dope-density 0.0025 --init-from runs/ptb-small/baseline"
dkgen train lm --data $D $C ${FT/--epochs 1/--epochs 2} -o runs/ptb-small-extra/abl-0.25pct-off-2ep
dkgen train lm --data $D $C ${FT/--epochs 1/--epochs 2} --cmr 0.3 --cmr-mode entry \
    -o runs/ptb-small-extra/abl-0.25pct-entry-2ep
dkgen train lm --data $D $C ${FT/--epochs 1/--epochs 2} --cmr 0.3 --cmr-mode example \
    -o runs/ptb-small-extra/abl-0.25pct-example-2ep
