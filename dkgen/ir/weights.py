"""Weight matrices as the IR stores them: dense, Kronecker, doped Kronecker.

A weight is a 2-D matrix of shape (rows, cols) that multiplies a column vector.  The IR
keeps structured weights in their compressed form (the factors, the dope) so that code
generation can compute on them; `to_dense()` exists for the reference executor, the
ONNX checks and reports, never for generated code.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

FLOAT = np.float32
# Most factors a Kronecker product may have (the C kernels' DKGEN_KRON_MAX_FACTORS).
MAX_FACTORS = 4


def _as_matrix(name: str, values: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=FLOAT)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite values")
    return arr


@dataclass(frozen=True, eq=False)
class SparseDope:
    """A sparse overlay on a (rows, cols) matrix: sorted unique flat row-major indices."""

    rows: int
    cols: int
    index: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        index = np.ascontiguousarray(self.index, dtype=np.int64).reshape(-1)
        values = np.ascontiguousarray(self.values, dtype=FLOAT).reshape(-1)
        if index.shape != values.shape:
            raise ValueError("dope index and values differ in length")
        if index.size and (index.min() < 0 or index.max() >= self.rows * self.cols):
            raise ValueError("dope index out of range")
        order = np.argsort(index, kind="stable")
        index, values = index[order], values[order]
        if index.size > 1 and np.any(np.diff(index) == 0):
            raise ValueError("dope index has duplicates")
        if not np.all(np.isfinite(values)):
            raise ValueError("dope values are not finite")
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "values", values)

    @property
    def nnz(self) -> int:
        return int(self.index.size)

    @property
    def density(self) -> float:
        return self.nnz / float(self.rows * self.cols)

    @property
    def row_index(self) -> np.ndarray:
        return self.index // self.cols

    @property
    def col_index(self) -> np.ndarray:
        return self.index % self.cols

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.rows * self.cols, dtype=FLOAT)
        out[self.index] = self.values
        return out.reshape(self.rows, self.cols)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row_ptr, col_index, values) of the overlay in compressed sparse rows."""
        counts = np.bincount(self.row_index, minlength=self.rows)
        row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return row_ptr, self.col_index.astype(np.int64), self.values

    @classmethod
    def from_dense(cls, matrix: np.ndarray) -> SparseDope:
        m = np.asarray(matrix, dtype=FLOAT)
        flat = m.reshape(-1)
        index = np.flatnonzero(flat)
        return cls(m.shape[0], m.shape[1], index, flat[index])

    @classmethod
    def empty(cls, rows: int, cols: int) -> SparseDope:
        return cls(rows, cols, np.zeros(0, np.int64), np.zeros(0, FLOAT))


