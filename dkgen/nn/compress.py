"""Compress a trained dense model: replace its matrices by structured ones fitted to them.

`compress(model, "dkp", ratio=10)` returns a copy of `model` whose recurrent layers (and,
with `linear=True`, linear layers) have gate matrices of the chosen kind, initialised from
the dense weights:

* "kron": the nearest Kronecker product (Van Loan–Pitsianis rearrangement + SVD);
* "dkp": the same, doped with the largest entries of the residual W - A ⊗ B;
* "lowrank": truncated SVD;  "pruned": the largest-magnitude entries;  "dense": a copy.

The result is the starting point for fine-tuning, not a finished model: a single
Kronecker product rarely fits a dense matrix trained without that structure.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from dkgen.nn.linear import MatrixLinear
from dkgen.nn.matrices import (
    DenseMatrix,
    DopedKronMatrix,
    KronMatrix,
    LowRankMatrix,
    MatrixModule,
    PrunedMatrix,
)
from dkgen.nn.recurrent import GRU, LSTM, TORCH_TO_ONNX_GATES, gate_permutation
from dkgen.structure.factors import FactorShapes, check_rule

METHODS = ("dense", "kron", "dkp", "lowrank", "pruned")


def fit_matrix(w: Tensor, method: str, ratio: float | None = None, *,
               factors: FactorShapes | None = None, cmr: float = 0.0, dope_share: float = 0.25,
               factor_rule: str = "rank", order: int = 2) -> MatrixModule:
    """A matrix module of kind `method` fitted to the dense matrix `w` at `ratio`.

    Without `factors`, Kronecker shapes follow `dkgen.structure.factors.factor_shapes`: `order`
    factors, `dope_share` of the budget kept for the dope (dkp), `factor_rule` deciding
    between splits of equal size ("rank" or "macs").
    """
    if method != "dense" and ratio is None:
        raise ValueError(f"method {method!r} needs a compression ratio")
    if method == "dense":
        return DenseMatrix.from_dense(w)
    if method == "kron":
        return KronMatrix.from_dense(w, factors, ratio=None if factors else ratio,
                                     factor_rule=factor_rule, order=order)
    if method == "dkp":
        return DopedKronMatrix.from_dense(w, factors, ratio=ratio, cmr=cmr, dope_share=dope_share,
                                          factor_rule=factor_rule, order=order)
    if method == "lowrank":
        return LowRankMatrix.from_dense(w, ratio=ratio)
    if method == "pruned":
        numel = w.shape[0] * w.shape[1]
        # Whole entries within the budget, so the ratio is met, not merely approached.
        return PrunedMatrix.from_dense(w, density=math.floor(numel / ratio) / numel)
    raise ValueError(f"unknown compression method {method!r}; expected one of {METHODS}")


def _onnx_order_weights(layer: nn.Module) -> tuple[str, dict[str, Tensor]]:
    """mode and the dense weights and biases of a recurrent layer, gates in ONNX order."""
    if isinstance(layer, LSTM | GRU):
        out = {}
        for k in range(layer.num_layers):
            w_ih, w_hh = layer.matrices(k)
            out[f"w_ih_l{k}"], out[f"w_hh_l{k}"] = w_ih().detach(), w_hh().detach()
            biases = layer.biases(k)
            if biases is not None:
                out[f"b_ih_l{k}"], out[f"b_hh_l{k}"] = (b.detach() for b in biases)
        return layer.mode, out
    mode = "lstm" if isinstance(layer, nn.LSTM) else "gru"
    if layer.bidirectional or getattr(layer, "proj_size", 0):
        raise ValueError("bidirectional and projected recurrent layers are not supported")
    perm = gate_permutation(TORCH_TO_ONNX_GATES[mode], layer.hidden_size)
    out = {}
    for k in range(layer.num_layers):
        for role in ("ih", "hh"):
            out[f"w_{role}_l{k}"] = getattr(layer, f"weight_{role}_l{k}").detach()[perm]
            if layer.bias:
                out[f"b_{role}_l{k}"] = getattr(layer, f"bias_{role}_l{k}").detach()[perm]
    return mode, out


def compress_recurrent(layer: nn.Module, method: str, ratio: float | None = None, *,
                       factors: dict[str, FactorShapes] | None = None,
                       cmr: float = 0.0, dope_share: float = 0.25,
                       factor_rule: str = "rank", order: int = 2) -> LSTM | GRU:
    """A dkgen LSTM/GRU equivalent to `layer` (nn.LSTM/GRU or dkgen's) with fitted matrices.

    `factors` optionally gives shapes per matrix, keyed "w_ih_l0" / "w_hh" etc.;
    `dope_share`, `factor_rule` and `order` go to `fit_matrix`.
    """
    mode, dense = _onnx_order_weights(layer)

    def factory(rows: int, cols: int, role: str) -> MatrixModule:
        shape = None
        if factors:
            shape = factors.get(role, factors.get(role.rsplit("_l", 1)[0]))
        return fit_matrix(dense[role], method, ratio, factors=shape, cmr=cmr,
                          dope_share=dope_share, factor_rule=factor_rule, order=order)

    cls = LSTM if mode == "lstm" else GRU
    out = cls(layer.input_size, layer.hidden_size, layer.num_layers, bias=layer.bias,
              batch_first=layer.batch_first, dropout=layer.dropout, weight=factory)
    with torch.no_grad():
        for k in range(out.num_layers):
            biases = out.biases(k)
            if biases is not None:
                biases[0].copy_(dense[f"b_ih_l{k}"])
                biases[1].copy_(dense[f"b_hh_l{k}"])
    return out


def compress_linear(layer: nn.Linear | MatrixLinear, method: str, ratio: float | None = None, *,
                    factors: FactorShapes | None = None, cmr: float = 0.0,
                    dope_share: float = 0.25, factor_rule: str = "rank",
                    order: int = 2) -> MatrixLinear:
    w = layer.weight.detach()
    out = MatrixLinear(fit_matrix(w, method, ratio, factors=factors, cmr=cmr,
                                  dope_share=dope_share, factor_rule=factor_rule, order=order),
                       bias=layer.bias is not None)
    if layer.bias is not None:
        with torch.no_grad():
            out.bias.copy_(layer.bias.detach())
    return out


def compress(model: nn.Module, method: str = "dkp", ratio: float | None = 10.0, *,
             linear: bool = False, cmr: float = 0.0, dope_share: float = 0.25,
             factor_rule: str = "rank", order: int = 2) -> nn.Module:
    """A copy of `model` with its recurrent (and optionally linear) layers compressed.

    Each matrix is compressed `ratio` times on its own (see `fit_matrix`, which takes
    `dope_share`, `factor_rule` and `order`, the number of Kronecker factors); embeddings
    are left alone.  `model` itself is not modified.
    """
    if method not in METHODS:
        raise ValueError(f"unknown compression method {method!r}; expected one of {METHODS}")
    model = copy.deepcopy(model)
    recurrent = (nn.LSTM, nn.GRU, LSTM, GRU)
    linears = (nn.Linear, MatrixLinear)
    check_rule(factor_rule)
    kw = {"cmr": cmr, "dope_share": dope_share, "factor_rule": factor_rule, "order": order}
    if isinstance(model, recurrent):
        return compress_recurrent(model, method, ratio, **kw)
    if linear and isinstance(model, linears):
        return compress_linear(model, method, ratio, **kw)

    def walk(parent: nn.Module) -> None:
        for name, child in list(parent.named_children()):
            if isinstance(child, recurrent):
                setattr(parent, name, compress_recurrent(child, method, ratio, **kw))
            elif linear and isinstance(child, linears):
                setattr(parent, name, compress_linear(child, method, ratio, **kw))
            else:
                walk(child)

    walk(model)
    return model
