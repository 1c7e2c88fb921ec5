"""Convert a PyTorch model to the dkgen IR (`dkgen.ir.graph.Model`).

A supported model is a chain of per-timestep layers:

    [nn.Embedding] -> any of (dkgen.nn.LSTM / GRU, nn.LSTM / nn.GRU / nn.RNN (tanh),
                              MatrixLinear / KronLinear / DopedKronLinear, nn.Linear,
                              nn.ReLU / nn.ReLU6 / nn.Hardtanh / nn.LeakyReLU / nn.Tanh /
                              nn.Sigmoid, nn.BatchNorm1d (its running statistics),
                              nn.Dropout, nn.Identity)
                   -> [nn.LogSoftmax(dim=-1), or a Softmax added by `softmax=True`]

given as an nn.Sequential, a list of modules, or a module with an `ir_chain()` method that
returns its layers in order (the classifier and language-model classes do this, since
their forward() also does things, like picking the last timestep, that are not layers).
Structured matrices stay structured: a DKP gate matrix becomes a `KronWeight` with its
dope; a plain nn.LSTM becomes dense weights with rows reordered to ONNX's gate order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from torch import nn

from dkgen.errors import DkgenError
from dkgen.ir import graph as ir
from dkgen.ir.weights import DenseWeight
from dkgen.nn.linear import MatrixLinear
from dkgen.nn.matrices import MatrixModule
from dkgen.nn.recurrent import GRU, LSTM, TORCH_TO_ONNX_GATES, gate_permutation


def _np(t: object) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()  # type: ignore[attr-defined]


def _ident(name: str) -> str:
    # Layer names become C identifiers downstream.
    out = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return out if out and not out[0].isdigit() else f"l_{out}"


def chain_of(module: nn.Module | Sequence[nn.Module]) -> list[tuple[str, nn.Module]]:
    """The (name, layer) chain of a supported model."""
    if isinstance(module, nn.Module) and hasattr(module, "ir_chain"):
        items = module.ir_chain()
    elif isinstance(module, nn.Sequential):
        items = list(module.named_children())
    elif isinstance(module, Sequence):
        items = list(module)
    else:
        items = [module]
    chain = []
    for i, item in enumerate(items):
        name, layer = item if isinstance(item, tuple) else (f"layer{i}", item)
        chain.append((str(name), layer))
    return chain


def _recurrent_layers(name: str, layer: nn.Module) -> list[ir.Layer]:
    if isinstance(layer, LSTM | GRU):
        cls = ir.LSTM if isinstance(layer, LSTM) else ir.GRU
        out = []
        for k in range(layer.num_layers):
            w_ih, w_hh = layer.matrices(k)
            biases = layer.biases(k)
            b_ih, b_hh = (None, None) if biases is None else (_np(biases[0]), _np(biases[1]))
            out.append(cls(f"{name}_l{k}" if layer.num_layers > 1 else name, layer.hidden_size,
                           w_ih.to_ir(), w_hh.to_ir(), b_ih, b_hh))
        return out
    # Plain torch recurrent layers: dense weights, rows reordered to ONNX gate order.
    if layer.bidirectional or getattr(layer, "proj_size", 0):
        raise DkgenError(f"{name}: bidirectional and projected recurrent layers are not supported")
    if isinstance(layer, nn.RNN):
        if layer.nonlinearity != "tanh":
            raise DkgenError(f"{name}: nn.RNN with nonlinearity '{layer.nonlinearity}' is not "
                             "supported", fix="use nonlinearity='tanh' (the default)")
        cls: type[ir.LSTM | ir.GRU | ir.RNN] = ir.RNN
        perm = np.arange(layer.hidden_size)  # one gate block: nothing to reorder
    else:
        mode = "lstm" if isinstance(layer, nn.LSTM) else "gru"
        cls = ir.LSTM if mode == "lstm" else ir.GRU
        perm = gate_permutation(TORCH_TO_ONNX_GATES[mode], layer.hidden_size).numpy()
    out = []
    for k in range(layer.num_layers):
        w_ih = _np(getattr(layer, f"weight_ih_l{k}"))[perm]
        w_hh = _np(getattr(layer, f"weight_hh_l{k}"))[perm]
        b_ih = _np(getattr(layer, f"bias_ih_l{k}"))[perm] if layer.bias else None
        b_hh = _np(getattr(layer, f"bias_hh_l{k}"))[perm] if layer.bias else None
        out.append(cls(f"{name}_l{k}" if layer.num_layers > 1 else name, layer.hidden_size,
                       DenseWeight(w_ih), DenseWeight(w_hh), b_ih, b_hh))
    return out


_ACTIVATIONS = {nn.ReLU: ir.Relu, nn.Tanh: ir.Tanh, nn.Sigmoid: ir.Sigmoid}


def _batch_norm(name: str, layer: nn.BatchNorm1d) -> ir.Affine:
    """BatchNorm1d as it runs in eval mode, from its running statistics: an `Affine`."""
    if layer.running_mean is None or layer.running_var is None:
        raise DkgenError(f"{name}: BatchNorm1d without running statistics normalises by each "
                         "batch's own", fix="train it with track_running_stats=True")
    try:
        mul, add = ir.batch_norm_affine(_np(layer.running_mean), _np(layer.running_var), layer.eps,
                                        _np(layer.weight) if layer.affine else None,
                                        _np(layer.bias) if layer.affine else None)
    except ValueError as exc:
        raise DkgenError(f"{name}: BatchNorm1d: {exc}", fix="check its running statistics") from None
    return ir.Affine(name, layer.num_features, mul, add)


def layer_to_ir(name: str, layer: nn.Module, in_size: int | None = None) -> list[ir.Layer]:
    """IR layers for one PyTorch layer (none for inference no-ops like dropout); `in_size`,
    the features reaching it, sizes the element-wise activations."""
    name = _ident(name)
    if isinstance(layer, nn.Dropout | nn.Identity):
        return []
    if isinstance(layer, nn.Hardtanh | nn.LeakyReLU) and in_size is None:
        raise DkgenError(f"{name}: an activation needs the size of its input")
    if isinstance(layer, nn.Hardtanh):  # nn.ReLU6 too
        return [ir.Clip(name, in_size, layer.min_val, layer.max_val)]
    if isinstance(layer, nn.LeakyReLU):
        return [ir.LeakyRelu(name, in_size, layer.negative_slope)]
    for torch_cls, ir_cls in _ACTIVATIONS.items():
        if isinstance(layer, torch_cls):
            if in_size is None:
                raise DkgenError(f"{name}: an activation needs the size of its input")
            return [ir_cls(name, in_size)]
    if isinstance(layer, nn.BatchNorm1d):
        return [_batch_norm(name, layer)]
    if isinstance(layer, nn.Embedding):
        return [ir.Embedding(name, DenseWeight(_np(layer.weight)))]
    if isinstance(layer, LSTM | GRU | nn.LSTM | nn.GRU | nn.RNN):
        return _recurrent_layers(name, layer)
    if isinstance(layer, MatrixLinear):
        bias = None if layer.bias is None else _np(layer.bias)
        return [ir.Linear(name, layer.matrix.to_ir(), bias)]
    if isinstance(layer, nn.Linear):
        bias = None if layer.bias is None else _np(layer.bias)
        return [ir.Linear(name, DenseWeight(_np(layer.weight)), bias)]
    if isinstance(layer, nn.Softmax):
        return []  # added once at the end by `softmax=True`
    if isinstance(layer, nn.LogSoftmax):
        if layer.dim not in (-1, None):
            raise DkgenError(f"{name}: LogSoftmax over dim {layer.dim}", fix="use dim=-1 (the features)")
        if in_size is None:
            raise DkgenError(f"{name}: an activation needs the size of its input")
        return [ir.LogSoftmax(name, in_size)]
    if isinstance(layer, MatrixModule):
        raise DkgenError(f"{name}: a bare matrix is not a layer; wrap it in MatrixLinear")
    raise DkgenError(f"{name}: no IR conversion for {type(layer).__name__}",
                     fix="use Embedding, LSTM/GRU, Linear, BatchNorm1d, ReLU, ReLU6, Hardtanh, "
                         "LeakyReLU, Tanh and Sigmoid layers")


def to_ir(module: nn.Module | Sequence[nn.Module], name: str, input_spec: ir.InputSpec,
          softmax: bool = False, metadata: dict[str, str] | None = None) -> ir.Model:
    """Convert a supported model (see the module docstring) into an IR `Model`.

    `softmax=True` appends a Softmax layer to turn the last layer's logits into
    probabilities, as the deployed classifier or language model reports them.
    """
    layers: list[ir.Layer] = []
    for layer_name, layer in chain_of(module):
        layers.extend(layer_to_ir(layer_name, layer,
                                  layers[-1].out_size if layers else input_spec.size))
    if not layers:
        raise DkgenError(f"{name}: the model has no layers to convert")
    if softmax:
        layers.append(ir.Softmax("softmax", size=layers[-1].out_size))
    try:
        return ir.Model(name, input_spec, layers, dict(metadata or {}))
    except ValueError as exc:
        raise DkgenError(f"{name}: {exc}") from exc
