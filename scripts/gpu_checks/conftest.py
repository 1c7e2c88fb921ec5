"""Device checks for a GPU machine (scripts/gpu-medium.sh runs them there).

Not part of `make test` (pytest's testpaths is tests/): they need a CUDA GPU, and on a
machine without one they fail rather than skip. They share tests/train's helpers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "train"))
