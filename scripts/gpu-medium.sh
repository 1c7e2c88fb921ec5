#!/usr/bin/env bash
# The GPU checks and the medium (paper-size, 2x650) PTB comparison on a lent GPU machine, in
# one call: the CUDA checks (scripts/gpu_checks) run beside `scripts/paper.py --size
# medium`, which stops after PAPER_SECONDS (whatever finished by then is in the results).
# See docs/training.md.
#
#   scripts/gpu-medium.sh PTB_DIR OUT_DIR [PAPER_SECONDS]
#
# Writes OUT_DIR/{env.txt,tests.log,paper.log,gpu.csv,medium.tgz}; medium.tgz holds
# results/ptb-medium and each run's config, metrics, result and log (no checkpoints).
# Runs with the machine's own python3 and packages; set DKGEN_REVISION to the commit when
# the tree is a copy without .git.  SCRATCH=1 adds DKP and pruning trained from scratch
# (paper.py --scratch): two more 39-epoch runs beside the baseline.  A second call on the
# still-warm machine resumes the runs where the first left them (RUNS_DIR, by default
# runs/ptb-medium in the tree, is kept there).
set -u
ptb=$1
out=$2
budget=${3:-540}
# Inside the tree and ignored by git: the device tool keeps such paths between the calls
# on a warm machine, so a second call resumes the runs.
runs=${RUNS_DIR:-$PWD/runs/ptb-medium}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$out" "$runs"
runs=$(cd "$runs" && pwd)  # absolute: the packing below reads it from /

{
  date -u
  nvidia-smi -L
  python3 -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  nproc
} >"$out/env.txt" 2>&1

# GPU utilisation and memory every 5 s while the paper runs.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 >"$out/gpu.csv" 2>&1 &
smi=$!

# The comparison: the baseline beside the small dense model, then every fine-tune at once.
# A run that writes nothing for 1.5 min (one DKP run once hung on the first lease) gets its
# stack dumped to its log.txt and is restarted from its last epoch's checkpoint.
(
  timeout --signal=TERM "$budget" python3 scripts/paper.py --data "$ptb" --size medium \
    --out results/ptb-medium --runs "$runs" --device cuda --jobs 16 --checkpoint-every 1000000 \
    --stall-minutes 1.5 ${SCRATCH:+--scratch}
  echo "paper exit status $?"
) >"$out/paper.log" 2>&1 &
paper=$!

# The CUDA checks, and the training tests that run on the default device (CUDA here);
# TESTS=0 leaves them out (they slow the baseline's epochs from about 20 s to 30-40 s).
if [ "${TESTS:-1}" = 0 ]; then
  echo "tests left out (TESTS=0)" >"$out/tests.log"
else
  timeout 300 python3 -m pytest -q -p no:cacheprovider -n 4 scripts/gpu_checks \
    tests/train/test_lm_train.py tests/train/test_lm_methods.py tests/train/test_paper_smoke.py \
    >"$out/tests.log" 2>&1
  echo "tests exit status $?" >>"$out/tests.log"
fi

wait "$paper"
kill "$smi" 2>/dev/null
# Every run still going writes its Python stack to its log.txt (dkgen.train.runner handles
# SIGUSR1): a run that stopped making progress says where it stopped. Only the runners
# themselves: a torchrun launcher (whose command line names the runner too) would die of it.
pkill -USR1 -f '^[^ ]*python[^ ]*( -[^ ]+)* -m dkgen[.]train[.]runner '
# Let the run processes the timeout orphaned write what they were writing, then pack.
sleep 2
files=$(cd / && ls -d "${runs#/}"/*/{config.json,metrics.jsonl,result.json,log.txt} 2>/dev/null)
tar czf "$out/medium.tgz" results/ptb-medium -C / $files 2>>"$out/paper.log"
ls -la "$out"