@dataclass(frozen=True, eq=False)
class Weight:
    """Base class: a (rows, cols) matrix in some stored form."""

    kind = "abstract"

    @property
    def shape(self) -> tuple[int, int]:
        raise NotImplementedError

    def to_dense(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def param_count(self) -> int:
        """Numbers stored (values only, not indices)."""
        raise NotImplementedError

    def storage_bytes(self, value_bytes: int = 4) -> int:
        """Bytes needed to store the weight: values plus any index arrays."""
        raise NotImplementedError

    @cached_property
    def dense64(self) -> np.ndarray:
        # The reference executor multiplies in float64 so that it is a better answer than
        # any float32 implementation, not merely another one.
        return self.to_dense().astype(np.float64)

    @property
    def dense_param_count(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one matrix-vector product in the form dkgen generates."""
        return self.shape[0] * self.shape[1]


@dataclass(frozen=True, eq=False)
class DenseWeight(Weight):
    values: np.ndarray
    kind = "dense"

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _as_matrix("dense weight", self.values))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.values.shape)  # type: ignore[return-value]

    def to_dense(self) -> np.ndarray:
        return self.values

    @property
    def param_count(self) -> int:
        return int(self.values.size)

    def storage_bytes(self, value_bytes: int = 4) -> int:
        return self.param_count * value_bytes


def dope_index_bytes(dope: SparseDope) -> int:
    """Bytes of the packed dope indices: CSR with 16-bit row pointers and columns."""
    if dope.nnz == 0:
        return 0
    return 2 * (dope.rows + 1) + 2 * dope.nnz


def kron_chain(factors: tuple[np.ndarray, ...] | list[np.ndarray]) -> np.ndarray:
    """A ⊗ B ⊗ ... in float64."""
    return functools.reduce(np.kron, (np.asarray(f, dtype=np.float64) for f in factors))


def kron_pass_order(*shapes: tuple[int, int]) -> tuple[tuple[int, ...], int]:
    """The cheapest order in which to apply the factors of (A1 ⊗ ... ⊗ Ak) x, and its
    multiply-accumulates.

    x seen as a k-way tensor of sizes (n1, ..., nk) is multiplied by one factor along its
    mode at a time; factor i costs (the tensor's current size) * mi and turns that mode's
    ni into mi, so the order matters when factors grow or shrink the tensor differently.
    Ties go to the lexicographically first order; for two factors, (1, 0) is vec(B X Aᵀ)
    with B X first.
    """
    best: tuple[int, tuple[int, ...]] | None = None
    for order in itertools.permutations(range(len(shapes))):
        size, macs = math.prod(n for _, n in shapes), 0
        for i in order:
            m, n = shapes[i]
            macs += size * m
            size = size // n * m
        if best is None or macs < best[0]:
            best = (macs, order)
    assert best is not None
    return best[1], best[0]


def kron_macs(*shapes: tuple[int, int]) -> int:
    """Multiply-accumulates of (A ⊗ B ⊗ ...) x in factored form, in the cheapest order of
    its passes (code generation picks it; for two factors, the cheaper of the two orders of
    vec(B X Aᵀ))."""
    return kron_pass_order(*shapes)[1]


@dataclass(frozen=True, eq=False)
class KronWeight(Weight):
    """W = A ⊗ B (⊗ C ...) (+ S when `dope` is set: the doped Kronecker product).

    `rest` holds the factors after the second, in order: most models have two factors,
    and everything that handles only two checks that `rest` is empty.
    """

    a: np.ndarray
    b: np.ndarray
    dope: SparseDope | None = field(default=None)
    rest: tuple[np.ndarray, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _as_matrix("Kronecker factor A", self.a))
        object.__setattr__(self, "b", _as_matrix("Kronecker factor B", self.b))
        object.__setattr__(self, "rest", tuple(
            _as_matrix(f"Kronecker factor {chr(ord('C') + i)}", f) for i, f in enumerate(self.rest)))
        if len(self.rest) > MAX_FACTORS - 2:
            raise ValueError(f"a Kronecker product has at most {MAX_FACTORS} factors, got "
                             f"{2 + len(self.rest)}")
        if self.dope is not None and (self.dope.rows, self.dope.cols) != self.shape:
            raise ValueError(f"dope shape {(self.dope.rows, self.dope.cols)} != weight shape {self.shape}")

    @classmethod
    def of(cls, factors: tuple[np.ndarray, ...] | list[np.ndarray],
           dope: SparseDope | None = None) -> KronWeight:
        """From all its factors, two or more."""
        if len(factors) < 2:
            raise ValueError(f"a Kronecker product needs two factors or more, got {len(factors)}")
        return cls(factors[0], factors[1], dope, tuple(factors[2:]))

    @property
    def factors(self) -> tuple[np.ndarray, ...]:
        return (self.a, self.b, *self.rest)

    @property
    def factor_shapes(self) -> tuple[tuple[int, int], ...]:
        return tuple((int(f.shape[0]), int(f.shape[1])) for f in self.factors)

    def _kron64(self) -> np.ndarray:
        return kron_chain(self.factors)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "doped_kron" if self.dope is not None else "kron"

    @property
    def shape(self) -> tuple[int, int]:
        shapes = self.factor_shapes
        return (math.prod(m for m, _ in shapes), math.prod(n for _, n in shapes))

    def to_dense(self) -> np.ndarray:
        dense = self._kron64()
        if self.dope is not None:
            dense = dense + self.dope.to_dense()
        return dense.astype(FLOAT)

    @cached_property
    def dense64(self) -> np.ndarray:
        dense = self._kron64()
        if self.dope is not None:
            dense = dense + self.dope.to_dense().astype(np.float64)
        return dense

    @property
    def param_count(self) -> int:
        n = sum(int(f.size) for f in self.factors)
        return n + (self.dope.nnz if self.dope is not None else 0)

    def storage_bytes(self, value_bytes: int = 4) -> int:
        total = self.param_count * value_bytes
        if self.dope is not None:
            total += dope_index_bytes(self.dope)
        return total

    @property
    def macs(self) -> int:
        return kron_macs(*self.factor_shapes) + (self.dope.nnz if self.dope is not None else 0)


@dataclass(frozen=True, eq=False)
class SparseWeight(Weight):
    """A pruned matrix: only the entries of `sparse` are stored (CSR in generated code)."""

    sparse: SparseDope
    kind = "sparse"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.sparse.rows, self.sparse.cols)

    def to_dense(self) -> np.ndarray:
        return self.sparse.to_dense()

    @property
    def param_count(self) -> int:
        return self.sparse.nnz

    def storage_bytes(self, value_bytes: int = 4) -> int:
        return self.param_count * value_bytes + dope_index_bytes(self.sparse)

    @property
    def macs(self) -> int:
        return self.sparse.nnz


@dataclass(frozen=True, eq=False)
class LowRankWeight(Weight):
    """W = U V with U (rows, rank) and V (rank, cols)."""

    u: np.ndarray
    v: np.ndarray
    kind = "low_rank"

    def __post_init__(self) -> None:
        object.__setattr__(self, "u", _as_matrix("low-rank factor U", self.u))
        object.__setattr__(self, "v", _as_matrix("low-rank factor V", self.v))
        if self.u.shape[1] != self.v.shape[0]:
            raise ValueError(f"low-rank factors do not chain: {self.u.shape} @ {self.v.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.u.shape[0], self.v.shape[1])

    def to_dense(self) -> np.ndarray:
        return (self.u.astype(np.float64) @ self.v.astype(np.float64)).astype(FLOAT)

    @property
    def param_count(self) -> int:
        return int(self.u.size + self.v.size)

    def storage_bytes(self, value_bytes: int = 4) -> int:
        return self.param_count * value_bytes

    @property
    def macs(self) -> int:
        return self.param_count




@dataclass(frozen=True, eq=False)
class RowStackWeight(Weight):
    """Row blocks stacked vertically, each in its own form (HMD: dense rows over low-rank)."""

    parts: tuple[Weight, ...]
    kind = "row_stack"

    def __post_init__(self) -> None:
        parts = tuple(self.parts)
        if not parts:
            raise ValueError("a row stack needs at least one part")
        if any(isinstance(p, RowStackWeight) for p in parts):
            raise ValueError("row stacks do not nest")
        cols = {p.shape[1] for p in parts}
        if len(cols) != 1:
            raise ValueError(f"row stack parts differ in columns: {sorted(cols)}")
        object.__setattr__(self, "parts", parts)

    @property
    def shape(self) -> tuple[int, int]:
        return (sum(p.shape[0] for p in self.parts), self.parts[0].shape[1])

    def to_dense(self) -> np.ndarray:
        return np.concatenate([p.to_dense() for p in self.parts], axis=0)

    @property
    def param_count(self) -> int:
        return sum(p.param_count for p in self.parts)

    def storage_bytes(self, value_bytes: int = 4) -> int:
        return sum(p.storage_bytes(value_bytes) for p in self.parts)

    @property
    def macs(self) -> int:
        return sum(p.macs for p in self.parts)
