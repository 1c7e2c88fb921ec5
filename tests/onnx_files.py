"""ONNX files for the importer tests: PyTorch models written as a user would
(`torch.onnx.export(..., dynamo=False)`), small graphs built with onnx.helper, and a
model written back by dkgen's exporter and run by onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from dkgen.ir.graph import Model
from dkgen.onnx_io.export import model_to_onnx
from dkgen.onnx_io.importer import load_onnx


def export_torch(module, x: np.ndarray, path: Path, dynamic_batch: bool = False) -> np.ndarray:
    """Write `module` (put in eval mode) run on `x` to `path`, input "x", output "y" (with
    `dynamic_batch`, axis 0 of x of any size); return PyTorch's own output on `x`.  The
    exporter's warnings (RNNs with batch_first, the legacy exporter) are silenced."""
    import torch

    module.eval()
    feed = torch.from_numpy(np.asarray(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (feed,), str(path), input_names=["x"], output_names=["y"],
                          dynamo=False, dynamic_axes={"x": {0: "batch"}} if dynamic_batch else None)
        with torch.no_grad():
            return module(feed).numpy()


def graph_file(path: Path, nodes: list, inits: dict, opset: int = 18, features: int = 4) -> Path:
    """A graph of `nodes` from input "x" to output "y", both (time, batch, features), with
    float32 initialisers `inits` (name -> values), saved at `path`."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", "batch", features])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def run_onnxruntime(path: Path, x: np.ndarray, name: str | None = None) -> np.ndarray:
    """onnxruntime's first output of the file at `path` on `x`, fed to its input `name`
    (default: its first input)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {name or sess.get_inputs()[0].name: x})[0]


def written_back(model: Model, x: np.ndarray, path: Path) -> tuple[Model, onnx.ModelProto, np.ndarray]:
    """`model` through dkgen's exporter (checked by onnx's full checker) to `path`: the model
    read back, the file's proto, and onnxruntime's outputs on batch-major `x` (dkgen's
    files are time-major), batch-major again."""
    proto = model_to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    got = run_onnxruntime(path, np.swapaxes(x, 0, 1))
    return load_onnx(path), proto, np.swapaxes(got, 0, 1)
