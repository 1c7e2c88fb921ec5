"""The model IR: a chain of per-timestep layers.

dkgen's models are streaming sequence models: each timestep takes one input (a feature
vector or a token id), runs it through a chain of layers, some of which carry recurrent
state, and produces one output vector.  This is exactly the shape of the generated C API
(`<name>_step`), and it is what the ONNX importer recovers from a whole-sequence graph.

The IR knows nothing of C or of ONNX; it holds numpy arrays and `Weight` objects.
Recurrent gate order is ONNX's: LSTM gates stacked as i, o, f, c; GRU gates as z, r, h,
either form of ONNX's `linear_before_reset` (1: PyTorch's GRU and Keras' reset_after=True;
0: ONNX's default and Keras' reset_after=False).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from dkgen.ir.weights import FLOAT, Weight


def _vector(name: str, values: np.ndarray | None, size: int, fill: float = 0.0) -> np.ndarray:
    if values is None:
        return np.full(size, fill, dtype=FLOAT)
    arr = np.ascontiguousarray(values, dtype=FLOAT).reshape(-1)
    if arr.shape != (size,):
        raise ValueError(f"{name} has {arr.size} entries, expected {size}")
    return arr


@dataclass(eq=False)
class InputSpec:
    """What one timestep of input is: `size` floats, or one token id below `size`."""

    kind: Literal["vector", "token"]
    size: int
    name: str = "x"
    # The range real inputs come from, when the model records it (used for test vectors).
    low: float = -1.0
    high: float = 1.0


@dataclass(eq=False)
class Layer:
    name: str

    @property
    def in_size(self) -> int:
        raise NotImplementedError

    @property
    def out_size(self) -> int:
        raise NotImplementedError

    @property
    def op(self) -> str:
        return type(self).__name__.lower()

    def weights(self) -> dict[str, Weight]:
        """The layer's matrices, by role."""
        return {}

    def vectors(self) -> dict[str, np.ndarray]:
        """The layer's bias vectors, by role."""
        return {}

    @property
    def state_size(self) -> int:
        """Floats of recurrent state carried between timesteps."""
        return 0

    @property
    def macs(self) -> int:
        return sum(w.macs for w in self.weights().values())


@dataclass(eq=False)
class Embedding(Layer):
    table: Weight  # (vocab, dim); row t is the embedding of token t

    @property
    def in_size(self) -> int:
        return self.table.shape[0]

    @property
    def out_size(self) -> int:
        return self.table.shape[1]

    def weights(self) -> dict[str, Weight]:
        return {"table": self.table}

    @property
    def macs(self) -> int:
        return 0


@dataclass(eq=False)
class Linear(Layer):
    weight: Weight  # (out, in)
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.bias = _vector(f"{self.name}.bias", self.bias, self.weight.shape[0])

    @property
    def in_size(self) -> int:
        return self.weight.shape[1]

    @property
    def out_size(self) -> int:
        return self.weight.shape[0]

    def weights(self) -> dict[str, Weight]:
        return {"weight": self.weight}

    def vectors(self) -> dict[str, np.ndarray]:
        return {"bias": self.bias}


@dataclass(eq=False)
class _Recurrent(Layer):
    hidden_size: int
    w_ih: Weight
    w_hh: Weight
    b_ih: np.ndarray | None = None
    b_hh: np.ndarray | None = None
    # The state every sequence starts from (ONNX's initial_h, one vector for every
    # sequence); None: zeros.
    h0: np.ndarray | None = None
    gates = 0

    def __post_init__(self) -> None:
        rows = self.gates * self.hidden_size
        if self.w_ih.shape[0] != rows:
            raise ValueError(f"{self.name}: input weight has {self.w_ih.shape[0]} rows, expected {rows}")
        if self.w_hh.shape != (rows, self.hidden_size):
            raise ValueError(f"{self.name}: recurrent weight is {self.w_hh.shape}, expected {(rows, self.hidden_size)}")
        self.b_ih = _vector(f"{self.name}.b_ih", self.b_ih, rows)
        self.b_hh = _vector(f"{self.name}.b_hh", self.b_hh, rows)
        if self.h0 is not None:
            self.h0 = _vector(f"{self.name}.h0", self.h0, self.hidden_size)

    def initial_states(self) -> dict[str, np.ndarray]:
        """The non-zero parts of the starting state, by member ("h", LSTM "c")."""
        return {} if self.h0 is None else {"h": self.h0}

    def initial_state(self) -> np.ndarray:
        """The whole starting state (state_size values: h, then an LSTM's c)."""
        parts = self.initial_states()
        return np.concatenate([parts.get(k, np.zeros(self.hidden_size, FLOAT)) for k in self.state_parts])

    @property
    def state_parts(self) -> tuple[str, ...]:
        return ("h",)

    @property
    def in_size(self) -> int:
        return self.w_ih.shape[1]

    @property
    def out_size(self) -> int:
        return self.hidden_size

    def weights(self) -> dict[str, Weight]:
        return {"w_ih": self.w_ih, "w_hh": self.w_hh}

    def vectors(self) -> dict[str, np.ndarray]:
        return {"b_ih": self.b_ih, "b_hh": self.b_hh}


