"""Read an ONNX file into the IR, keeping structured weights compressed.

The importer walks the graph in order with a small symbolic evaluator: every tensor is a
constant (an initializer or something folded from initializers), a weight (a call to the
`dkgen` function library, possibly transposed or unsqueezed), an activation computed
from the model input, or a shape computed from an activation (which only ever sizes
all-zero initial states).  Operators on activations become IR layers; they must form one
chain, which is what dkgen's streaming C API runs.  Nothing in a model file is executed:
only the operators listed here are understood, anything else is a clean error.

Besides dkgen's own files this reads dense models as PyTorch's ONNX exporter
(`torch.onnx.export(..., dynamo=False)`) writes them: `batch_first` inputs (the Transposes
around the recurrent layers), zero initial states built by Shape/Gather/Concat/Expand,
stacked layers, `nn.Linear` as MatMul+Add or Gemm, `nn.Embedding` as Gather, and a
classifier head on the last timestep (`y[:, -1]`, a Gather on the time axis; `y[:, -1:]`, a
Slice that keeps it with length 1, squeezed later or not; or the final hidden state
`h_n[-1]`, a Gather or Squeeze of the LSTM/GRU/RNN's Y_h): the C library then gives that
head's output at every step, and the last step's is the model's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from dkgen.errors import DkgenError
from dkgen.ir.graph import (
    ACTIVATIONS,
    FLOAT32_MAX,
    GRU,
    LSTM,
    RNN,
    Affine,
    Clip,
    Embedding,
    InputSpec,
    Layer,
    LeakyRelu,
    Linear,
    LogSoftmax,
    Model,
    Softmax,
    batch_norm_affine,
)
from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    RowStackWeight,
    SparseDope,
    SparseWeight,
    Weight,
)
from dkgen.onnx_io.functions import DOMAIN

# What ONNX's LSTM and GRU compute without an `activations` attribute: the gates' sigmoid,
# then tanh (the LSTM's candidate and cell output; the GRU's candidate).
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                       "RNN": ["Tanh"]}
# Gate blocks stacked in each operator's W and R.
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# The Keras spelling of the fix when a layer names other activations.
_GATED_FIX = "train with sigmoid gates and tanh (Keras: recurrent_activation='sigmoid', activation='tanh')"
ACTIVATION_FIX = {
    "LSTM": _GATED_FIX,
    "GRU": _GATED_FIX,
    "RNN": "train with tanh (PyTorch: nn.RNN(nonlinearity='tanh'); Keras: SimpleRNN(activation='tanh'))",
}

@dataclass
class _Const:
    value: np.ndarray


@dataclass
class _WeightRef:
    weight: Weight
    transposed: bool = False
    stacked: bool = False  # unsqueezed to (1, rows, cols) for LSTM/GRU/RNN


@dataclass
class _Act:
    """An activation: `layer_index` is the layer that produced it (-1: the model input).

    time_axis: where the time axis is (0 or 1) once a recurrent layer has fixed it, None
    before (the model input may be either way round); last_step: only the last step is
    left, the time axis taken away (time_axis None) or kept with length 1 (`y[:, -1:]`).
    """

    layer_index: int
    size: int
    rnn_raw: bool = False  # LSTM/GRU/RNN Y output still carrying the num_directions axis
    time_axis: int | None = None
    last_step: bool = False

    def follow(self, layer_index: int, size: int) -> _Act:
        """The activation a feature-wise layer makes of this one: same axes."""
        return _Act(layer_index, size, time_axis=self.time_axis, last_step=self.last_step)

    @property
    def feature_axis(self) -> int:
        return 1 if self.last_step and self.time_axis is None else 2

    @property
    def has_timesteps(self) -> bool:
        """A recurrent layer's (time, batch, features) output, or a feature-wise layer's
        of it, from which a timestep can be picked."""
        return not self.rnn_raw and not self.last_step and self.time_axis is not None

    def is_time_axis(self, axis: int) -> bool:
        """Whether ONNX axis `axis` (negative counts from the end) of this 3-D activation
        is its time axis."""
        return self.time_axis is not None and axis % 3 == self.time_axis


@dataclass
class _FinalH:
    """The Y_h output of recurrent layers (their hidden state after the last step), stacked
    along axis 0 in this order by Concat: `layers` are their indices in the chain."""

    layers: list[int]
    size: int


@dataclass
class _Shape:
    """A tensor computed from an activation's shape (PyTorch's exporter sizes the initial
    states from the batch size this way)."""


@dataclass
class _Zeros:
    """An all-zero tensor of a shape computed at run time (an initial state)."""


@dataclass
class _Broadcast:
    """A constant expanded to a shape computed at run time (an initial state the same for
    every sequence of the batch)."""

    value: np.ndarray


# Operators that, on shapes computed at run time, compute a shape (see `shape_arithmetic`).
_SHAPE_ARITHMETIC = ("Reshape", "Mul", "Equal", "Where", "Cast")

# Graph names PyTorch's exporters give every model: the file's name says more.
_GENERIC_GRAPH_NAMES = ("main_graph", "torch_jit", "torch-jit-export")


class _Importer:
    def __init__(self, proto: onnx.ModelProto, path: Path) -> None:
        self.proto = proto
        self.path = path
        self.values: dict[str, object] = {}
        self.layers: list[Layer] = []

    def fail(self, node: onnx.NodeProto | None, message: str, fix: str | None = None) -> DkgenError:
        field = f"node '{node.name or node.op_type}' ({node.op_type})" if node is not None else None
        return DkgenError(message, path=self.path, field=field, fix=fix)

    # -- values -------------------------------------------------------------------------
    def get(self, node: onnx.NodeProto, name: str) -> object:
        if name not in self.values:
            raise self.fail(node, f"input '{name}' is not produced by any earlier node")
        return self.values[name]

    def const(self, node: onnx.NodeProto, name: str) -> np.ndarray:
        v = self.get(node, name)
        if not isinstance(v, _Const):
            raise self.fail(node, f"input '{name}' must be a constant")
        return v.value

    def weight_of(self, node: onnx.NodeProto, name: str, *, stacked: bool, transposed: bool) -> Weight:
        v = self.get(node, name)
        if isinstance(v, _Const):
            arr = v.value
            if stacked:
                if arr.ndim != 3 or arr.shape[0] != 1:
                    raise self.fail(node, f"weight '{name}' has shape {arr.shape}; only forward "
                                    "(one-direction) recurrent layers are supported")
                arr = arr[0]
            if arr.ndim != 2:
                raise self.fail(node, f"weight '{name}' must be a matrix, got shape {arr.shape}")
            return DenseWeight(arr.T if transposed else arr)
        if isinstance(v, _WeightRef):
            if v.stacked != stacked or v.transposed != transposed:
                raise self.fail(node, f"weight '{name}' is used in an unsupported layout")
            return v.weight
        raise self.fail(node, f"input '{name}' must be a weight, not an activation")

    def act(self, node: onnx.NodeProto, name: str) -> _Act:
        v = self.get(node, name)
        if not isinstance(v, _Act):
            raise self.fail(node, f"input '{name}' must be computed from the model input")
        if v.layer_index != len(self.layers) - 1:
            raise self.fail(node, "the graph is not a single chain of layers; dkgen's streaming "
                            "API needs each layer to consume the previous one")
        return v

    @staticmethod
    def layer_name(node: onnx.NodeProto, default: str) -> str:
        """The node's name, PyTorch's "/rnn/LSTM_1" written "rnn.LSTM_1" (the module path)."""
        return node.name.strip("/").replace("/", ".") or default

    def add_layer(self, layer: Layer, src: _Act) -> _Act:
        """Append `layer`, fed by `src`; its output keeps `src`'s axes."""
        self.layers.append(layer)
        return src.follow(len(self.layers) - 1, layer.out_size)

    # -- operators ------------------------------------------------------------------------
    def kron_factors(self, node: onnx.NodeProto, name: str) -> list[np.ndarray]:
        """A Kronecker call's factor input: a constant matrix, or the output of another
        `Kron` (a product of more than two factors is written Kron(A, Kron(B, C)))."""
        v = self.get(node, name)
        if isinstance(v, _WeightRef) and isinstance(v.weight, KronWeight) and v.weight.dope is None \
                and not v.stacked and not v.transposed:
            return list(v.weight.factors)
        f = self.const(node, name)
        if f.ndim != 2:
            raise self.fail(node, f"its factors must be matrices, got shape {f.shape} for '{name}'")
        return [f]

    def structured(self, node: onnx.NodeProto) -> None:
        arity = {"Kron": 2, "DopedKron": 4, "LowRank": 2, "Sparse": 3}.get(node.op_type)
        if arity is not None and len(node.input) != arity:
            raise self.fail(node, f"takes {arity} inputs, has {len(node.input)}")
        if node.op_type in ("Kron", "DopedKron"):
            factors = self.kron_factors(node, node.input[0]) + self.kron_factors(node, node.input[1])
            c = [self.const(node, n) for n in node.input[2:]]
        else:
            c = [self.const(node, n) for n in node.input]
        if node.op_type == "LowRank" and any(f.ndim != 2 for f in c[:2]):
            raise self.fail(node, "its factors must be matrices, got shapes "
                            f"{c[0].shape} and {c[1].shape}")
        try:
            if node.op_type == "Kron":
                w: Weight = KronWeight.of(factors)
            elif node.op_type == "DopedKron":
                rows = math.prod(f.shape[0] for f in factors)
                cols = math.prod(f.shape[1] for f in factors)
                w = KronWeight.of(factors, SparseDope(rows, cols, c[0].reshape(-1), c[1]))
            elif node.op_type == "LowRank":
                w = LowRankWeight(c[0], c[1])
            elif node.op_type == "Sparse":
                rows, cols = (int(s) for s in c[2])
                w = SparseWeight(SparseDope(rows, cols, c[0].reshape(-1), c[1]))
            else:
                raise self.fail(node, f"unknown dkgen function '{node.op_type}'",
                                "this file needs a newer dkgen")
        except ValueError as exc:
            raise self.fail(node, str(exc)) from None
        self.values[node.output[0]] = _WeightRef(w)

    def attr(self, node: onnx.NodeProto) -> dict[str, object]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def recurrent(self, node: onnx.NodeProto) -> None:
        attrs = self.attr(node)
        x = self.act(node, node.input[0])
        # Converters (tf2onnx among them) often spell out the default activations.
        named = [a.decode() if isinstance(a, bytes) else str(a) for a in attrs.get("activations", [])]
        default = DEFAULT_ACTIVATIONS[node.op_type]
        if named and [a.lower() for a in named] != [a.lower() for a in default]:
            raise self.fail(node, f"activations {named} are not supported (dkgen's cells compute "
                            f"{default})", ACTIVATION_FIX[node.op_type])
        for bad in ("clip", "activation_alpha", "activation_beta"):
            if bad in attrs:
                raise self.fail(node, f"attribute '{bad}' is not supported", "remove it")
        if attrs.get("direction", b"forward") not in (b"forward", "forward"):
            raise self.fail(node, "only forward recurrent layers are supported")
        if attrs.get("layout", 0) != 0 or attrs.get("input_forget", 0) != 0:
            raise self.fail(node, "layout=1 and input_forget are not supported")
        self.check_time_major(node, x)
        hidden = int(attrs["hidden_size"])
        roles = ("sequence_lens", "initial_h", "initial_c", "P (peepholes)")
        starts: dict[str, np.ndarray] = {}
        for role, name in zip(roles, node.input[4:], strict=False):
            v = self.get(node, name) if name else None
            if v is None or role != "sequence_lens" and (
                    isinstance(v, _Zeros) or isinstance(v, _Const) and not np.any(v.value)):
                continue  # absent, or zeros: what the C API starts every sequence from
            if role in ("initial_h", "initial_c") and isinstance(v, _Const | _Broadcast):
                starts[role] = self.initial_state(node, role, v.value, hidden)
                continue
            raise self.fail(node, f"{role} is supported only absent or constant",
                            "remove it, or make it a constant (the same for every sequence): "
                            "the C API keeps the state itself")
        w_ih = self.weight_of(node, node.input[1], stacked=True, transposed=False)
        w_hh = self.weight_of(node, node.input[2], stacked=True, transposed=False)
        gates = GATES[node.op_type]
        if len(node.input) > 3 and node.input[3]:
            b = self.const(node, node.input[3]).reshape(-1)
            if b.size != 2 * gates * hidden:
                raise self.fail(node, f"bias has {b.size} entries, expected {2 * gates * hidden}")
            b_ih, b_hh = b[: gates * hidden], b[gates * hidden:]
        else:
            b_ih = b_hh = None
        if w_ih.shape[1] != x.size:
            raise self.fail(node, f"input weight expects {w_ih.shape[1]} features, gets {x.size}")
        name = self.layer_name(node, f"{node.op_type.lower()}{len(self.layers)}")
        try:
            h0 = starts.get("initial_h")
            if node.op_type == "LSTM":
                layer: Layer = LSTM(name, hidden, w_ih, w_hh, b_ih, b_hh, h0=h0, c0=starts.get("initial_c"))
            elif node.op_type == "RNN":
                layer = RNN(name, hidden, w_ih, w_hh, b_ih, b_hh, h0=h0)
            else:
                lbr = attrs.get("linear_before_reset", 0)
                if lbr not in (0, 1):
                    raise self.fail(node, f"linear_before_reset is {lbr}; ONNX allows 0 or 1")
                layer = GRU(name, hidden, w_ih, w_hh, b_ih, b_hh, h0=h0, linear_before_reset=lbr == 1)
        except ValueError as exc:
            raise self.fail(node, str(exc)) from None
        out = self.add_layer(layer, x)
        out.rnn_raw, out.time_axis = True, 0
        self.values[node.output[0]] = out
        if len(node.output) > 1 and node.output[1]:
            self.values[node.output[1]] = _FinalH([out.layer_index], hidden)
        for extra_out in node.output[2:]:
            if extra_out:
                self.values[extra_out] = _Act(-2, hidden)  # Y_c: not part of the chain

    def shape_arithmetic(self, node: onnx.NodeProto) -> bool:
        """PyTorch's `h0.expand(-1, x.size(0), -1)` computes the target shape with Reshape,
        ConstantOfShape, Mul, Equal and Where on the input's shape: a run-time shape again."""
        vals = [self.values.get(n) for n in node.input if n]
        if node.op_type != "Mul" and vals and all(isinstance(v, _Const) for v in vals):
            # The same with a fixed batch size: fold it (Mul folds in `arith`).
            a = [v.value for v in vals]
            if node.op_type == "Reshape":
                dims = [int(d) if d != 0 else a[0].shape[i] for i, d in enumerate(a[1].reshape(-1))]
                out = a[0].reshape(dims)
            elif node.op_type == "Equal":
                out = np.equal(a[0], a[1])
            elif node.op_type == "Where":
                out = np.where(a[0], a[1], a[2])
            else:  # Cast
                out = a[0].astype(onnx.helper.tensor_dtype_to_np_dtype(self.attr(node)["to"]))
            self.values[node.output[0]] = _Const(np.asarray(out))
            return True
        if not any(isinstance(v, _Shape | _Zeros) for v in vals) or not all(
                isinstance(v, _Const | _Shape | _Zeros) for v in vals):
            return False
        self.values[node.output[0]] = _Shape()
        return True

    def initial_state(self, node: onnx.NodeProto, role: str, value: np.ndarray, hidden: int) -> np.ndarray:
        """A constant initial state, (num_directions = 1, batch, hidden) or broadcast to it,
        as the one vector every sequence starts from."""
        v = np.asarray(value, np.float64)
        if v.ndim > 3 or v.shape[-1:] != (hidden,) or (v.ndim == 3 and v.shape[0] != 1):
            raise self.fail(node, f"{role} has shape {v.shape}, expected (1, batch, {hidden})")
        rows = v.reshape(-1, hidden)
        if not np.all(rows == rows[0]):
            raise self.fail(node, f"{role} differs between the sequences of the batch",
                            "give every sequence the same initial state: the C API starts each "
                            "sequence from one")
        return rows[0]

    def matmul(self, node: onnx.NodeProto) -> None:
        x = self.act(node, node.input[0])
        v = self.get(node, node.input[1])
        if isinstance(v, _WeightRef) and v.transposed:
            weight = v.weight
        elif isinstance(v, _Const) and v.value.ndim == 2:
            weight = DenseWeight(v.value.T)
        else:
            raise self.fail(node, "MatMul's second input must be a (in, out) matrix")
        if weight.shape[1] != x.size:
            raise self.fail(node, f"weight takes {weight.shape[1]} inputs but receives {x.size}")
        self.values[node.output[0]] = self.add_layer(
            Linear(self.layer_name(node, f"linear{len(self.layers)}"), weight), x)

    def gemm(self, node: onnx.NodeProto) -> None:
        attrs = self.attr(node)
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            raise self.fail(node, "only Gemm with transA=0, alpha=beta=1 is supported")
        x = self.act(node, node.input[0])
        trans_b = bool(attrs.get("transB", 0))
        weight = self.weight_of(node, node.input[1], stacked=False, transposed=not trans_b)
        bias = self.const(node, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if weight.shape[1] != x.size:
            raise self.fail(node, f"weight takes {weight.shape[1]} inputs but receives {x.size}")
        layer = Linear(self.layer_name(node, f"linear{len(self.layers)}"), weight,
                       None if bias is None else np.broadcast_to(bias, (weight.shape[0],)))
        self.values[node.output[0]] = self.add_layer(layer, x)

    def arith(self, node: onnx.NodeProto) -> None:
        """Add / Sub / Mul / Div of the chain's activation and a constant: the bias of the
        Linear layer right before it (Add), else an `Affine` layer, consecutive ones merged
        into one (an input normalisation (x - mean) / std is one layer)."""
        op = node.op_type
        if len(node.input) != 2:
            raise self.fail(node, f"{op} takes 2 inputs, has {len(node.input)}")
        a, b = (self.get(node, n) for n in node.input)
        if isinstance(a, _Const) and isinstance(b, _Const):
            fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
            self.values[node.output[0]] = _Const(fn(a.value, b.value))
            return
        x_first = isinstance(a, _Act)
        act_name, const_name = (node.input[0], node.input[1]) if x_first else (node.input[1], node.input[0])
        if op == "Div" and not x_first:
            raise self.fail(node, "Div of a constant by the activation is not supported",
                            "divide the activation by a constant (x / c), or use a Linear layer")
        x = self.act(node, act_name)
        c = np.asarray(self.const(node, const_name), np.float64)
        if c.size != 1 and (c.shape[-1] != x.size or c.size != x.size):
            raise self.fail(node, f"constant of shape {c.shape} is not one value or one per "
                            f"feature ({x.size})", "broadcast it over the last (feature) axis only")
        c = np.broadcast_to(c.reshape(-1), (x.size,))
        mul, add = np.ones(x.size), np.zeros(x.size)
        if op == "Add":
            add = c
        elif op == "Sub":
            mul, add = (mul, -c) if x_first else (-mul, c)
        elif op == "Mul":
            mul = c
        else:
            with np.errstate(divide="ignore"):
                mul = 1.0 / c
        if not np.all(np.isfinite(mul)):
            raise self.fail(node, "division by zero", "divide by non-zero constants")
        self.affine(node, x, mul, add)

    def affine(self, node: onnx.NodeProto, x: _Act, mul: np.ndarray, add: np.ndarray) -> None:
        """y = x * mul + add per feature: into the bias of the Linear layer right before it
        (mul all 1), into the Affine layer right before it, or a new Affine layer."""
        last = self.layers[x.layer_index] if x.layer_index >= 0 else None
        if isinstance(last, Linear) and np.all(mul == 1.0):  # the Linear's bias, either order
            last.bias = (last.bias.astype(np.float64) + add).astype(np.float32)
            self.values[node.output[0]] = x
            return
        if isinstance(last, Affine):  # y = (x m + a) m2 + a2
            last.mul = (last.mul * mul).astype(np.float32)
            last.add = (last.add.astype(np.float64) * mul + add).astype(np.float32)
            self.values[node.output[0]] = x
            return
        self.values[node.output[0]] = self.add_layer(
            Affine(self.layer_name(node, "affine"), x.size, mul, add), x)

    def run(self) -> Model:
        graph = self.proto.graph
        for init in graph.initializer:
            self.values[init.name] = _Const(numpy_helper.to_array(init))
        inits = {i.name for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        if len(inputs) != 1:
            raise DkgenError(f"expected one model input, found {len(inputs)}", path=self.path,
                             field="graph.input")
        spec = self.input_spec(inputs[0])
        self.values[spec.name] = _Act(-1, spec.size)
        for node in graph.node:
            try:
                self.visit(node)
            except DkgenError:
                raise
            except (ValueError, IndexError, KeyError, TypeError) as exc:
                # A hostile or broken file reaches a case no check above names: still one
                # line naming the node, never a traceback.
                why = str(exc) if type(exc) is ValueError else f"malformed ({type(exc).__name__}: {exc})"
                raise self.fail(node, why) from None
        if len(graph.output) != 1:
            raise DkgenError(f"expected one model output, found {len(graph.output)}",
                             path=self.path, field="graph.output")
        out = self.values.get(graph.output[0].name)
        if not isinstance(out, _Act) or out.layer_index != len(self.layers) - 1 or out.rnn_raw:
            raise DkgenError("the output is not the end of the layer chain", path=self.path,
                             field="graph.output")
        meta = {p.key: p.value for p in self.proto.metadata_props}
        if "dkgen.input_low" in meta:
            spec.low, spec.high = float(meta["dkgen.input_low"]), float(meta["dkgen.input_high"])
        if spec.kind == "token" and self.layers and isinstance(self.layers[0], Embedding):
            spec.size = self.layers[0].in_size
        name = meta.get("dkgen.name") or (
            graph.name if graph.name not in _GENERIC_GRAPH_NAMES else "") or self.path.stem
        user_meta = {k[len("dkgen.meta."):]: v for k, v in meta.items() if k.startswith("dkgen.meta.")}
        try:
            return Model(name, spec, self.layers, user_meta)
        except ValueError as exc:
            raise DkgenError(str(exc), path=self.path, field="graph") from None

    def input_spec(self, vi: onnx.ValueInfoProto) -> InputSpec:
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if t.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) and len(dims) == 2:
            return InputSpec("token", 0, vi.name)  # vocabulary size comes from the embedding
        if t.elem_type == onnx.TensorProto.FLOAT and len(dims) == 3 and dims[2]:
            return InputSpec("vector", int(dims[2]), vi.name, 0.0, 1.0)
        raise DkgenError("input must be float (time, batch, features) or int64 token ids "
                         "(time, batch)", path=self.path, field=f"input '{vi.name}'")

    def visit(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        if node.domain == DOMAIN:
            return self.structured(node)
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(node, f"operator domain '{node.domain}' is not supported")
        if op in _SHAPE_ARITHMETIC and self.shape_arithmetic(node):
            return
        if op == "Constant":
            t = onnx.helper.get_attribute_value(node.attribute[0])
            if not isinstance(t, onnx.TensorProto):
                raise self.fail(node, "only tensor constants are supported")
            self.values[node.output[0]] = _Const(numpy_helper.to_array(t))
        elif op in ("LSTM", "GRU", "RNN"):
            self.recurrent(node)
        elif op == "MatMul":
            self.matmul(node)
        elif op == "Gemm":
            self.gemm(node)
        elif op in ("Add", "Sub", "Mul", "Div"):
            self.arith(node)
        elif op == "Concat":
            self.concat(node)
        elif op == "Identity":
            self.values[node.output[0]] = self.get(node, node.input[0])
        elif op == "Dropout":
            self.dropout(node)
        elif op == "BatchNormalization":
            self.batch_norm(node)
        elif op == "Transpose":
            self.transpose(node)
        elif op in ("Unsqueeze", "Squeeze"):
            self.squeeze(node)
        elif op == "Flatten":
            self.flatten(node)
        elif op == "Gather":
            self.gather(node)
        elif op == "Slice":
            self.slice(node)
        elif op == "Shape":
            v = self.get(node, node.input[0])
            self.values[node.output[0]] = (
                _Const(np.array(v.value.shape, np.int64)) if isinstance(v, _Const) else _Shape())
        elif op in ("Expand", "ConstantOfShape"):
            self.expand(node)
        elif op == "Clip":
            self.clip(node)
        elif op == "LeakyRelu":
            x = self.act(node, node.input[0])
            alpha = float(self.attr(node).get("alpha", 0.01))
            if not np.isfinite(alpha):
                raise self.fail(node, f"attribute alpha is {alpha}", "give LeakyRelu a finite alpha")
            self.values[node.output[0]] = self.add_layer(
                LeakyRelu(self.layer_name(node, "leaky_relu"), x.size, alpha), x)
        elif op in ("Relu", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"):
            x = self.act(node, node.input[0])
            if op in ("Softmax", "LogSoftmax") and self.attr(node).get("axis", -1) not in (-1, x.feature_axis):
                raise self.fail(node, f"{op} must run over the feature axis (-1)")
            cls = {"Softmax": Softmax, "LogSoftmax": LogSoftmax}.get(op) or ACTIVATIONS[op.lower()]
            self.values[node.output[0]] = self.add_layer(
                cls(self.layer_name(node, op.lower()), x.size), x)
        else:
            raise self.fail(node, f"operator {op} is not supported",
                            "supported: LSTM, GRU, RNN, MatMul, Gemm, Add/Sub/Mul/Div by "
                            "constants, BatchNormalization and Dropout (inference), Gather, Slice "
                            "(y[:, -1:]), Relu, Tanh, Sigmoid, Clip, LeakyRelu, Softmax, "
                            "LogSoftmax, the dkgen functions, and the Transpose/Squeeze/"
                            "Flatten/Shape/Expand plumbing of PyTorch's exporter")

    def clip(self, node: onnx.NodeProto) -> None:
        # Opset 11 on takes the bounds as optional inputs, before it as attributes; an absent
        # bound is the float type's lowest / largest value (ONNX's numeric_limits).
        x = self.act(node, node.input[0])
        attrs = self.attr(node)
        bounds = [float(attrs.get("min", -FLOAT32_MAX)), float(attrs.get("max", FLOAT32_MAX))]
        for k, name in enumerate(node.input[1:3]):
            if name:
                value = np.asarray(self.const(node, name))
                if value.size != 1:
                    raise self.fail(node, f"bound '{name}' has shape {value.shape}",
                                    "Clip's min and max must be scalars")
                bounds[k] = float(value.reshape(-1)[0])
        lo, hi = bounds
        if not lo <= hi:
            raise self.fail(node, f"min {lo:g} is not at most max {hi:g}",
                            "give Clip a min no larger than its max")
        self.values[node.output[0]] = self.add_layer(
            Clip(self.layer_name(node, "clip"), x.size, lo, hi), x)

    def batch_norm(self, node: onnx.NodeProto) -> None:
        """BatchNormalization at inference, over the feature axis: an `Affine` layer,
        y = (x - mean) / sqrt(var + epsilon) * scale + B, from its constant statistics."""
        attrs = self.attr(node)
        if attrs.get("training_mode", 0):
            raise self.fail(node, "BatchNormalization is in training mode",
                            "export the model in eval mode (model.eval() before torch.onnx.export)")
        if len(node.input) != 5 or len(node.output) != 1:
            raise self.fail(node, "only BatchNormalization at inference (5 inputs, 1 output) is supported",
                            "export the model in eval mode")
        x = self.act(node, node.input[0])
        if x.feature_axis != 1:
            raise self.fail(node, "BatchNormalization normalises axis 1, which is not the features here",
                            "apply it to (batch, features) activations (nn.BatchNorm1d after the last step)")
        scale, bias, mean, var = (np.asarray(self.const(node, n), np.float64).reshape(-1)
                                  for n in node.input[1:])
        if any(v.size != x.size for v in (scale, bias, mean, var)):
            raise self.fail(node, f"scale, B, mean and var must have one value per feature ({x.size})")
        try:
            mul, add = batch_norm_affine(mean, var, float(attrs.get("epsilon", 1e-5)), scale, bias)
        except ValueError as exc:
            raise self.fail(node, str(exc), "check scale, B, input_mean and input_var") from None
        self.affine(node, x, mul, add)

    def dropout(self, node: onnx.NodeProto) -> None:
        # At inference Dropout passes its input through; exporters leave it in graphs
        # saved from a training-mode model (training_mode true, or before opset 7 is_test
        # 0), where it would drop values at random: those are refused.
        training = self.attr(node).get("is_test", 1) == 0
        if len(node.input) > 2 and node.input[2]:
            training = bool(np.asarray(self.const(node, node.input[2])).reshape(-1)[0])
        if training:
            raise self.fail(node, "Dropout is in training mode",
                            "export the model in eval mode (model.eval() before torch.onnx.export)")
        # The mask output is left unset: a node that reads it fails as "not produced".
        self.values[node.output[0]] = self.get(node, node.input[0])

    def concat(self, node: onnx.NodeProto) -> None:
        vals = [self.get(node, n) for n in node.input]
        axis = int(self.attr(node).get("axis", 0))
        if any(isinstance(v, _Shape) for v in vals) and all(
                isinstance(v, _Const | _Shape) for v in vals):
            self.values[node.output[0]] = _Shape()
            return
        if vals and all(isinstance(v, _FinalH) for v in vals) and axis == 0:
            # h_n of a stack of layers, as PyTorch's exporter assembles it
            self.values[node.output[0]] = _FinalH([i for v in vals for i in v.layers],  # type: ignore[union-attr]
                                                  vals[-1].size)  # type: ignore[union-attr]
            return
        if all(isinstance(v, _Const) for v in vals):
            self.values[node.output[0]] = _Const(np.concatenate([v.value for v in vals], axis=axis))
            return
        if axis != 0 or not all(isinstance(v, _Const | _WeightRef) for v in vals):
            raise self.fail(node, "Concat is supported only to stack weight row blocks (axis 0)")
        parts = []
        for v in vals:
            if isinstance(v, _WeightRef):
                if v.stacked or v.transposed:
                    raise self.fail(node, "Concat parts must be plain matrices")
                parts.append(v.weight)
            elif v.value.ndim == 2:
                parts.append(DenseWeight(v.value))
            else:
                raise self.fail(node, "Concat parts must be matrices")
        try:
            self.values[node.output[0]] = _WeightRef(RowStackWeight(tuple(parts)))
        except ValueError as exc:
            raise self.fail(node, str(exc)) from None

    def transpose(self, node: onnx.NodeProto) -> None:
        v = self.get(node, node.input[0])
        perm = list(self.attr(node).get("perm", [1, 0]))
        if isinstance(v, _Const):
            self.values[node.output[0]] = _Const(np.transpose(v.value, perm))
        elif isinstance(v, _WeightRef) and perm == [1, 0] and not v.stacked:
            self.values[node.output[0]] = _WeightRef(v.weight, not v.transposed, False)
        elif isinstance(v, _Act) and perm == [1, 0, 2] and not v.rnn_raw and not v.last_step:
            x = self.act(node, node.input[0])  # (time, batch) <-> (batch, time)
            self.values[node.output[0]] = _Act(
                x.layer_index, x.size, time_axis=None if x.time_axis is None else 1 - x.time_axis)
        else:
            raise self.fail(node, f"Transpose with perm {perm} is supported only on matrices "
                            "and to swap the time and batch axes of an activation")

    def squeeze(self, node: onnx.NodeProto) -> None:
        v = self.get(node, node.input[0])
        axes = [int(a) for a in self.const(node, node.input[1])] if len(node.input) > 1 else None
        if axes is None:
            axes = [int(a) for a in self.attr(node).get("axes", [])]
        unsq = node.op_type == "Unsqueeze"
        if isinstance(v, _Const):
            arr = np.expand_dims(v.value, axes) if unsq else np.squeeze(v.value, tuple(axes))
            self.values[node.output[0]] = _Const(arr)
        elif isinstance(v, _Shape):
            self.values[node.output[0]] = _Shape()
        elif isinstance(v, _WeightRef) and unsq and axes == [0] and not v.stacked and not v.transposed:
            self.values[node.output[0]] = _WeightRef(v.weight, False, True)
        elif isinstance(v, _FinalH) and not unsq and axes == [0]:
            self.final_state(node, v, 0)
        elif isinstance(v, _Act) and not unsq and v.rnn_raw and axes == [1]:
            self.values[node.output[0]] = _Act(v.layer_index, v.size, time_axis=0)
        elif (isinstance(v, _Act) and not unsq and v.last_step and len(axes) == 1
              and v.is_time_axis(axes[0])):
            x = self.act(node, node.input[0])  # y[:, -1:].squeeze(1): the length-1 time axis
            self.values[node.output[0]] = _Act(x.layer_index, x.size, last_step=True)
        else:
            raise self.fail(node, f"{node.op_type} with axes {axes} is not supported here")

    def flatten(self, node: onnx.NodeProto) -> None:
        """Flatten (nn.Flatten) where it changes nothing the C computes: on (batch,
        features), or on y[:, -1:]'s (batch, 1, features), where it drops the time axis."""
        v = self.get(node, node.input[0])
        axis = int(self.attr(node).get("axis", 1))
        if isinstance(v, _Const):
            dims = v.value.shape
            cut = axis + len(dims) if axis < 0 else axis
            if not 0 <= cut <= len(dims):
                raise self.fail(node, f"axis {axis} is outside a {len(dims)}-D constant")
            self.values[node.output[0]] = _Const(v.value.reshape(int(np.prod(dims[:cut], dtype=np.int64)),
                                                                 int(np.prod(dims[cut:], dtype=np.int64))))
            return
        x = self.act(node, node.input[0])
        if x.last_step and x.time_axis is None and axis in (1, -1):
            self.values[node.output[0]] = x
        elif x.last_step and axis == 1 and x.is_time_axis(1):
            self.values[node.output[0]] = _Act(x.layer_index, x.size, last_step=True)
        else:
            raise self.fail(node, f"Flatten with axis {axis} of this activation is not supported",
                            "flatten the (batch, features) output of the last step (y[:, -1])")

    def gather(self, node: onnx.NodeProto) -> None:
        axis = int(self.attr(node).get("axis", 0))
        data, idx = self.get(node, node.input[0]), self.get(node, node.input[1])
        if isinstance(data, _Shape):
            self.values[node.output[0]] = _Shape()
            return
        if isinstance(data, _Const) and isinstance(idx, _Const):
            self.values[node.output[0]] = _Const(np.take(data.value, idx.value, axis=axis))
            return
        if isinstance(data, _Act):
            return self.last_step(node, axis, idx)
        if isinstance(data, _FinalH):
            if axis != 0 or not isinstance(idx, _Const) or idx.value.shape != ():
                raise self.fail(node, "Gather on a final hidden state must pick one layer's "
                                "(h_n[-1])")
            return self.final_state(node, data, int(idx.value))
        if axis != 0:
            raise self.fail(node, "Gather must index rows (axis=0)")
        if not isinstance(idx, _Act) or idx.layer_index != -1 or self.layers:
            raise self.fail(node, "Gather is supported only as the embedding of the input tokens")
        table = self.weight_of(node, node.input[0], stacked=False, transposed=False)
        self.values[node.output[0]] = self.add_layer(Embedding(self.layer_name(node, "embedding"), table), idx)

    def slice(self, node: onnx.NodeProto) -> None:
        """Slice folds on constants and shapes; on an activation it is `y[:, -1:]` (or
        `y[-1:]` time-major): the last step, its time axis kept with length 1."""
        data = self.get(node, node.input[0])
        if len(node.input) < 3:  # opset 1-9: starts, ends and axes are attributes
            attrs = self.attr(node)
            starts, ends = list(attrs.get("starts", [])), list(attrs.get("ends", []))
            axes = list(attrs.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts, ends = (list(map(int, self.const(node, n))) for n in node.input[1:3])
            axes = (list(map(int, self.const(node, node.input[3])))
                    if len(node.input) > 3 and node.input[3] else list(range(len(starts))))
            steps = (list(map(int, self.const(node, node.input[4])))
                     if len(node.input) > 4 and node.input[4] else [1] * len(starts))
        if isinstance(data, _Shape):
            self.values[node.output[0]] = _Shape()
            return
        if isinstance(data, _Const):
            index = [slice(None)] * data.value.ndim
            for a, b, e, st in zip(axes, starts, ends, steps, strict=True):
                index[a] = slice(b, e, st)
            self.values[node.output[0]] = _Const(data.value[tuple(index)])
            return
        x = self.act(node, node.input[0])
        if not x.has_timesteps:
            raise self.fail(node, "Slice on an activation is supported only to keep the last "
                            "timestep of a recurrent layer's output (y[:, -1:])")
        # "To the end" is INT64_MAX from PyTorch; any end past 2^31 cannot stop short of it.
        if (len(axes) != 1 or not x.is_time_axis(axes[0]) or starts != [-1] or steps != [1]
                or ends[0] < 2 ** 31 - 1):
            raise self.fail(node, f"Slice (starts {starts}, ends {ends}, axes {axes}) must keep "
                            "only the last timestep",
                            "slice y[:, -1:] (batch_first) or y[-1:]; the C library streams, "
                            "so read its output after the step you want")
        self.values[node.output[0]] = _Act(x.layer_index, x.size, time_axis=x.time_axis,
                                           last_step=True)

    def last_step(self, node: onnx.NodeProto, axis: int, idx: object) -> None:
        """`y[:, -1]` (or `y[-1]` time-major): the chain's output at the last timestep. The
        C library computes every step; the caller reads the output after the last."""
        x = self.act(node, node.input[0])
        if not x.has_timesteps:
            raise self.fail(node, "Gather on an activation is supported only to pick the last "
                            "timestep of a recurrent layer's output")
        if not x.is_time_axis(axis):
            raise self.fail(node, f"Gather on axis {axis} picks from the batch, not the time axis",
                            "select a timestep (y[:, -1] with batch_first, y[-1] without)")
        if not isinstance(idx, _Const) or idx.value.shape != () or int(idx.value) != -1:
            raise self.fail(node, "only the last timestep (index -1) can be selected",
                            "the C library streams; read its output after the step you want")
        self.values[node.output[0]] = _Act(x.layer_index, x.size, last_step=True)

    def final_state(self, node: onnx.NodeProto, v: _FinalH, index: int) -> None:
        """h_n[index] (or h_n.squeeze(0) of one layer): the hidden state after the last step,
        which is the chain's output at the last step when it is the last layer's."""
        if not -len(v.layers) <= index < len(v.layers):
            raise self.fail(node, f"index {index} is out of range for {len(v.layers)} layer(s)")
        layer = v.layers[index]
        if layer != len(self.layers) - 1:
            raise self.fail(node, "only the final hidden state of the last recurrent layer, with "
                            "nothing after it yet, can feed the next layer",
                            "use h_n[-1] of the last layer, or y[:, -1]")
        self.values[node.output[0]] = _Act(layer, v.size, last_step=True)

    def check_time_major(self, node: onnx.NodeProto, x: _Act) -> None:
        """A recurrent layer reads (time, batch, features). Before the first one the time
        axis is not known (the input may be either way round: the Transposes before the
        layer decide); after it, a layer fed the batch-major form is an error."""
        if x.last_step:
            raise self.fail(node, "a recurrent layer after the last-timestep selection")
        if x.time_axis is not None and x.time_axis != 0:
            raise self.fail(node, "the recurrent layer's input is batch-major; ONNX LSTM/GRU "
                            "(layout=0) read (time, batch, features)")

    def expand(self, node: onnx.NodeProto) -> None:
        """Expand(value, shape) and ConstantOfShape(shape): all-zero initial states when the
        shape comes from an activation; folded when everything is constant."""
        if node.op_type == "ConstantOfShape":
            t = self.attr(node).get("value")
            value = numpy_helper.to_array(t) if t is not None else np.zeros(1, np.float32)
            shape = self.get(node, node.input[0])
        else:
            value, shape = self.const(node, node.input[0]), self.get(node, node.input[1])
        if isinstance(shape, _Const):
            dims = tuple(int(d) for d in shape.value.reshape(-1))
            if node.op_type == "ConstantOfShape":
                self.values[node.output[0]] = _Const(np.full(dims, value.reshape(-1)[0], value.dtype))
            else:
                full = np.broadcast_shapes(value.shape, dims)
                self.values[node.output[0]] = _Const(np.broadcast_to(value, full).copy())
        elif isinstance(shape, _Shape) and not np.any(value):
            self.values[node.output[0]] = _Zeros()
        elif isinstance(shape, _Shape) and node.op_type == "ConstantOfShape":
            self.values[node.output[0]] = _Shape()  # ones, for shape arithmetic
        elif isinstance(shape, _Shape) and node.op_type == "Expand":
            self.values[node.output[0]] = _Broadcast(np.asarray(value))
        else:
            raise self.fail(node, f"{node.op_type} is supported only to make all-zero initial "
                            "states or on constants")


def load_onnx(path: str | os.PathLike[str]) -> Model:
    """Load an ONNX file into the IR.  Errors are `DkgenError` naming the file and field."""
    path = Path(path)
    if path.is_dir():
        raise DkgenError("is a folder, not a model file", path=path, fix="pass the path of the .onnx file")
    if not path.is_file():
        raise DkgenError("no such file", path=path, fix="check the path to the .onnx model")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise DkgenError(f"not a readable ONNX file ({type(exc).__name__})", path=path,
                         fix="pass a model written by `dkgen export` or another ONNX exporter") from None
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise DkgenError(f"fails onnx.checker: {first}", path=path) from None
    importer = _Importer(proto, path)
    return importer.run()
