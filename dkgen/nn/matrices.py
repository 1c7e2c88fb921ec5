"""Matrix parametrisations: modules whose forward() returns a (rows, cols) weight matrix.

Every compressible weight in dkgen.nn is one of these, so a layer never needs to know how
its matrices are stored: it calls the module, gets a dense tensor for PyTorch's fused
kernels, and asks `to_ir()` for the compressed form that code generation keeps.

`to_ir()` returns exactly the trained float32 values; `num_stored_params()` counts the
numbers a deployment stores (factor entries plus dope values, not indices), matching
`Weight.param_count` of the IR weight.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    SparseDope,
    SparseWeight,
    Weight,
)
from dkgen.structure.factors import FactorShapes, check_factors, dkp_plan, factor_shapes
from dkgen.structure.nkp import nearest_kron_f32, top_magnitude_index, truncated_svd


def _np32(t: Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy().copy()


def _as_np64(w: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(w, Tensor):
        w = w.detach().cpu().to(torch.float64).numpy()
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {w.shape}")
    return w


def _count(density: float, rows: int, cols: int) -> int:
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must lie in [0, 1], got {density}")
    return int(round(density * rows * cols))


class MatrixModule(nn.Module):
    """Base class: a (rows, cols) matrix built from parameters by forward()."""

    def __init__(self, rows: int, cols: int) -> None:
        super().__init__()
        if rows < 1 or cols < 1:
            raise ValueError(f"matrix shape must be positive, got {rows}x{cols}")
        self.rows = int(rows)
        self.cols = int(cols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def forward(self) -> Tensor:
        raise NotImplementedError

    def to_ir(self) -> Weight:
        raise NotImplementedError

    def num_stored_params(self) -> int:
        raise NotImplementedError

    def reset_parameters(self, bound: float) -> None:
        """Initialise so the product's entries have the variance of U(-bound, bound)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.rows}x{self.cols}, stored={self.num_stored_params()}"


class DenseMatrix(MatrixModule):
    """An ordinary dense matrix (the uncompressed baseline)."""

    def __init__(self, rows: int, cols: int) -> None:
        super().__init__(rows, cols)
        self.weight = nn.Parameter(torch.empty(rows, cols))
        self.reset_parameters(1.0 / math.sqrt(cols))

    def reset_parameters(self, bound: float) -> None:
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self) -> Tensor:
        return self.weight

    def to_ir(self) -> DenseWeight:
        return DenseWeight(_np32(self.weight))

    def num_stored_params(self) -> int:
        return self.rows * self.cols

    @classmethod
    def from_dense(cls, w: Tensor | np.ndarray) -> DenseMatrix:
        w64 = _as_np64(w)
        m = cls(*w64.shape)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(w64))
        return m


def kron2(a: Tensor, b: Tensor) -> Tensor:
    """A ⊗ B by broadcasting (same values as torch.kron, one fused multiply)."""
    (m1, n1), (m2, n2) = a.shape, b.shape
    return (a[:, None, :, None] * b[None, :, None, :]).reshape(m1 * m2, n1 * n2)


def kron_chain(factors: list[Tensor]) -> Tensor:
    """A ⊗ B ⊗ ... (two-factor products from the left)."""
    out = factors[0]
    for f in factors[1:]:
        out = kron2(out, f)
    return out


# Parameter names of the factors, in order: checkpoints of two-factor models hold a and b.
FACTOR_NAMES = ("a", "b", "c", "d")


