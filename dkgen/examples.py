"""`dkgen example`: train a bundled example model and write it as ONNX.

Needs the `train` extra (torch, scikit-learn).  Beside the model it writes
`<model>.npz` holding the test inputs (`x`) and labels (`labels`), for
`dkgen verify --inputs`, and `<model>.calib.npz` holding 256 training inputs (`x`), for
`--dtype int8 --calib`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dkgen.errors import DkgenError
from dkgen.fileio import save_npz
from dkgen.ir.graph import Model
from dkgen.onnx_io.export import save_onnx
from dkgen.train import require_train_extra

EXAMPLES = ("digits-lstm",)


@dataclass
class ExampleResult:
    name: str
    model_path: Path
    data_path: Path
    calib_path: Path
    ir: Model
    accuracy: float
    compression: float
    train_seconds: float
    x_test: np.ndarray
    y_test: np.ndarray
    torch_probs: np.ndarray  # the PyTorch model's softmax outputs on x_test, (n, time, classes)
    training: object  # the trainer's full result (DigitsResult)

    def summary_line(self) -> str:
        return (f"wrote {self.model_path}, {self.data_path} (test set) and {self.calib_path} "
                f"(calibration set): {self.name}, test accuracy "
                f"{100 * self.accuracy:.2f}%, LSTM gate matrices {self.compression:.1f}x smaller "
                f"than dense, trained in {self.train_seconds:.1f} s")


def build_example(which: str, out_path: Path, *, seed: int = 0, force: bool = False) -> ExampleResult:
    """Train example `which`, write `out_path` (ONNX) and its test data beside it."""
    if which not in EXAMPLES:
        raise DkgenError(f"unknown example '{which}'", fix=f"choose one of {', '.join(EXAMPLES)}")
    out_path = Path(out_path)
    data_path = out_path.with_suffix(".npz")
    calib_path = out_path.with_suffix(".calib.npz")
    for p in (out_path, data_path, calib_path):
        if p.exists() and not force:
            raise DkgenError("exists; refusing to overwrite", path=p, fix="pass --force to replace it")
    require_train_extra()
    import torch

    from dkgen.train.digits import digits_model_to_ir, load_digits_split, train_digits
    start = time.perf_counter()
    result = train_digits(seed)
    seconds = time.perf_counter() - start
    ir = digits_model_to_ir(result)
    result.model.eval()
    with torch.no_grad():
        probs = torch.softmax(result.model(torch.from_numpy(result.x_test)), dim=-1).numpy()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_onnx(ir, out_path, force=force)
    save_npz(data_path, x=result.x_test.astype(np.float32), labels=result.y_test.astype(np.int64))
    x_train = load_digits_split(seed)[0]
    save_npz(calib_path, x=x_train[:256].astype(np.float32))
    return ExampleResult(which, out_path, data_path, calib_path, ir, result.accuracy, result.compression, seconds,
                         result.x_test, result.y_test, probs, result)
