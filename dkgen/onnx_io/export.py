"""Write an IR `Model` as an ONNX file that onnxruntime can run.

The graph runs whole sequences: a float input (time, batch, features) or int64 token ids
(time, batch), and one output (time, batch, out).  Structured weights are calls to the
`dkgen` function library feeding the standard operator that uses the weight (`LSTM`,
`GRU`, `RNN`, `MatMul`, `Gather`); biases and dense weights are ordinary initializers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dkgen import __version__
from dkgen.errors import DkgenError
from dkgen.fileio import atomic_write
from dkgen.ir.graph import (
    GRU,
    RECURRENT,
    RNN,
    Activation,
    Affine,
    Clip,
    Embedding,
    Layer,
    LeakyRelu,
    Linear,
    LogSoftmax,
    Model,
    Softmax,
)
from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    RowStackWeight,
    SparseWeight,
    Weight,
)
from dkgen.onnx_io.functions import DOMAIN, DOMAIN_VERSION, OPSET, all_functions

FORMAT_VERSION = "1"


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def init(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def const_ints(self, name: str, values: list[int]) -> str:
        return self.init(name, np.asarray(values, dtype=np.int64))

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, domain: str = "",
             **attrs: object) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))

    def weight(self, prefix: str, weight: Weight) -> str:
        """Emit `weight` as a (rows, cols) float tensor named `prefix`; return its name."""
        if isinstance(weight, DenseWeight):
            return self.init(prefix, weight.values)
        if isinstance(weight, KronWeight):
            names = [self.init(f"{prefix}.{chr(ord('A') + i)}", f) for i, f in enumerate(weight.factors)]
            # More than two factors: Kron(A, Kron(B, C)), which the importer reads back as
            # one product of all of them.
            b = names[-1]
            for i in range(len(names) - 2, 0, -1):
                inner = f"{prefix}.{''.join(chr(ord('A') + j) for j in range(i, len(names)))}"
                self.node("Kron", [names[i], b], [inner], f"{inner}.kron", DOMAIN)
                b = inner
            a = names[0]
            if weight.dope is None:
                self.node("Kron", [a, b], [prefix], f"{prefix}.kron", DOMAIN)
            else:
                idx = self.init(f"{prefix}.dope_index", weight.dope.index.reshape(-1, 1))
                val = self.init(f"{prefix}.dope_value", weight.dope.values)
                self.node("DopedKron", [a, b, idx, val], [prefix], f"{prefix}.doped_kron", DOMAIN)
            return prefix
        if isinstance(weight, LowRankWeight):
            u = self.init(f"{prefix}.U", weight.u)
            v = self.init(f"{prefix}.V", weight.v)
            self.node("LowRank", [u, v], [prefix], f"{prefix}.low_rank", DOMAIN)
            return prefix
        if isinstance(weight, SparseWeight):
            idx = self.init(f"{prefix}.index", weight.sparse.index.reshape(-1, 1))
            val = self.init(f"{prefix}.value", weight.sparse.values)
            shape = self.const_ints(f"{prefix}.shape", list(weight.shape))
            self.node("Sparse", [idx, val, shape], [prefix], f"{prefix}.sparse", DOMAIN)
            return prefix
        if isinstance(weight, RowStackWeight):
            names = [self.weight(f"{prefix}.part{i}", p) for i, p in enumerate(weight.parts)]
            self.node("Concat", names, [prefix], f"{prefix}.concat", axis=0)
            return prefix
        raise TypeError(f"no ONNX form for weight kind {weight.kind}")


def _emit_layer(g: _GraphBuilder, layer: Layer, x: str) -> str:
    n = layer.name
    if isinstance(layer, Embedding):
        table = g.weight(f"{n}.table", layer.table)
        g.node("Gather", [table, x], [f"{n}.out"], n, axis=0)
        return f"{n}.out"
    if isinstance(layer, Linear):
        w = g.weight(f"{n}.weight", layer.weight)
        g.node("Transpose", [w], [f"{n}.weight_t"], f"{n}.transpose", perm=[1, 0])
        g.node("MatMul", [x, f"{n}.weight_t"], [f"{n}.matmul"], n)
        bias = g.init(f"{n}.bias", layer.bias)
        g.node("Add", [f"{n}.matmul", bias], [f"{n}.out"], f"{n}.add")
        return f"{n}.out"
    if isinstance(layer, RECURRENT):
        axes0 = g.const_ints(f"{n}.axes0", [0])
        w = g.weight(f"{n}.w_ih", layer.w_ih)
        r = g.weight(f"{n}.w_hh", layer.w_hh)
        g.node("Unsqueeze", [w, axes0], [f"{n}.W"], f"{n}.unsqueeze_w")
        g.node("Unsqueeze", [r, axes0], [f"{n}.R"], f"{n}.unsqueeze_r")
        bias = g.init(f"{n}.B", np.concatenate([layer.b_ih, layer.b_hh])[None, :])
        attrs: dict[str, object] = {"hidden_size": layer.hidden_size}
        op = "RNN" if isinstance(layer, RNN) else "LSTM"
        if isinstance(layer, GRU):
            op = "GRU"
            attrs["linear_before_reset"] = int(layer.linear_before_reset)
        inputs = [x, f"{n}.W", f"{n}.R", bias]
        starts = layer.initial_states()
        if starts:
            # ONNX wants (1, batch, hidden): the vector expanded to the run's batch size, as
            # PyTorch's exporter sizes its zero states.
            g.node("Shape", [x], [f"{n}.x_shape"], f"{n}.shape")
            g.node("Gather", [f"{n}.x_shape", g.const_ints(f"{n}.batch_axis", [1])],
                   [f"{n}.batch"], f"{n}.gather", axis=0)
            g.node("Concat", [g.const_ints(f"{n}.dirs", [1]), f"{n}.batch",
                              g.const_ints(f"{n}.hid", [layer.hidden_size])], [f"{n}.state_shape"],
                   f"{n}.concat", axis=0)
            inputs.append("")  # sequence_lens
            for part in layer.state_parts:
                if part in starts:
                    v = g.init(f"{n}.{part}0", starts[part].reshape(1, 1, -1))
                    g.node("Expand", [v, f"{n}.state_shape"], [f"{n}.initial_{part}"], f"{n}.expand_{part}")
                    inputs.append(f"{n}.initial_{part}")
                else:
                    inputs.append("")
            while inputs[-1] == "":
                inputs.pop()
        g.node(op, inputs, [f"{n}.Y"], n, **attrs)
        # Y is (time, num_directions=1, batch, hidden): drop the direction axis.
        axes1 = g.const_ints(f"{n}.axes1", [1])
        g.node("Squeeze", [f"{n}.Y", axes1], [f"{n}.out"], f"{n}.squeeze")
        return f"{n}.out"
    if isinstance(layer, Clip):  # opset 11 on: the bounds are scalar inputs
        lo = g.init(f"{n}.min", np.asarray(layer.lo, np.float32))
        hi = g.init(f"{n}.max", np.asarray(layer.hi, np.float32))
        g.node("Clip", [x, lo, hi], [f"{n}.out"], n)
        return f"{n}.out"
    if isinstance(layer, LeakyRelu):
        g.node("LeakyRelu", [x], [f"{n}.out"], n, alpha=layer.alpha)
        return f"{n}.out"
    if isinstance(layer, Affine):
        mul = g.init(f"{n}.mul", layer.mul)
        add = g.init(f"{n}.add", layer.add)
        g.node("Mul", [x, mul], [f"{n}.scaled"], n)  # the importer names the layer after it
        g.node("Add", [f"{n}.scaled", add], [f"{n}.out"], f"{n}.add")
        return f"{n}.out"
    if isinstance(layer, LogSoftmax):
        g.node("LogSoftmax", [x], [f"{n}.out"], n, axis=-1)
        return f"{n}.out"
    if isinstance(layer, Activation):  # ONNX's operator of the same name
        g.node(layer.op.capitalize(), [x], [f"{n}.out"], n,
               **({"axis": -1} if isinstance(layer, Softmax) else {}))
        return f"{n}.out"
    raise TypeError(f"no ONNX form for layer {type(layer).__name__}")


def model_to_onnx(model: Model) -> onnx.ModelProto:
    """Build the ONNX model for `model` (numpy only; no torch)."""
    g = _GraphBuilder()
    if model.input.kind == "token":
        inp = helper.make_tensor_value_info(model.input.name, TensorProto.INT64, ["time", "batch"])
    else:
        inp = helper.make_tensor_value_info(model.input.name, TensorProto.FLOAT,
                                            ["time", "batch", model.input.size])
    x = model.input.name
    for layer in model.layers:
        x = _emit_layer(g, layer, x)
    g.node("Identity", [x], ["y"], "output")
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", "batch", model.output_size])
    graph = helper.make_graph(g.nodes, model.name, [inp], [out], initializer=g.initializers)
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
        functions=all_functions(),
        producer_name="dkgen",
        producer_version=__version__,
        ir_version=9,
    )
    meta = {
        "dkgen.format_version": FORMAT_VERSION,
        "dkgen.name": model.name,
        "dkgen.input_low": repr(float(model.input.low)),
        "dkgen.input_high": repr(float(model.input.high)),
    }
    meta.update({f"dkgen.meta.{k}": v for k, v in sorted(model.metadata.items())})
    helper.set_model_props(onnx_model, meta)
    return onnx_model


def save_onnx(model: Model, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write `model` to `path` atomically; refuse to overwrite without `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise DkgenError("exists; refusing to overwrite", path=path, fix="pass --force to replace it")
    proto = model_to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: tmp.write_bytes(proto.SerializeToString(deterministic=True)))
