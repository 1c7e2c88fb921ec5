#!/usr/bin/env python3
"""`make paper`: DKP against every baseline on PTB (see dkgen/train/paper.py, docs/training.md).

    python scripts/paper.py --data ../shared/data/ptb --out results/ptb-small [--quick]

Resumable: rerun the same command after an interruption.
"""

import sys

from dkgen.train.paper import main

if __name__ == "__main__":
    sys.exit(main())
