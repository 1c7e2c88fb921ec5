"""Train the run a folder's config.json describes: `python -m dkgen.train.runner RUN_DIR`.

What `dkgen.train.paper` starts for each run (also under torchrun), so a run is one
process whose configuration is on disk before it starts and whose resume needs nothing
but the folder.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys

from dkgen.errors import DkgenError
from dkgen.train.lm import read_config, train_lm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dkgen.train.runner")
    parser.add_argument("run_dir")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    # `kill -USR1` writes every thread's Python stack to the run's log.txt and carries on:
    # how a run that stopped making progress on a lent machine says where it is.
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    main_rank = int(os.environ.get("RANK", "0")) == 0
    try:
        config = read_config(args.run_dir)
        train_lm(config, args.run_dir, threads=args.threads,
                 checkpoint_every=args.checkpoint_every, progress=False, device=args.device,
                 log=(lambda s: print(s, flush=True)) if main_rank else None)
    except DkgenError as exc:
        print(f"dkgen: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
