"""Calibration: run the float model on representative inputs and record value ranges.

The float pass follows `dkgen.ir.reference` (float64 from float32 parameters) and records,
per layer, the largest magnitude of its input, its output and its LSTM cell state, and
the vectors each matrix multiplied (the quantiser measures the intermediate of each
two-step product, Kronecker T or low-rank V x, on them, in the order it will use).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dkgen.errors import DkgenError
from dkgen.ir.graph import LSTM, RECURRENT, Embedding, Layer, Model
from dkgen.ir.reference import layer_step, start_states


@dataclass
class LayerStats:
    in_absmax: float = 0.0
    out_absmax: float = 0.0
    cell_absmax: float = 0.0  # LSTM cell state


@dataclass
class CalibrationStats:
    input_absmax: float
    layers: list[LayerStats]
    samples: int  # sequences x timesteps seen
    # per layer name, per weight role: the (n, cols) float64 inputs that matrix multiplied
    inputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def check_calibration_inputs(model: Model, xs: np.ndarray) -> np.ndarray:
    """Validate calibration inputs: (batch, time, features) floats or (batch, time) ids."""
    xs = np.asarray(xs)
    spec = model.input
    if xs.size == 0:
        raise DkgenError("calibration inputs are empty", field="x",
                         fix="pass representative input sequences")
    if spec.kind == "token":
        if xs.ndim != 2 or not np.issubdtype(xs.dtype, np.integer):
            raise DkgenError(f"calibration inputs must be integer token ids of shape (batch, time), "
                             f"got {xs.dtype} {xs.shape}", field="x")
        if xs.min() < 0 or xs.max() >= spec.size:
            raise DkgenError(f"calibration token ids must lie in [0, {spec.size})", field="x")
        return xs.astype(np.int64)
    if xs.ndim != 3 or xs.shape[2] != spec.size:
        raise DkgenError(f"calibration inputs must have shape (batch, time, {spec.size}), got {xs.shape}",
                         field="x")
    if not np.issubdtype(xs.dtype, np.number) or not np.all(np.isfinite(xs)):
        raise DkgenError("calibration inputs must be finite numbers", field="x")
    return xs.astype(np.float32).astype(np.float64)


def _absmax(a: np.ndarray) -> float:
    return float(np.abs(a).max()) if a.size else 0.0


def calibrate(model: Model, xs: np.ndarray) -> CalibrationStats:
    """Float pass over `xs` ((batch, time, features) or (batch, time) token ids)."""
    xs = check_calibration_inputs(model, xs)
    batch, steps = xs.shape[0], xs.shape[1]
    layers: list[LayerStats] = [LayerStats() for _ in model.layers]
    seen: dict[str, dict[str, list[np.ndarray]]] = {layer.name: {} for layer in model.layers}
    state = start_states(model.layers, batch)
    input_absmax = 0.0 if model.input.kind == "token" else _absmax(xs)
    for t in range(steps):
        v = xs[:, t]
        for i, layer in enumerate(model.layers):
            st = layers[i]
            if not isinstance(layer, Embedding):
                st.in_absmax = max(st.in_absmax, _absmax(v))
            _record_inputs(layer, v, state[i], seen[layer.name])
            v, state[i] = layer_step(layer, v, state[i])
            st.out_absmax = max(st.out_absmax, _absmax(v))
            if isinstance(layer, LSTM):
                st.cell_absmax = max(st.cell_absmax, _absmax(state[i][:, layer.hidden_size:]))
    inputs = {name: {role: np.concatenate(parts) for role, parts in roles.items()}
              for name, roles in seen.items()}
    return CalibrationStats(input_absmax, layers, batch * steps, inputs)


def _record_inputs(layer: Layer, x: np.ndarray, state: np.ndarray | None,
                   seen: dict[str, list[np.ndarray]]) -> None:
    if isinstance(layer, RECURRENT):
        assert state is not None
        seen.setdefault("w_ih", []).append(np.asarray(x, np.float64))
        seen.setdefault("w_hh", []).append(np.asarray(state[:, :layer.hidden_size], np.float64))
    elif not isinstance(layer, Embedding) and layer.weights():
        seen.setdefault("weight", []).append(np.asarray(x, np.float64))
