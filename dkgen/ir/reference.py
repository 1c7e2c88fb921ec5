"""The numpy reference executor: the oracle every other implementation is held to.

It computes in float64 from the float32 parameters, so it is a better answer than any
float32 implementation rather than merely another one.  It runs a batch of sequences at
once (`run`), and can record every layer's output at every timestep (`trace=True`) for
layer-by-layer debugging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import numpy as np

from dkgen.ir.graph import (
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
    Relu,
    Sigmoid,
    Softmax,
    Tanh,
)


class ChainLayer(Protocol):
    """What `run_chain` needs of a layer (an IR `Layer` or a quantised `QLayer`)."""

    name: str

    @property
    def state_size(self) -> int: ...


L = TypeVar("L", bound=ChainLayer)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def _matvec(weight, x: np.ndarray) -> np.ndarray:
    # x: (batch, cols) -> (batch, rows)
    return x @ weight.dense64.T


def _lstm_step(layer: LSTM, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hsz = layer.hidden_size
    h, c = state[:, :hsz], state[:, hsz:]
    g = _matvec(layer.w_ih, x) + layer.b_ih + _matvec(layer.w_hh, h) + layer.b_hh
    i = sigmoid(g[:, 0:hsz])
    o = sigmoid(g[:, hsz:2 * hsz])
    f = sigmoid(g[:, 2 * hsz:3 * hsz])
    cand = np.tanh(g[:, 3 * hsz:4 * hsz])
    c_new = f * c + i * cand
    h_new = o * np.tanh(c_new)
    return h_new, np.concatenate([h_new, c_new], axis=1)


def _gru_step(layer: GRU, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hsz = layer.hidden_size
    h = state
    gx = _matvec(layer.w_ih, x) + layer.b_ih
    gh = _matvec(layer.w_hh, h) + layer.b_hh
    z = sigmoid(gx[:, 0:hsz] + gh[:, 0:hsz])
    r = sigmoid(gx[:, hsz:2 * hsz] + gh[:, hsz:2 * hsz])
    if layer.linear_before_reset:
        n = np.tanh(gx[:, 2 * hsz:] + r * gh[:, 2 * hsz:])
    else:
        gh_n = _matvec(layer.w_hh, r * h)[:, 2 * hsz:] + layer.b_hh[2 * hsz:]
        n = np.tanh(gx[:, 2 * hsz:] + gh_n)
    h_new = (1.0 - z) * n + z * h
    return h_new, h_new


def _rnn_step(layer: RNN, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h_new = np.tanh(_matvec(layer.w_ih, x) + layer.b_ih + _matvec(layer.w_hh, h) + layer.b_hh)
    return h_new, h_new


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layer_step(layer: Layer, x: np.ndarray, state: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """One timestep of one layer on a batch. Returns (output, new state)."""
    if isinstance(layer, Embedding):
        return layer.table.dense64[x.astype(np.int64).reshape(-1)], None
    if isinstance(layer, Linear):
        return _matvec(layer.weight, x) + layer.bias, None
    if isinstance(layer, LSTM):
        return _lstm_step(layer, x, state)
    if isinstance(layer, GRU):
        return _gru_step(layer, x, state)
    if isinstance(layer, RNN):
        return _rnn_step(layer, x, state)
    if isinstance(layer, Softmax):
        return softmax(x), None
    if isinstance(layer, LogSoftmax):
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), None
    if isinstance(layer, Tanh):
        return np.tanh(x), None
    if isinstance(layer, Sigmoid):
        return sigmoid(x), None
    if isinstance(layer, Relu):
        return np.maximum(x, 0.0), None
    if isinstance(layer, Affine):
        return x * layer.mul + layer.add, None
    if isinstance(layer, Clip):
        return np.clip(x, layer.lo, layer.hi), None
    if isinstance(layer, LeakyRelu):
        return np.where(x < 0.0, layer.alpha * x, x), None
    raise NotImplementedError(f"reference executor has no rule for {type(layer).__name__}")


def check_inputs(spec: InputSpec, xs: np.ndarray) -> np.ndarray:
    """Check (batch, time[, features]) inputs against the model's input spec; token ids come
    back as int64, vectors as given."""
    xs = np.asarray(xs)
    if spec.kind == "token":
        if xs.ndim != 2:
            raise ValueError(f"token inputs must be (batch, time), got {xs.shape}")
        if xs.size and (xs.min() < 0 or xs.max() >= spec.size):
            raise ValueError(f"token ids must lie in [0, {spec.size})")
        return xs.astype(np.int64)
    if xs.ndim != 3 or xs.shape[2] != spec.size:
        raise ValueError(f"inputs must be (batch, time, {spec.size}), got {xs.shape}")
    return xs


def start_states(layers: Sequence[ChainLayer], batch: int, dtype: type = np.float64
               ) -> list[np.ndarray | None]:
    """Each layer's recurrent state at the start of a sequence (None for stateless layers):
    zeros, or the layer's `initial_state()` where it has one (a constant initial_h)."""
    def start(layer: ChainLayer) -> np.ndarray | None:
        if not layer.state_size:
            return None
        init = getattr(layer, "initial_state", None)
        if init is None:
            return np.zeros((batch, layer.state_size), dtype)
        return np.broadcast_to(np.asarray(init(), dtype), (batch, layer.state_size)).copy()
    return [start(layer) for layer in layers]


def run_chain(layers: Sequence[L], step: Callable[[L, np.ndarray, np.ndarray | None], tuple],
              xs: np.ndarray, state: list[np.ndarray | None] | None, output_size: int, *,
              dtype: type, trace: bool
              ) -> tuple[np.ndarray, dict[str, np.ndarray], list[np.ndarray | None]]:
    """Run a chain of layers over the time axis of `xs` from `state` (zeros of `dtype` if
    None), one `step(layer, x, state)` per layer and timestep.  Returns outputs (batch,
    time, out) of `dtype`; with `trace`, each layer's outputs by layer name as (batch,
    time, size); and the final state."""
    batch, steps = xs.shape[0], xs.shape[1]
    state = list(state) if state is not None else start_states(layers, batch, dtype)
    outputs = np.zeros((batch, steps, output_size), dtype)
    traces: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers} if trace else {}
    for t in range(steps):
        v = xs[:, t]
        for i, layer in enumerate(layers):
            v, state[i] = step(layer, v, state[i])
            if trace:
                traces[layer.name].append(v)
        outputs[:, t] = v
    return outputs, {k: np.stack(v, axis=1) for k, v in traces.items()}, state


class ReferenceExecutor:
    """Runs a `Model` on batches of sequences in float64."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def initial_state(self, batch: int = 1) -> list[np.ndarray | None]:
        return start_states(self.model.layers, batch)

    def _check_inputs(self, xs: np.ndarray) -> np.ndarray:
        xs = check_inputs(self.model.input, xs)
        return xs if self.model.input.kind == "token" else xs.astype(np.float32).astype(np.float64)

    def run(self, xs: np.ndarray, state: list[np.ndarray | None] | None = None, *,
            trace: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Run (batch, time[, features]) inputs from `state` (zeros if None).

        Returns outputs (batch, time, out) and, with `trace`, each layer's outputs by
        layer name as (batch, time, size).
        """
        outputs, traces, self.last_state = run_chain(
            self.model.layers, layer_step, self._check_inputs(xs), state, self.model.output_size,
            dtype=np.float64, trace=trace)
        return outputs, traces

    def __call__(self, xs: np.ndarray) -> np.ndarray:
        return self.run(xs)[0]
