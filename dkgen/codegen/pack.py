"""Weight packing: IR weights -> the constant arrays and kernel descriptors C needs.

Everything here is data: arrays of numbers with a C element type, and for each matrix the
kernel that multiplies by it with the fields of its parameter struct.  The templates turn
this into C text; no C syntax is produced here beyond number literals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    RowStackWeight,
    SparseDope,
    SparseWeight,
    Weight,
    kron_pass_order,
)

KRON_ORDER_XBT = 0  # T = X Bᵀ first, then Y += A T
KRON_ORDER_AX = 1  # T = A X first, then Y += T Bᵀ

# C element type name -> (numpy dtype, bytes)
CTYPES = {
    "float": (np.float32, 4),
    "int8_t": (np.int8, 1),
    "uint8_t": (np.uint8, 1),
    "int16_t": (np.int16, 2),
    "uint16_t": (np.uint16, 2),
    "int32_t": (np.int32, 4),
    "uint32_t": (np.uint32, 4),
}


def c_literal(value: float | int, ctype: str) -> str:
    """A C literal that reads back as exactly `value` in `ctype`."""
    if ctype == "float":
        text = str(np.float32(value))  # shortest string that round-trips a float32
        if "inf" in text or "nan" in text:
            raise ValueError("weights must be finite")
        if "." not in text and "e" not in text:
            text += ".0"
        return text + "f"
    if ctype.startswith("uint"):
        return f"{int(value)}u"
    if ctype == "int32_t" and int(value) == -(2**31):
        return "(-2147483647 - 1)"
    return str(int(value))


@dataclass
class CArray:
    """One `static const` array of a weights file (or of a runner's golden vectors):
    its symbol, C element type and values (flattened; integers must fit the type)."""

    symbol: str
    ctype: str
    values: np.ndarray

    def __post_init__(self) -> None:
        dtype, _ = CTYPES[self.ctype]
        v = np.asarray(self.values).reshape(-1)
        if self.ctype != "float":
            info = np.iinfo(dtype)
            if v.size and (v.min() < info.min or v.max() > info.max):
                raise ValueError(f"{self.symbol}: values do not fit {self.ctype}")
        self.values = np.ascontiguousarray(v, dtype=dtype)

    @property
    def length(self) -> int:
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        return self.length * CTYPES[self.ctype][1]

    def literal_rows(self, per_line: int = 8) -> list[str]:
        """The values as C literals, `per_line` to a row (the template chooses the layout)."""
        lits = [c_literal(v, self.ctype) for v in self.values.tolist()]
        return [", ".join(lits[i:i + per_line]) for i in range(0, len(lits), per_line)]


@dataclass
class CMatrix:
    """How one weight matrix is multiplied in C: its kernel, struct fields and arrays.

    `kind` selects the template macro: dense, kron (with optional dope), kron_multi (three
    or four factors, with optional dope), csr, low_rank, row_stack (whose blocks are `parts`).  `scratch` is the entries of scratch its
    matrix-vector product needs (float: floats; int8: the int16 intermediate).
    Used for both the float32 and the int8 library; the fields differ by dtype.
    """

    member: str
    kind: str
    rows: int
    cols: int
    arrays: list[CArray] = field(default_factory=list)
    fields: dict[str, object] = field(default_factory=dict)
    scratch: int = 0
    macs: int = 0
    # row_stack only: (first row, part) for each block, multiplied into y at that row
    parts: list[tuple[int, CMatrix]] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def leaves(self) -> list[CMatrix]:
        """The matrices a kernel multiplies: the blocks of a row stack, else itself."""
        return [p for _, p in self.parts] or [self]


def kron_order(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> tuple[int, int, int]:
    """(order, MACs, scratch floats) of the cheaper multiplication order for A ⊗ B."""
    (m1, n1), (m2, n2) = a_shape, b_shape
    cost_xbt = n1 * n2 * m2 + m1 * n1 * m2
    cost_ax = m1 * n1 * n2 + m1 * n2 * m2
    if cost_ax < cost_xbt:
        return KRON_ORDER_AX, cost_ax, m1 * n2
    return KRON_ORDER_XBT, cost_xbt, n1 * m2


def _chain_shape(shapes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    return math.prod(m for m, _ in shapes), math.prod(n for _, n in shapes)


def fold_split(shapes: Sequence[tuple[int, int]]) -> int:
    """Where the int8 library cuts a product of three or more factors into two (it runs
    two-factor products): the cut whose multiplied-out sides store the fewest values."""
    return min(range(1, len(shapes)),
               key=lambda p: math.prod(_chain_shape(shapes[:p])) + math.prod(_chain_shape(shapes[p:])))


def kron_multi_forms(shapes: Sequence[tuple[int, int]]) -> dict[int, int]:
    """MACs (dope aside) of the two forms of dkgen_kron_multi_matvec_s8 for three or more
    factors of these shapes, by the outer product's order: KRON_ORDER_XBT, the first factor
    against the two-factor product of the others, run on each slice of x; KRON_ORDER_AX,
    the two-factor product of all but the last against the last, run on each column."""
    def two_factor_macs(part: Sequence[tuple[int, int]]) -> int:
        if len(part) > 2:
            cut = fold_split(part)
            part = (_chain_shape(part[:cut]), _chain_shape(part[cut:]))
        return kron_order(part[0], part[1])[1]

    (mf, nf), (mr, _) = shapes[0], _chain_shape(shapes[1:])
    (ml, _), (mz, nz) = _chain_shape(shapes[:-1]), shapes[-1]
    return {KRON_ORDER_XBT: nf * two_factor_macs(shapes[1:]) + mf * nf * mr,
            KRON_ORDER_AX: nz * two_factor_macs(shapes[:-1]) + ml * nz * mz}


def kron_multi_passes(shapes: tuple[tuple[int, int], ...]) -> tuple[tuple[int, ...], int, int]:
    """(pass order, MACs, scratch floats) of dkgen_kron_multi_matvec_f32 for factors of
    these shapes: the cheapest order, and two buffers used in turn by every pass but the
    last (which adds into y), each as long as the largest intermediate it holds
    (runtime/dkgen_kron_multi_matvec_f32.c)."""
    passes, macs = kron_pass_order(*shapes)
    dims = [n for _, n in shapes]
    longest = [0, 0]
    for j, mode in enumerate(passes[:-1]):
        dims[mode] = shapes[mode][0]
        longest[j % 2] = max(longest[j % 2], math.prod(dims))
    return passes, macs, sum(longest)


def _csr_arrays(prefix: str, sparse: SparseDope) -> tuple[list[CArray], dict[str, object]]:
    row_ptr, cols, values = sparse.csr()
    wide = sparse.nnz >= 65536
    if sparse.rows >= 65536 or sparse.cols >= 65536:
        raise ValueError(f"{prefix}: sparse matrices are limited to 65535 rows and columns")
    rp = CArray(f"{prefix}_row_ptr", "uint32_t" if wide else "uint16_t", row_ptr)
    arrays = [rp, CArray(f"{prefix}_col", "uint16_t", cols), CArray(f"{prefix}_val", "float", values)]
    fields = {"row_ptr16": None if wide else rp.symbol, "row_ptr32": rp.symbol if wide else None,
              "col": arrays[1].symbol, "val": arrays[2].symbol, "rows": sparse.rows}
    return arrays, fields


def pack_matrix(prefix: str, weight: Weight) -> CMatrix:
    """Pack one float32 weight matrix for the C kernels."""
    rows, cols = weight.shape
    if isinstance(weight, DenseWeight):
        return CMatrix(prefix, "dense", rows, cols, [CArray(prefix, "float", weight.values)],
                       {"w": prefix}, 0, rows * cols)
    if isinstance(weight, KronWeight):
        shapes = weight.factor_shapes
        if max(max(sh) for sh in shapes) >= 65536:
            raise ValueError(f"{prefix}: Kronecker factors are limited to 65535 rows and columns")
        fields: dict[str, object]
        if weight.rest:
            kind = "kron_multi"
            passes, macs, scratch = kron_multi_passes(shapes)
            arrays = [CArray(f"{prefix}_f{i}", "float", f) for i, f in enumerate(weight.factors)]
            fields = {"factors": [a.symbol for a in arrays], "m": [m for m, _ in shapes],
                      "n": [n for _, n in shapes], "passes": list(passes)}
        else:
            kind = "kron"
            order, macs, scratch = kron_order(weight.a.shape, weight.b.shape)
            arrays = [CArray(f"{prefix}_a", "float", weight.a), CArray(f"{prefix}_b", "float", weight.b)]
            (m1, n1), (m2, n2) = shapes
            fields = {"a": arrays[0].symbol, "b": arrays[1].symbol, "m1": m1, "n1": n1,
                      "m2": m2, "n2": n2, "order": order}
        fields["dope"] = None
        if weight.dope is not None and weight.dope.nnz:
            dope_arrays, dope_fields = _csr_arrays(f"{prefix}_dope", weight.dope)
            arrays += dope_arrays
            fields["dope"] = dope_fields
            macs += weight.dope.nnz
        return CMatrix(prefix, kind, rows, cols, arrays, fields, scratch, macs)
    if isinstance(weight, SparseWeight):
        arrays, fields = _csr_arrays(prefix, weight.sparse)
        return CMatrix(prefix, "csr", rows, cols, arrays, fields, 0, weight.sparse.nnz)
    if isinstance(weight, LowRankWeight):
        rank = weight.u.shape[1]
        arrays = [CArray(f"{prefix}_u", "float", weight.u), CArray(f"{prefix}_v", "float", weight.v)]
        return CMatrix(prefix, "low_rank", rows, cols, arrays,
                       {"u": arrays[0].symbol, "v": arrays[1].symbol, "rank": rank},
                       rank, rank * (rows + cols))
    if isinstance(weight, RowStackWeight):
        parts, row = [], 0
        for i, part in enumerate(weight.parts):
            parts.append((row, pack_matrix(f"{prefix}_p{i}", part)))
            row += part.shape[0]
        m = CMatrix(prefix, "row_stack", rows, cols, [a for _, p in parts for a in p.arrays], {},
                    max(p.scratch for _, p in parts), sum(p.macs for _, p in parts))
        m.parts = parts
        return m
    raise TypeError(f"cannot pack weight kind {weight.kind}")