@dataclass(eq=False)
class LSTM(_Recurrent):
    """ONNX LSTM cell: gates i, o, f, c; sigmoid/tanh/tanh; no peepholes."""

    c0: np.ndarray | None = None  # the cell state every sequence starts from (initial_c)
    gates = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.c0 is not None:
            self.c0 = _vector(f"{self.name}.c0", self.c0, self.hidden_size)

    def initial_states(self) -> dict[str, np.ndarray]:
        return {**super().initial_states(), **({} if self.c0 is None else {"c": self.c0})}

    @property
    def state_parts(self) -> tuple[str, ...]:
        return ("h", "c")

    @property
    def state_size(self) -> int:
        return 2 * self.hidden_size  # h then c


@dataclass(eq=False)
class GRU(_Recurrent):
    """ONNX GRU cell: gates z, r, h.

    linear_before_reset True: n = tanh(W_h x + b_ih_h + r * (R_h h + b_hh_h)) (PyTorch);
    False: n = tanh(W_h x + b_ih_h + R_h (r * h) + b_hh_h), ONNX's default, where the reset
    gate reaches h before the recurrent product, so each step takes a second one."""

    linear_before_reset: bool = True
    gates = 3

    @property
    def state_size(self) -> int:
        return self.hidden_size


@dataclass(eq=False)
class RNN(_Recurrent):
    """ONNX RNN cell (Elman; PyTorch's nn.RNN, Keras' SimpleRNN), tanh:
    h = tanh(W x + b_ih + R h + b_hh)."""

    gates = 1

    @property
    def state_size(self) -> int:
        return self.hidden_size


# The recurrent layers: each carries its state h (an LSTM its c too) between timesteps.
RECURRENT = (LSTM, GRU, RNN)


@dataclass(eq=False)
class Activation(Layer):
    """An activation layer, as many outputs as inputs; `op` names the function."""

    size: int = 0

    @property
    def in_size(self) -> int:
        return self.size

    @property
    def out_size(self) -> int:
        return self.size


@dataclass(eq=False)
class Affine(Activation):
    """y = x * mul + add, a factor and an offset per feature (float32 values): what ONNX
    Mul / Div / Add / Sub by constants become, such as an input normalisation
    (x - mean) / std written into the model."""

    mul: np.ndarray | None = None
    add: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.mul = _vector(f"{self.name}.mul", self.mul, self.size, fill=1.0)
        self.add = _vector(f"{self.name}.add", self.add, self.size)
        if not (np.all(np.isfinite(self.mul)) and np.all(np.isfinite(self.add))):
            raise ValueError(f"{self.name}: factors and offsets must be finite")

    def vectors(self) -> dict[str, np.ndarray]:
        return {"mul": self.mul, "add": self.add}


