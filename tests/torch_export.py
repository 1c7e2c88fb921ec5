"""PyTorch models written to ONNX as a user would (`torch.onnx.export(..., dynamo=False)`),
shared by the tests that read such files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def export_torch(module, x: np.ndarray, path: Path) -> np.ndarray:
    """Write `module` (put in eval mode) run on `x` to `path`, input "x", output "y"; return
    PyTorch's own output on `x`.  The exporter's warnings (RNNs with batch_first, the
    legacy exporter) are silenced."""
    import torch

    module.eval()
    feed = torch.from_numpy(np.asarray(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (feed,), str(path), input_names=["x"], output_names=["y"],
                          dynamo=False)
        with torch.no_grad():
            return module(feed).numpy()
