"""The compression methods compared in the paper, all on the same LSTM parameter budget.

Each takes a trained dense dkgen LSTM and returns a dkgen LSTM whose four gate matrices
(w_ih and w_hh of both layers) are replaced, initialised from the dense weights:

| method  | matrix                 | initialised as                                          |
|---------|------------------------|---------------------------------------------------------|
| dense   | DenseMatrix            | a copy (the "fine-tune the baseline as long" control)   |
| dkp     | DopedKronMatrix        | nearest A ⊗ B, dope = the residual, dense at first;     |
|         |                        | the dope schedule anneals it to its final density       |
| kp      | KronMatrix             | nearest A ⊗ B (the most factor capacity the budget buys)|
| pruned  | PrunedMatrix           | all entries; gradual magnitude pruning to the budget    |
| lmf     | LowRankMatrix          | truncated SVD at the largest rank the budget buys       |
| hmd     | HMDMatrix              | top rows copied, the rest truncated SVD                 |
| small   | a smaller dense LSTM   | trained from scratch (hidden size from the budget)      |

The budget is `ratio`: each matrix stores at most rows*cols/ratio values (factor entries,
dope values, kept weights; indices not counted, as in the paper).  Bytes, which do count
indices, are reported separately (`lstm_size`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dkgen.ir.weights import Weight
from dkgen.nn.hmd import HMDMatrix, hmd_plan
from dkgen.nn.matrices import (
    DenseMatrix,
    DopedKronMatrix,
    KronMatrix,
    LowRankMatrix,
    MatrixModule,
    PrunedMatrix,
)
from dkgen.nn.recurrent import LSTM
from dkgen.structure.factors import FactorShapes, dkp_plan

METHODS = ("dense", "dkp", "kp", "pruned", "lmf", "hmd", "small")
# Methods whose masks follow a DopeSchedule during training.
ANNEALED = ("dkp", "pruned")


def _dense64(m: MatrixModule) -> np.ndarray:
    return m().detach().cpu().to(torch.float64).numpy()


def _fit(w: np.ndarray, method: str, ratio: float, *, factors: FactorShapes | None,
         dope_share: float, dope_density: float | None, initial_density: float,
         hmd_dense_share: float, factor_rule: str = "rank") -> MatrixModule:
    rows, cols = w.shape
    numel = rows * cols
    if method == "dense":
        return DenseMatrix.from_dense(w)
    if method == "dkp":
        factors, nnz = dkp_plan(rows, cols, ratio, factors, dope_share, factor_rule)
        if dope_density is not None:
            # Less dope than the budget leaves: the matrix ends up smaller than 1/ratio.
            nnz = min(nnz, int(round(dope_density * numel)))
        start = max(nnz, int(round(initial_density * numel)))
        m = DopedKronMatrix(rows, cols, factors, density=nnz / numel, initial_density=1.0)
        # The dope starts as the largest `start` entries of the residual W - A ⊗ B (all of
        # it by default, so the model starts out exactly equal to the dense one) and the
        # schedule then cuts it down to `nnz`.
        m._load_sparse(m._load_nearest(w), start)
        return m
    if method == "kp":
        return KronMatrix.from_dense(w, factors, ratio=None if factors else ratio,
                                     factor_rule=factor_rule)
    if method == "pruned":
        # Whole entries within the budget, so the ratio is met, not merely approached.
        nnz = math.floor(numel / ratio)
        m = PrunedMatrix(rows, cols, density=nnz / numel, initial_density=1.0)
        m._load_sparse(w, max(nnz, int(round(initial_density * numel))))
        return m
    if method == "lmf":
        return LowRankMatrix.from_dense(w, ratio=ratio)
    if method == "hmd":
        return HMDMatrix.from_dense(w, ratio=ratio, dense_share=hmd_dense_share)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def compress_lstm(lstm: LSTM, method: str, ratio: float | None, *,
                  factors: FactorShapes | None = None, dope_share: float = 0.25,
                  dope_density: float | None = None, initial_density: float = 1.0,
                  hmd_dense_share: float = 0.5, factor_rule: str = "rank") -> LSTM:
    """A copy of the dense dkgen `lstm` with every gate matrix compressed by `method`.

    factors: Kronecker factor shapes for every matrix (dkp, kp), else chosen by
        `dkp_plan` / `factor_shapes` from the ratio (`dope_share` of the budget is kept free
        for the dope when the shapes are chosen, and `factor_rule`, "rank" or "macs",
        decides between splits of equal size).
    dope_density: the dope's final density (dkp) if lower than the budget leaves.
    initial_density: where the dope (dkp) or the pruning mask (pruned) starts.
    """
    if method == "small":
        raise ValueError("'small' is a smaller dense model, not a compression of this one")
    if method != "dense" and (ratio is None or ratio <= 0):
        raise ValueError(f"method {method!r} needs a positive compression ratio")
    dense = {f"{role}_l{k}": _dense64(m) for k in range(lstm.num_layers)
             for role, m in zip(("w_ih", "w_hh"), lstm.matrices(k), strict=True)}

    def factory(rows: int, cols: int, name: str) -> MatrixModule:
        return _fit(dense[name], method, float(ratio or 1.0), factors=factors,
                    dope_share=dope_share, dope_density=dope_density,
                    initial_density=initial_density,
                    hmd_dense_share=hmd_dense_share, factor_rule=factor_rule)

    out = LSTM(lstm.input_size, lstm.hidden_size, lstm.num_layers, bias=lstm.bias,
               batch_first=lstm.batch_first, dropout=lstm.dropout, weight=factory)
    with torch.no_grad():
        for k in range(lstm.num_layers):
            src, dst = lstm.biases(k), out.biases(k)
            if src is not None and dst is not None:
                for s, d in zip(src, dst, strict=True):
                    d.copy_(s)
    return out


def dense_lstm_weights(input_size: int, hidden_size: int, num_layers: int) -> int:
    """Gate-matrix entries of a dense LSTM stack (biases excluded): every method's budget
    and compression are counted against this."""
    first = 4 * hidden_size * (input_size + hidden_size)
    return first + (num_layers - 1) * 8 * hidden_size * hidden_size


def check_structure(method: str, rows: int, cols: int, ratio: float, *,
                    factors: FactorShapes | None = None, dope_share: float = 0.25,
                    hmd_dense_share: float = 0.5, factor_rule: str = "rank") -> None:
    """Raise ValueError (saying why) if `method` cannot store a rows x cols gate matrix at
    `ratio` with these settings: the planning of `compress_lstm` without the fitting, so a
    run can be refused before anything is written or trained."""
    if method == "dkp":
        dkp_plan(rows, cols, ratio, factors, dope_share, factor_rule)
    elif method == "kp":
        KronMatrix(rows, cols, factors, ratio=None if factors else ratio, factor_rule=factor_rule)
    elif method == "pruned" and math.floor(rows * cols / ratio) < 1:
        raise ValueError(f"{ratio:g}x leaves no weight of a {rows}x{cols} matrix")
    elif method == "lmf":
        LowRankMatrix(rows, cols, ratio=ratio)
    elif method == "hmd":
        hmd_plan(rows, cols, ratio, hmd_dense_share)


def small_hidden_size(input_size: int, hidden_size: int, num_layers: int, ratio: float) -> int:
    """Largest hidden size whose dense LSTM weights fit the budget of `ratio` x compression.

    The budget is the dense model's gate-matrix entries / ratio (biases excluded, as for
    every other method); the input size (the embedding width) stays the same.
    """
    budget = dense_lstm_weights(input_size, hidden_size, num_layers) / ratio
    h = 1
    while dense_lstm_weights(input_size, h + 1, num_layers) <= budget:
        h += 1
    return h


def lstm_weights(lstm: LSTM) -> list[tuple[str, Weight]]:
    """(name, IR weight) of every gate matrix, in the compressed form deployed."""
    return [(f"{role}_l{k}", m.to_ir()) for k in range(lstm.num_layers)
            for role, m in zip(("w_ih", "w_hh"), lstm.matrices(k), strict=True)]


def lstm_size(lstm: LSTM) -> dict[str, int | float]:
    """Parameter and byte counts of an LSTM's weights as dkgen deploys them (float32).

    `params` and `bytes` include the biases; `bytes` also the sparse indices (CSR with
    16-bit columns and row pointers, `dope_index_bytes`).  `dope_nnz` counts dope or
    pruned entries; `dense_params` is what the same matrices hold uncompressed.
    """
    weights = lstm_weights(lstm)
    bias = sum(b.numel() for k in range(lstm.num_layers) for b in (lstm.biases(k) or ()))
    weight_params = sum(w.param_count for _, w in weights)
    dope = 0
    for m in lstm.modules():
        if isinstance(m, DopedKronMatrix | PrunedMatrix):
            dope += m.nnz
    dense_params = lstm.dense_param_count()
    return {
        "weight_params": weight_params,
        "params": weight_params + bias,
        "bytes": sum(w.storage_bytes() for _, w in weights) + 4 * bias,
        "dense_params": dense_params,
        "dope_nnz": dope,
        "compression": dense_params / float(weight_params),
    }


def describe(lstm: LSTM) -> dict[str, str]:
    """A short description of each gate matrix (its structure), for the results."""
    out = {}
    for k in range(lstm.num_layers):
        for role, m in zip(("w_ih", "w_hh"), lstm.matrices(k), strict=True):
            out[f"{role}_l{k}"] = f"{type(m).__name__}({m.extra_repr()})"
    return out