def batch_norm_affine(mean: np.ndarray, var: np.ndarray, eps: float, scale: np.ndarray | None = None,
                      bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The `Affine` factors and offsets (float64) of batch normalisation at inference,
    y = (x - mean) / sqrt(var + eps) * scale + bias (no scale / bias: 1 / 0): what ONNX's
    BatchNormalization and PyTorch's BatchNorm1d in eval mode compute.  ValueError when
    var + eps is not positive or the result is not finite."""
    var = np.asarray(var, np.float64)
    if not np.all(var + eps > 0):
        raise ValueError("variance + epsilon is not positive")
    with np.errstate(all="ignore"):
        mul = (1.0 if scale is None else np.asarray(scale, np.float64)) / np.sqrt(var + eps)
        add = (0.0 if bias is None else np.asarray(bias, np.float64)) - np.asarray(mean, np.float64) * mul
    if not (np.all(np.isfinite(mul)) and np.all(np.isfinite(add))):
        raise ValueError("the statistics give a factor or offset that is not finite")
    return mul, add


@dataclass(eq=False)
class Softmax(Activation):
    """e^x / sum e^x over the features."""


@dataclass(eq=False)
class LogSoftmax(Activation):
    """x - max x - log(sum e^(x - max x)) over the features."""

    @property
    def op(self) -> str:
        return "log_softmax"


@dataclass(eq=False)
class Relu(Activation):
    """y = max(x, 0)."""


@dataclass(eq=False)
class Tanh(Activation):
    """y = tanh(x)."""


@dataclass(eq=False)
class Sigmoid(Activation):
    """y = 1 / (1 + e^-x)."""


# ONNX Clip's bounds when a bound is absent: the float32 type's lowest and largest values
# (numeric_limits), so an infinite input comes out finite, as onnxruntime gives it.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(eq=False)
class Clip(Activation):
    """y = min(max(x, lo), hi): ReLU6, Hardtanh, clamp. Bounds are float32 values."""

    lo: float = -FLOAT32_MAX
    hi: float = FLOAT32_MAX

    def __post_init__(self) -> None:
        self.lo, self.hi = float(np.float32(self.lo)), float(np.float32(self.hi))
        if not self.lo <= self.hi:  # also refuses NaN
            raise ValueError(f"clip bounds must satisfy min <= max, got [{self.lo:g}, {self.hi:g}]")


@dataclass(eq=False)
class LeakyRelu(Activation):
    """y = x where x >= 0, alpha * x below (alpha a float32 value)."""

    alpha: float = 0.01

    def __post_init__(self) -> None:
        self.alpha = float(np.float32(self.alpha))
        if not np.isfinite(self.alpha):
            raise ValueError(f"leaky relu alpha must be finite, got {self.alpha}")

    @property
    def op(self) -> str:
        return "leaky_relu"


# The element-wise activation layers, by op name (ONNX's operator: Relu, Tanh, Sigmoid,
# Clip, LeakyRelu).
ACTIVATIONS: dict[str, type[Activation]] = {"relu": Relu, "tanh": Tanh, "sigmoid": Sigmoid,
                                            "clip": Clip, "leaky_relu": LeakyRelu}


@dataclass(eq=False)
class Model:
    name: str
    input: InputSpec
    layers: list[Layer]
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = self.input.size
        for layer in self.layers:
            if isinstance(layer, Embedding):
                if self.input.kind != "token" or layer is not self.layers[0]:
                    raise ValueError(f"{layer.name}: an embedding must be the first layer of a token model")
            elif layer.in_size != size:
                raise ValueError(f"{layer.name}: takes {layer.in_size} inputs but receives {size}")
            size = layer.out_size
        if self.input.kind == "token" and not (self.layers and isinstance(self.layers[0], Embedding)):
            raise ValueError("a token model must start with an embedding")

    @property
    def output_size(self) -> int:
        return self.layers[-1].out_size if self.layers else self.input.size

    @property
    def input_size(self) -> int:
        """Numbers per timestep of input: features, or 1 for a token id."""
        return 1 if self.input.kind == "token" else self.input.size

    def param_count(self) -> int:
        return sum(w.param_count for layer in self.layers for w in layer.weights().values()) + sum(
            v.size for layer in self.layers for v in layer.vectors().values()
        )


WEIGHTED_LAYERS: tuple[type[Layer], ...] = (*RECURRENT, Linear, Embedding)


def map_weights(model: Model, fn: Callable[[Weight], Weight], suffix: str | None,
                kinds: tuple[type[Layer], ...] = WEIGHTED_LAYERS) -> Model:
    """The same layers with every weight of the layers of `kinds` passed through `fn`; the
    name gets `_suffix` (unless None)."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, kinds):
            if isinstance(layer, RECURRENT):
                layer = replace(layer, w_ih=fn(layer.w_ih), w_hh=fn(layer.w_hh))
            elif isinstance(layer, Linear):
                layer = replace(layer, weight=fn(layer.weight))
            elif isinstance(layer, Embedding):
                layer = replace(layer, table=fn(layer.table))
        layers.append(layer)
    name = model.name if suffix is None else f"{model.name}_{suffix}"
    return Model(name, model.input, layers, dict(model.metadata))


def weights_of(model: Model) -> list[Weight]:
    """Every weight of the model, in the order `map_weights` passes them to its function."""
    seen: list[Weight] = []
    map_weights(model, lambda w: seen.append(w) or w, None)
    return seen