class KronMatrix(MatrixModule):
    """W = A ⊗ B (⊗ C ...), A (m1, n1), B (m2, n2); shapes from `factor_shapes` (with
    `factor_rule`, `order` factors) unless given."""

    def __init__(self, rows: int, cols: int, factors: FactorShapes | None = None, *,
                 ratio: float | None = None, factor_rule: str = "rank", order: int = 2) -> None:
        super().__init__(rows, cols)
        if factors is None:
            factors = factor_shapes(rows, cols, ratio, dope_share=0.0, rule=factor_rule, order=order)
        self._make_factors(factors)
        self.reset_parameters(1.0 / math.sqrt(cols))

    def _make_factors(self, factors: FactorShapes) -> None:
        self.factors = check_factors(self.rows, self.cols, factors)
        for name, (m, n) in zip(FACTOR_NAMES, self.factors, strict=False):
            setattr(self, name, nn.Parameter(torch.empty(m, n)))

    def factor_params(self) -> list[nn.Parameter]:
        return [getattr(self, name) for name in FACTOR_NAMES[:len(self.factors)]]

    def reset_parameters(self, bound: float) -> None:
        # The variance of a product of independent factors is the product of theirs:
        # U(-β, β) factors give the variance of U(-bound, bound) when (β²/3)^k = bound²/3.
        k = len(self.factors)
        beta = math.sqrt(3.0) * (bound * bound / 3.0) ** (0.5 / k)
        for f in self.factor_params():
            nn.init.uniform_(f, -beta, beta)

    def kron(self) -> Tensor:
        return kron_chain(self.factor_params())

    def forward(self) -> Tensor:
        return self.kron()

    def factors_to_ir(self) -> list[np.ndarray]:
        return [_np32(f) for f in self.factor_params()]

    def to_ir(self) -> KronWeight:
        return KronWeight.of(self.factors_to_ir())

    def num_stored_params(self) -> int:
        return sum(f.numel() for f in self.factor_params())

    def _load_nearest(self, w64: np.ndarray) -> np.ndarray:
        stored, residual = nearest_kron_f32(w64, self.factors)
        with torch.no_grad():
            for f, value in zip(self.factor_params(), stored, strict=True):
                f.copy_(torch.from_numpy(value))
        return residual

    @classmethod
    def from_dense(cls, w: Tensor | np.ndarray, factors: FactorShapes | None = None, *,
                   ratio: float | None = None, factor_rule: str = "rank",
                   order: int = 2) -> KronMatrix:
        """The nearest Kronecker product to `w` (Van Loan–Pitsianis)."""
        w64 = _as_np64(w)
        m = cls(*w64.shape, factors, ratio=ratio, factor_rule=factor_rule, order=order)
        m._load_nearest(w64)
        return m


def keep_largest(score: Tensor, count: int) -> Tensor:
    """Bool mask of the `count` highest of the flat scores `score`.  The stable sort breaks
    ties by position, so pruning is deterministic."""
    keep = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
    keep[torch.argsort(score, descending=True, stable=True)[:count]] = True
    return keep


class MaskedMatrix(MatrixModule):
    """Shared machinery for matrices with a sparse part S = values * mask.

    `values` is a full-size parameter and `mask` a bool buffer: the mask is honoured
    exactly (entries outside it get zero gradient and never reach the IR), and the mask can
    shrink by magnitude (`prune_to`) under a dope schedule without reallocating anything.
    `density` is the final density the sparse part is meant to reach; `target_nnz` its
    entry count.
    """

    values: nn.Parameter
    mask: Tensor
    # Set by a DopeSchedule of scope "model": the mask then ends where one threshold over
    # all the model's masked matrices leaves it, and target_nnz is only this matrix's even
    # share of their total.
    shared_threshold: bool = False

    def _init_sparse(self, density: float, initial_density: float | None) -> None:
        self.density = float(density)
        self._target_nnz = _count(self.density, self.rows, self.cols)
        start = self.density if initial_density is None else float(initial_density)
        nnz = _count(start, self.rows, self.cols)
        self.values = nn.Parameter(torch.zeros(self.rows, self.cols))
        self.register_buffer("mask", self._random_mask(nnz))

    def _random_mask(self, nnz: int) -> Tensor:
        # Positions chosen with the global RNG, so seeding torch makes them reproducible.
        mask = torch.zeros(self.rows * self.cols, dtype=torch.bool)
        if nnz >= mask.numel():
            mask[:] = True
        elif nnz > 0:
            mask[torch.randperm(mask.numel())[:nnz]] = True
        return mask.reshape(self.rows, self.cols)

    @property
    def target_nnz(self) -> int:
        return self._target_nnz

    @property
    def nnz(self) -> int:
        return int(self.mask.sum())

    def sparse(self) -> Tensor:
        return self.values * self.mask

    def set_mask(self, mask: Tensor | np.ndarray) -> None:
        mask = torch.as_tensor(mask, dtype=torch.bool).reshape(self.rows, self.cols)
        with torch.no_grad():
            self.mask.copy_(mask)
            self.values.masked_fill_(~self.mask, 0.0)

    def prune_score(self) -> Tensor:
        """Magnitude of each entry; entries outside the mask score -1, never to be kept."""
        with torch.no_grad():
            return torch.where(self.mask, self.values.abs(), torch.full_like(self.values, -1.0))

    def prune_to(self, nnz: int) -> None:
        """Keep the `nnz` largest-magnitude entries inside the mask (never regrows)."""
        nnz = max(0, int(nnz))
        if nnz >= self.nnz:
            return
        self.set_mask(keep_largest(self.prune_score().reshape(-1), nnz))

    def sparse_to_ir(self) -> SparseDope:
        flat_mask = self.mask.detach().cpu().reshape(-1).numpy()
        index = np.flatnonzero(flat_mask)
        return SparseDope(self.rows, self.cols, index, _np32(self.values).reshape(-1)[index])

    def _load_sparse(self, residual: np.ndarray, nnz: int) -> None:
        index = top_magnitude_index(residual, nnz)
        mask = np.zeros(self.rows * self.cols, dtype=bool)
        mask[index] = True
        with torch.no_grad():
            self.values.copy_(torch.from_numpy(residual))
        self.set_mask(torch.from_numpy(mask))


