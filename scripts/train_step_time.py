#!/usr/bin/env python3
"""Training speed per step: each method alone, then N runs of it at once on one device.

    python scripts/train_step_time.py --data .ptb --size medium --device cuda \
        --methods dense,dkp --procs 1,4 --steps 600

Sizes a GPU lease (docs/training.md, "On a GPU"): how long a recipe's epochs take when
`scripts/paper.py` shares the card between runs.  Each run is `python -m
dkgen.train.runner` on a throw-away folder, stopped after --steps; the time per step is
read from its metrics (the `elapsed` of its train records), leaving out the first log
interval (start-up, cuDNN's first calls).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from dkgen.train.lm import LOG_EVERY, RunConfig, prepare_run, read_metrics
from dkgen.train.paper import Job, runner_command


def step_ms(run_dir: Path) -> float:
    train = [r for r in read_metrics(run_dir) if r["event"] == "train"]
    if len(train) < 2:
        raise SystemExit(f"{run_dir}: fewer than two train records; raise --steps")
    first, last = train[0], train[-1]
    return 1000.0 * (last["elapsed"] - first["elapsed"]) / (last["step"] - first["step"])


def measure(data: str, size: str, method: str, procs: int, steps: int, device: str,
            root: Path) -> list[float]:
    extra = {} if method in ("dense", "small") else {"from_scratch": True}
    config = RunConfig(data=data, size=size, method=method,
                       ratio=None if method == "dense" else 25.0, max_steps=steps, **extra)
    dirs = [prepare_run(config, root / f"{method}-{procs}-{i}") for i in range(procs)]
    # The command scripts/paper.py starts each run with: one process, one thread.
    running = [subprocess.Popen(runner_command(Job(d.name, "main", lambda _: config), d,
                                               1_000_000, device),
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
               for d in dirs]
    codes = [p.wait() for p in running]
    if any(codes):
        raise SystemExit(f"{method} x{procs}: exit status {codes}")
    return [step_ms(d) for d in dirs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--size", default="medium")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--methods", default="dense,dkp")
    parser.add_argument("--procs", default="1,4", help="runs at once, comma-separated")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--json", dest="json_out", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.steps < 2 * LOG_EVERY:
        parser.error(f"--steps must be at least {2 * LOG_EVERY}")
    rows = []
    print("| method | runs at once | ms / step (mean over runs) | slowest run |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            for procs in (int(p) for p in args.procs.split(",")):
                ms = measure(args.data, args.size, method, procs, args.steps, args.device,
                             Path(tmp))
                rows.append({"method": method, "procs": procs, "ms_per_step": ms,
                             "size": args.size, "device": args.device, "steps": args.steps})
                print(f"| {method} | {procs} | {sum(ms) / len(ms):.1f} | {max(ms):.1f} |",
                      flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
