"""Fitting dense IR weights to a compressed structure after training, without retraining:
what `dkgen compress` does to an ONNX model.

Every method meets the same budget as in training (`dkgen.nn`): a (rows, cols) matrix
compressed r times stores at most floor(rows*cols / r) values.

* dkp: the nearest Kronecker product (Van Loan–Pitsianis, `nearest_kron`) with the factor
  shapes of `dkp_plan`, doped with the largest entries of the residual against the float32
  factors that are stored (the same starting point `dkgen.nn.DopedKronMatrix.from_dense`
  fine-tunes from).
* kron: the nearest Kronecker product alone, the largest that fits the budget.
* pruned: the largest-magnitude entries.
* lowrank: the truncated SVD of the largest rank that fits, its singular values split
  evenly between U and V.

Without fine-tuning, what this costs in accuracy depends on the model; `dkgen compress`
reports each matrix's relative error and the outputs' change on sample inputs, so that the
cost is seen before any C is generated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from dkgen.ir.graph import RECURRENT, Layer, Linear, Model, map_weights
from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    SparseDope,
    SparseWeight,
    Weight,
)
from dkgen.structure.factors import FactorShapes, check_rule, dkp_plan
from dkgen.structure.nkp import nearest_kron_f32, top_magnitude_index, truncated_svd

METHODS = ("dkp", "kron", "pruned", "lowrank")


def largest_entries(rows: int, cols: int, values: np.ndarray, nnz: int) -> SparseDope:
    """The `nnz` largest-magnitude entries of `values` (rows x cols) as a sparse matrix."""
    index = top_magnitude_index(values, nnz)
    return SparseDope(rows, cols, index, values.reshape(-1)[index])


def fit_weight(w: np.ndarray, method: str, ratio: float, *, factors: FactorShapes | None = None,
               dope_share: float = 0.25, factor_rule: str = "rank", order: int = 2) -> Weight:
    """The (rows, cols) matrix `w` in structure `method`, `ratio` times smaller.

    factors: the Kronecker factor shapes (dkp, kron); else `order` factors chosen by
    `dope_share` and `factor_rule` (`dkgen.structure.factors`).  A ratio the structure
    cannot reach is a ValueError saying why.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not ratio > 0:
        raise ValueError(f"compression ratio must be positive, got {ratio}")
    check_rule(factor_rule)
    w64 = np.asarray(w, dtype=np.float64)
    rows, cols = w64.shape
    budget = math.floor(rows * cols / ratio)
    if method in ("dkp", "kron"):
        # kron: the plan of a DKP that keeps nothing for a dope, and stores none.
        factors, nnz = dkp_plan(rows, cols, ratio, factors,
                                dope_share if method == "dkp" else 0.0, factor_rule, order)
        nnz = nnz if method == "dkp" else 0
        stored, residual = nearest_kron_f32(w64, factors)
        return KronWeight.of(stored, largest_entries(rows, cols, residual, nnz) if nnz else None)
    if method == "pruned":
        if budget < 1:
            raise ValueError(f"{ratio:g}x leaves no entry of a {rows}x{cols} matrix")
        return SparseWeight(largest_entries(rows, cols, w64, budget))
    rank = budget // (rows + cols)
    if rank < 1:
        raise ValueError(f"a {rows}x{cols} matrix cannot be stored at rank 1 within {ratio:g}x "
                         f"({rows + cols} values, over the {budget} allowed)")
    return LowRankWeight(*truncated_svd(w64, min(rank, rows, cols)))


def compress_model(model: Model, method: str, ratio: float, *, linear: bool = False,
                   dope_share: float = 0.25, factor_rule: str = "rank", order: int = 2) -> Model:
    """`model` with the dense weight matrices of its recurrent layers (and, with `linear`,
    of its linear layers) fitted to `method` at `ratio` (Kronecker products of `order`
    factors); embeddings and weights that are
    structured already are left as they are."""
    kinds: tuple[type[Layer], ...] = (*RECURRENT, Linear) if linear else RECURRENT

    def fit(w: Weight) -> Weight:
        if not isinstance(w, DenseWeight):
            return w
        return fit_weight(w.values, method, ratio, dope_share=dope_share, factor_rule=factor_rule,
                          order=order)

    return map_weights(model, fit, None, kinds)


@dataclass(frozen=True)
class WeightFit:
    """One matrix before and after `compress_model`."""

    layer: str
    role: str
    shape: tuple[int, int]
    structure: str
    params: int
    dense_params: int
    rel_error: float  # ||W - W'||_F / ||W||_F

    def to_json(self) -> dict:
        return {**asdict(self), "shape": list(self.shape),
                "compression": self.dense_params / max(self.params, 1)}


def weight_fits(dense: Model, fitted: Model) -> list[WeightFit]:
    """Each matrix `compress_model` changed, with what it stores and how far it moved."""
    from dkgen.inspect import structure_text

    out = []
    for a, b in zip(dense.layers, fitted.layers, strict=True):
        for role, wa in a.weights().items():
            wb = b.weights()[role]
            if wb is wa:
                continue
            ref = wa.to_dense().astype(np.float64)
            err = np.linalg.norm(ref - wb.to_dense()) / max(np.linalg.norm(ref), 1e-30)
            out.append(WeightFit(a.name, role, wa.shape, structure_text(wb), wb.param_count,
                                 wa.param_count, float(err)))
    return out


def output_change(dense: Model, fitted: Model, x: np.ndarray) -> dict[str, float]:
    """How the outputs move on inputs `x` (reference executor, float64): the largest and
    mean absolute change, and how often the largest output (the predicted class or word)
    stays the same, over every sequence and step."""
    from dkgen.ir.reference import ReferenceExecutor

    want, got = ReferenceExecutor(dense)(x), ReferenceExecutor(fitted)(x)
    diff = np.abs(got - want)
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()),
            "top1_agreement": float(np.mean(got.argmax(-1) == want.argmax(-1)))}