class DopedKronMatrix(MaskedMatrix, KronMatrix):
    """W = A ⊗ B + S: a Kronecker product plus an extremely sparse dope S.

    density: the dope's final density (fraction of rows*cols); with `ratio` and no density,
        whatever the factors leave of the ratio's budget (`dkp_plan`).
    factor_rule: what decides between factor splits of equal size when `factors` is not
        given: "rank" or "macs" (`dkgen.structure.factors`).
    initial_density: the mask's density at construction (random positions); 1.0 starts
        with a dense dope for a `DopeSchedule` to anneal.  Defaults to `density`.
    cmr: co-matrix dropout rate.  In training mode each forward drops dope entries with
        this probability (survivors scaled by 1/(1-cmr)), so the Kronecker part cannot
        co-adapt to particular dope entries; in eval mode S is used as is.  Dropping the
        entries of S rather than the output of S·x keeps one weight per forward, which the
        fused recurrent kernels need.
    """

    def __init__(self, rows: int, cols: int, factors: FactorShapes | None = None, *,
                 density: float | None = None, ratio: float | None = None,
                 initial_density: float | None = None, cmr: float = 0.0,
                 dope_share: float = 0.25, factor_rule: str = "rank", order: int = 2) -> None:
        MatrixModule.__init__(self, rows, cols)
        if ratio is not None:
            factors, nnz = dkp_plan(rows, cols, ratio, factors, dope_share, factor_rule, order)
            if density is None:
                density = nnz / float(rows * cols)
        if factors is None:
            factors = factor_shapes(rows, cols, rule=factor_rule, order=order)
        if density is None:
            density = 0.01
        self._make_factors(factors)
        self._init_sparse(density, initial_density)
        self.set_cmr(cmr)
        self.reset_parameters(1.0 / math.sqrt(cols))

    def set_cmr(self, rate: float) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"co-matrix dropout rate must lie in [0, 1), got {rate}")
        self.cmr = float(rate)

    def reset_parameters(self, bound: float) -> None:
        KronMatrix.reset_parameters(self, bound)
        with torch.no_grad():
            self.values.zero_()

    def dope(self) -> Tensor:
        s = self.values * self.mask
        if self.training and self.cmr > 0.0:
            keep = torch.rand_like(s) >= self.cmr
            s = s * keep / (1.0 - self.cmr)
        return s

    def forward(self) -> Tensor:
        return self.kron() + self.dope()

    def to_ir(self) -> KronWeight:
        return KronWeight.of(self.factors_to_ir(), self.sparse_to_ir())

    def num_stored_params(self) -> int:
        return KronMatrix.num_stored_params(self) + self.nnz

    @classmethod
    def from_dense(cls, w: Tensor | np.ndarray, factors: FactorShapes | None = None, *,
                   density: float | None = None, ratio: float | None = None,
                   cmr: float = 0.0, dope_share: float = 0.25,
                   factor_rule: str = "rank", order: int = 2) -> DopedKronMatrix:
        """Nearest Kronecker product of `w`, doped with its largest residual entries."""
        w64 = _as_np64(w)
        m = cls(*w64.shape, factors, density=density, ratio=ratio, cmr=cmr,
                dope_share=dope_share, factor_rule=factor_rule, order=order)
        residual = m._load_nearest(w64)
        m._load_sparse(residual, m.target_nnz)
        return m

    def extra_repr(self) -> str:
        target = (f"even share {self.target_nnz} of a model-wide threshold" if self.shared_threshold
                  else f"target {self.target_nnz}")
        return (f"{self.rows}x{self.cols}, factors={self.factors}, dope={self.nnz} "
                f"({target}), cmr={self.cmr}")


class PrunedMatrix(MaskedMatrix):
    """A magnitude-pruned matrix: only the entries in the mask exist (baseline)."""

    def __init__(self, rows: int, cols: int, *, density: float = 0.1,
                 initial_density: float | None = None) -> None:
        super().__init__(rows, cols)
        self._init_sparse(density, initial_density)
        self.reset_parameters(1.0 / math.sqrt(cols))

    def reset_parameters(self, bound: float) -> None:
        with torch.no_grad():
            nn.init.uniform_(self.values, -bound, bound)
            self.values.masked_fill_(~self.mask, 0.0)

    def forward(self) -> Tensor:
        return self.values * self.mask

    def to_ir(self) -> SparseWeight:
        return SparseWeight(self.sparse_to_ir())

    def num_stored_params(self) -> int:
        return self.nnz

    @classmethod
    def from_dense(cls, w: Tensor | np.ndarray, *, density: float) -> PrunedMatrix:
        w64 = _as_np64(w)
        m = cls(*w64.shape, density=density, initial_density=density)
        m._load_sparse(w64, m.target_nnz)
        return m


class LowRankMatrix(MatrixModule):
    """W = U V with U (rows, rank), V (rank, cols) (the LMF baseline)."""

    def __init__(self, rows: int, cols: int, rank: int | None = None, *,
                 ratio: float | None = None) -> None:
        super().__init__(rows, cols)
        if rank is None:
            if ratio is None:
                raise ValueError("LowRankMatrix needs a rank or a ratio")
            rank = int(rows * cols / ratio // (rows + cols))
        if not 1 <= rank <= min(rows, cols):
            raise ValueError(f"rank {rank} is not in [1, {min(rows, cols)}] for {rows}x{cols}")
        self.rank = int(rank)
        self.u = nn.Parameter(torch.empty(rows, rank))
        self.v = nn.Parameter(torch.empty(rank, cols))
        self.reset_parameters(1.0 / math.sqrt(cols))

    def reset_parameters(self, bound: float) -> None:
        # Sum of `rank` products: each factor's variance is (bound²/3/rank)^(1/2).
        beta = math.sqrt(3.0) * (bound * bound / 3.0 / self.rank) ** 0.25
        nn.init.uniform_(self.u, -beta, beta)
        nn.init.uniform_(self.v, -beta, beta)

    def forward(self) -> Tensor:
        return self.u @ self.v

    def to_ir(self) -> LowRankWeight:
        return LowRankWeight(_np32(self.u), _np32(self.v))

    def num_stored_params(self) -> int:
        return self.u.numel() + self.v.numel()

    @classmethod
    def from_dense(cls, w: Tensor | np.ndarray, rank: int | None = None, *,
                   ratio: float | None = None) -> LowRankMatrix:
        """Truncated SVD, the singular values split evenly between U and V."""
        w64 = _as_np64(w)
        m = cls(*w64.shape, rank, ratio=ratio)
        u, v = truncated_svd(w64, m.rank)
        with torch.no_grad():
            m.u.copy_(torch.from_numpy(u))
            m.v.copy_(torch.from_numpy(v))
        return m


MatrixSpec = str | type[MatrixModule]

_KINDS: dict[str, type[MatrixModule]] = {
    "dense": DenseMatrix,
    "kron": KronMatrix,
    "kp": KronMatrix,
    "dkp": DopedKronMatrix,
    "doped_kron": DopedKronMatrix,
    "lowrank": LowRankMatrix,
    "lmf": LowRankMatrix,
    "pruned": PrunedMatrix,
    "sparse": PrunedMatrix,
}


def matrix_class(kind: MatrixSpec) -> type[MatrixModule]:
    """The MatrixModule class for a kind name ("dense", "kron", "dkp", "lowrank", "pruned")."""
    if isinstance(kind, type) and issubclass(kind, MatrixModule):
        return kind
    try:
        return _KINDS[str(kind).lower()]
    except KeyError:
        raise ValueError(f"unknown matrix kind {kind!r}; expected one of {sorted(_KINDS)}") from None


def make_matrix(kind: MatrixSpec, rows: int, cols: int, **options: object) -> MatrixModule:
    """Build a (rows, cols) matrix module of the given kind with kind-specific options.

    Options a kind does not take are an error, so a misspelt option is never ignored.
    """
    cls = matrix_class(kind)
    if cls is DenseMatrix:
        allowed: set[str] = set()
    elif cls is DopedKronMatrix:
        allowed = {"factors", "density", "ratio", "initial_density", "cmr", "dope_share",
                   "factor_rule", "order"}
    elif cls is KronMatrix:
        allowed = {"factors", "ratio", "factor_rule", "order"}
    elif cls is LowRankMatrix:
        allowed = {"rank", "ratio"}
    elif cls is PrunedMatrix:
        allowed = {"density", "initial_density"}
    else:
        return cls(rows, cols, **options)  # type: ignore[arg-type]
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(f"{cls.__name__} takes no option(s) {sorted(unknown)}")
    return cls(rows, cols, **options)  # type: ignore[arg-type]
