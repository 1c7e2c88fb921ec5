"""The quantised model: integer parameters, and the integer arithmetic of each matrix form.

A `QuantModel` mirrors the IR chain (`dkgen.ir.graph.Model`) layer for layer, holding
only what the integer computation needs (int8 factors, int32 multipliers, shifts, tables)
plus the real scales they were derived from, for reports.  The `acc` methods define how
each matrix form multiplies an int8 vector into int32 accumulators; the C kernels follow
them operation for operation (docs/quantization.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dkgen.codegen.pack import KRON_ORDER_AX
from dkgen.ir.graph import InputSpec, Model
from dkgen.quant.arith import INT32_MAX, quantize_multiplier, requantize, sat

PER_TENSOR, PER_OUTER, PER_INNER = "tensor", "outer", "inner"
_PER_CODE = {PER_TENSOR: 0, PER_OUTER: 1, PER_INNER: 2}


def _i64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def imatmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer a @ b through float64 BLAS.

    Every product and partial sum here is an integer below 2**53 in magnitude (the
    accumulator bounds keep them below 2**31), and float64 represents those exactly, so
    any summation order gives the exact result, fast.
    """
    return np.matmul(np.asarray(a, np.float64), np.asarray(b, np.float64)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Requant:
    """Multipliers (Q31 mantissa, right shift) for a vector of rows = outer * inner.

    `per` says which index selects the multiplier: one for all rows (tensor), row // inner
    (outer) or row % inner (inner).  A Kronecker product's accumulator scale is the product
    of a per-A-row and a per-B-row factor, so this covers it with m1 or m2 entries
    instead of m1 * m2.
    """

    mult: np.ndarray
    shift: np.ndarray
    per: str
    outer: int
    inner: int
    real: np.ndarray  # the multipliers as real numbers (for reports)

    @classmethod
    def from_real(cls, real: np.ndarray | float, per: str, outer: int, inner: int) -> Requant:
        real = np.atleast_1d(np.asarray(real, dtype=np.float64))
        want = {PER_TENSOR: 1, PER_OUTER: outer, PER_INNER: inner}[per]
        if real.size != want:
            raise ValueError(f"{per} requantisation needs {want} multipliers, got {real.size}")
        pairs = [quantize_multiplier(float(v)) for v in real]
        return cls(np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64),
                   per, outer, inner, real)

    @property
    def rows(self) -> int:
        return self.outer * self.inner

    @property
    def per_code(self) -> int:
        return _PER_CODE[self.per]

    def index(self) -> np.ndarray:
        r = np.arange(self.rows)
        if self.per == PER_OUTER:
            return r // self.inner
        if self.per == PER_INNER:
            return r % self.inner
        return np.zeros(self.rows, dtype=np.int64)

    def apply(self, acc: np.ndarray) -> np.ndarray:
        """Requantise accumulators (..., rows) to int32 (unsaturated to any narrower type)."""
        idx = self.index()
        return requantize(acc, self.mult[idx], self.shift[idx])

    @property
    def nbytes(self) -> int:
        return 5 * int(self.mult.size)  # int32 multiplier + int8 shift each


@dataclass(eq=False)
class QMatrix:
    """Base: an int8 matrix form multiplying int8 vectors into int32 accumulators.

    acc_per / acc_scale: the real scale of accumulator row r is acc_scale[idx(r)], with the
    index rule of `Requant` over (acc_outer, acc_inner).
    """

    rows: int
    cols: int
    acc_per: str = PER_TENSOR
    acc_outer: int = 1
    acc_inner: int = 1
    acc_scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    kind = "abstract"

    def acc(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def acc_scale_rows(self) -> np.ndarray:
        idx = Requant(np.zeros(1), np.zeros(1), self.acc_per, self.acc_outer, self.acc_inner,
                      np.zeros(1)).index()
        return np.asarray(self.acc_scale, np.float64)[idx]

    def acc_bound(self) -> np.ndarray:
        """Per row, the largest |accumulator| any int8 input can produce (partial sums too)."""
        raise NotImplementedError

    def requant_to(self, out_scale: float) -> Requant:
        """Multipliers taking this matrix's accumulators to `out_scale`."""
        return Requant.from_real(np.asarray(self.acc_scale, np.float64) / out_scale, self.acc_per,
                                 self.acc_outer, self.acc_inner)

    @property
    def nbytes(self) -> int:
        raise NotImplementedError

    @property
    def macs(self) -> int:
        raise NotImplementedError


@dataclass(eq=False)
class QDope(QMatrix):
    """Sparse int8 entries, each worth val * 2**shift accumulator units (the dope S, or a
    pruned matrix).  `index` is flat row-major, sorted."""

    index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    shift: int = 0
    kind = "dope"

    @property
    def nnz(self) -> int:
        return int(self.index.size)

    def dense(self) -> np.ndarray:
        out = np.zeros(self.rows * self.cols, dtype=np.int64)
        out[self.index] = _i64(self.val) * (1 << self.shift)
        return out.reshape(self.rows, self.cols)

    def acc(self, x: np.ndarray) -> np.ndarray:
        if "_dense_t" not in self.__dict__:
            self.__dict__["_dense_t"] = self.dense().T.astype(np.float64)
        return imatmul(x, self.__dict__["_dense_t"])

    def acc_bound(self) -> np.ndarray:
        return 128 * np.abs(self.dense()).sum(axis=1)

    def encode(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(steps, values, step_bits): the C stream of (gap, value) pairs.

        Entry e sits at flat index sum(steps[:e+1]); a gap wider than the step type holds
        is bridged by filler entries of value 0.  Step width is 8 or 16 bits, whichever
        gives fewer bytes.
        """
        best = None
        for bits in (8, 16):
            limit = (1 << bits) - 1
            steps, vals = [], []
            pos = 0
            for idx, v in zip(self.index.tolist(), self.val.tolist(), strict=True):
                gap = idx - pos
                while gap > limit:
                    steps.append(limit)
                    vals.append(0)
                    gap -= limit
                steps.append(gap)
                vals.append(v)
                pos = idx
            nbytes = len(steps) * (1 + bits // 8)
            if best is None or nbytes < best[3]:
                best = (np.array(steps, np.int64), np.array(vals, np.int64), bits, nbytes)
        assert best is not None
        return best[0], best[1], best[2]

    def block_table(self, first_rows: list[int]) -> np.ndarray:
        """Where a walk over `encode()`'s stream starts for each block of rows (blocks
        beginning at the ascending `first_rows`, the first 0): per block its first entry
        and the flat index, relative to the block's first row, of the entry before it (of 0
        for the first block), as uint32 (below 0 wraps, as the C's unsigned arithmetic
        does); then the entry count. 2 * len(first_rows) + 1 values."""
        steps, _, _ = self.encode()
        pos = np.cumsum(steps)
        out = []
        for r in first_rows:
            start = r * self.cols
            e = int(np.searchsorted(pos, start, side="left"))
            before = int(pos[e - 1]) if e else 0
            out += [e, (before - start) % (1 << 32)]
        out.append(int(steps.size))
        return np.array(out, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        steps, _, bits = self.encode()
        return int(steps.size) * (1 + bits // 8)

    @property
    def macs(self) -> int:
        return self.nnz


@dataclass(eq=False)
class QDense(QMatrix):
    w: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    w_scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    kind = "dense"

    @cached_property
    def _w_t(self) -> np.ndarray:
        # Converted once: a language model's decoder is millions of weights a step.
        return np.asarray(self.w, np.float64).T

    def acc(self, x: np.ndarray) -> np.ndarray:
        return imatmul(x, self._w_t)

    def acc_bound(self) -> np.ndarray:
        return 128 * np.abs(_i64(self.w)).sum(axis=1)

    @property
    def nbytes(self) -> int:
        return int(self.w.size)

    @property
    def macs(self) -> int:
        return int(self.w.size)


@dataclass(eq=False)
class QKron(QMatrix):
    """A ⊗ B (+ dope) in two steps; the intermediate T is int16, requantised with its own
    calibrated scale (multipliers `t_rq`, one per row of the factor used first, or one)
    and saturated to [-t_max, t_max]."""

    a: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    b: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    order: int = 0  # 0: T = X Bᵀ first (XBT); 1: T = A X first (AX)
    t_rq: Requant | None = None
    t_max: int = 32767
    t_scale: float = 1.0
    a_scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    b_scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    dope: QDope | None = None
    kind = "kron"

    def intermediate(self, x: np.ndarray) -> np.ndarray:
        """T as the C stores it: AX -> (batch, m1, n2); XBT -> Tᵀ (batch, m2, n1)."""
        n1, n2 = self.a.shape[1], self.b.shape[1]
        xm = _i64(x).reshape(-1, n1, n2)
        assert self.t_rq is not None
        idx = self.t_rq.index()
        # AX: (batch, m1, n2); XBT: (batch, m2, n1)
        acc = imatmul(self.a, xm) if self.order == 1 else imatmul(self.b, xm.transpose(0, 2, 1))
        t = requantize(acc, self.t_rq.mult[idx][:, None], self.t_rq.shift[idx][:, None])
        return sat(t, -self.t_max, self.t_max)

    def acc(self, x: np.ndarray) -> np.ndarray:
        m1, m2 = self.a.shape[0], self.b.shape[0]
        t = self.intermediate(x)
        # either way (batch, m1, m2)
        y = imatmul(t, _i64(self.b).T) if self.order == 1 else imatmul(self.a, t.transpose(0, 2, 1))
        y = y.reshape(-1, m1 * m2)
        if self.dope is not None:
            y = y + self.dope.acc(x)
        return y

    @property
    def block_shape(self) -> tuple[int, int]:
        """(rows of A, rows of B): the blocks of output rows the second step can add one at
        a time (dkgen_kron_matvec_s8_block), and how many rows each is."""
        return self.a.shape[0], self.b.shape[0]

    def second_factor_rowsum(self) -> np.ndarray:
        """Per output row, sum |F2| over the second step's contraction."""
        (m1, _), (m2, _) = self.a.shape, self.b.shape
        if self.order == 1:
            return np.tile(np.abs(_i64(self.b)).sum(axis=1), m1)
        return np.repeat(np.abs(_i64(self.a)).sum(axis=1), m2)

    def acc_bound(self) -> np.ndarray:
        bound = self.t_max * self.second_factor_rowsum()
        if self.dope is not None:
            bound = bound + self.dope.acc_bound()
        return bound

    @property
    def nbytes(self) -> int:
        n = int(self.a.size + self.b.size)
        if self.t_rq is not None:
            n += self.t_rq.nbytes
        if self.dope is not None:
            n += self.dope.nbytes
        return n

    @property
    def scratch(self) -> int:
        """int16 entries of T."""
        (m1, n1), (m2, n2) = self.a.shape, self.b.shape
        return m1 * n2 if self.order == 1 else n1 * m2

    @property
    def macs(self) -> int:
        (m1, n1), (m2, n2) = self.a.shape, self.b.shape
        kron = m1 * n1 * n2 + m1 * n2 * m2 if self.order == 1 else n1 * n2 * m2 + m1 * n1 * m2
        return kron + (self.dope.nnz if self.dope is not None else 0)


@dataclass(eq=False)
class QKronMulti(QKron):
    """A product of three or more factors (+ dope) as a two-factor product one of whose
    factors is a two-factor product `inner` (a QKron), in one of two forms
    (dkgen_kron_multi_matvec_s8):

    - `order` XBT: W = F ⊗ R, F = `a`, R = inner.  R is applied to each of the n_F slices
      of x (x seen as n_F rows of R's width), its accumulators requantised (`t_rq`, over
      R's accumulator rows) to the int16 Tt, and F multiplies Tt as a two-factor product's
      second step does in order XBT.
    - `order` AX: W = L ⊗ F, L = inner, F = `b`.  L is applied to each of the n_F columns
      of x (x seen as L's width by n_F), requantised the same way to T = L X, and F
      multiplies T as the second step does in order AX.

    So the second step, its blocks of rows and the dope are QKron's; only T is formed
    differently.  The unused factor (`b` for XBT, `a` for AX) is empty."""

    inner: QKron | None = None
    kind = "kron_multi"

    @property
    def outer_shape(self) -> tuple[int, int, int, int]:
        """(m1, n1, m2, n2) of the outer two-factor product."""
        assert self.inner is not None
        if self.order == KRON_ORDER_AX:
            return self.inner.rows, self.inner.cols, self.b.shape[0], self.b.shape[1]
        return self.a.shape[0], self.a.shape[1], self.inner.rows, self.inner.cols

    @property
    def block_shape(self) -> tuple[int, int]:
        m1, _, m2, _ = self.outer_shape
        return m1, m2

    @property
    def pieces(self) -> int:
        """How many times the inner product runs: the slices or the columns of x."""
        _, n1, _, n2 = self.outer_shape
        return n2 if self.order == KRON_ORDER_AX else n1

    def intermediate(self, x: np.ndarray) -> np.ndarray:
        """The outer intermediate as the C stores it: T (batch, m1, n2) for AX, Tt
        (batch, m2, n1) for XBT."""
        assert self.inner is not None and self.t_rq is not None
        m1, n1, m2, n2 = self.outer_shape
        if self.order == KRON_ORDER_AX:
            pieces = _i64(x).reshape(-1, n1, n2).transpose(0, 2, 1).reshape(-1, n1)
        else:
            pieces = _i64(x).reshape(-1, n2)
        t = sat(self.t_rq.apply(self.inner.acc(pieces)), -self.t_max, self.t_max)
        rows = m1 if self.order == KRON_ORDER_AX else m2
        return t.reshape(-1, self.pieces, rows).transpose(0, 2, 1)

    def acc(self, x: np.ndarray) -> np.ndarray:
        m1, _, m2, _ = self.outer_shape
        t = self.intermediate(x)
        if self.order == KRON_ORDER_AX:
            y = imatmul(t, _i64(self.b).T)
        else:
            y = imatmul(self.a, t.transpose(0, 2, 1))
        y = y.reshape(-1, m1 * m2)
        if self.dope is not None:
            y = y + self.dope.acc(x)
        return y

    def second_factor_rowsum(self) -> np.ndarray:
        m1, _, m2, _ = self.outer_shape
        if self.order == KRON_ORDER_AX:
            return np.tile(np.abs(_i64(self.b)).sum(axis=1), m1)
        return np.repeat(np.abs(_i64(self.a)).sum(axis=1), m2)

    @property
    def nbytes(self) -> int:
        assert self.inner is not None and self.t_rq is not None
        n = int(self.a.size + self.b.size) + self.inner.nbytes + self.t_rq.nbytes
        return n + (self.dope.nbytes if self.dope is not None else 0)

    @property
    def scratch(self) -> int:
        """int16 entries: the outer intermediate, one piece's requantised sums, for AX the
        gathered int8 column (two to an entry), and the inner product's own T."""
        assert self.inner is not None
        m1, n1, m2, n2 = self.outer_shape
        if self.order == KRON_ORDER_AX:
            return m1 * n2 + m1 + (n1 + 1) // 2 + self.inner.scratch
        return m2 * n1 + m2 + self.inner.scratch

    @property
    def inner_acc(self) -> int:
        """int32 accumulators of one piece's inner product."""
        assert self.inner is not None
        return self.inner.rows

    @property
    def macs(self) -> int:
        assert self.inner is not None
        m1, n1, m2, n2 = self.outer_shape
        outer = m1 * n2 * m2 if self.order == KRON_ORDER_AX else m1 * n1 * m2
        return self.pieces * self.inner.macs + outer + (self.dope.nnz if self.dope is not None else 0)


@dataclass(eq=False)
class QLowRank(QMatrix):
    """U (V x): t = V x requantised to int16 (own scale, `t_rq` per row of V or one),
    saturated to [-t_max, t_max]; then U t into the accumulators."""

    u: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    v: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    t_rq: Requant | None = None
    t_max: int = 32767
    t_scale: float = 1.0
    kind = "low_rank"

    def intermediate(self, x: np.ndarray) -> np.ndarray:
        assert self.t_rq is not None
        return sat(self.t_rq.apply(imatmul(x, _i64(self.v).T)), -self.t_max, self.t_max)

    def acc(self, x: np.ndarray) -> np.ndarray:
        return imatmul(self.intermediate(x), _i64(self.u).T)

    def acc_bound(self) -> np.ndarray:
        return self.t_max * np.abs(_i64(self.u)).sum(axis=1)

    @property
    def nbytes(self) -> int:
        return int(self.u.size + self.v.size) + (self.t_rq.nbytes if self.t_rq else 0)

    @property
    def scratch(self) -> int:
        return int(self.v.shape[0])

    @property
    def macs(self) -> int:
        return int(self.u.size + self.v.size)


@dataclass(frozen=True, eq=False)
class RequantStack:
    """Requantisation of a row stack: each part's rows with that part's own `Requant`."""

    parts: tuple[tuple[int, Requant], ...]  # (first row, requant of the part's rows)

    @property
    def rows(self) -> int:
        return sum(rq.rows for _, rq in self.parts)

    def apply(self, acc: np.ndarray) -> np.ndarray:
        return np.concatenate([rq.apply(acc[..., row:row + rq.rows]) for row, rq in self.parts], axis=-1)

    @property
    def nbytes(self) -> int:
        return sum(rq.nbytes for _, rq in self.parts)


@dataclass(eq=False)
class QRowStack(QMatrix):
    """Row blocks stacked vertically (HMD), each its own int8 form with its own scales."""

    parts: list[QMatrix] = field(default_factory=list)
    kind = "row_stack"

    @property
    def offsets(self) -> list[int]:
        return [int(v) for v in np.cumsum([0] + [p.rows for p in self.parts])[:-1]]

    def acc(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([p.acc(x) for p in self.parts], axis=-1)

    def acc_scale_rows(self) -> np.ndarray:
        return np.concatenate([p.acc_scale_rows() for p in self.parts])

    def acc_bound(self) -> np.ndarray:
        return np.concatenate([p.acc_bound() for p in self.parts])

    def requant_to(self, out_scale: float) -> RequantStack:  # type: ignore[override]
        return RequantStack(tuple((row, p.requant_to(out_scale))
                                  for row, p in zip(self.offsets, self.parts, strict=True)))

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.parts)

    @property
    def macs(self) -> int:
        return sum(p.macs for p in self.parts)


# --- layers --------------------------------------------------------------------------


@dataclass(eq=False)
class QLayer:
    name: str
    in_scale: float  # real value of one unit of the int8 input
    out_scale: float  # real value of one unit of the output
    out_bits: int  # 8 or 16

    @property
    def op(self) -> str:
        return type(self).__name__[1:].lower()

    def matrices(self) -> dict[str, QMatrix]:
        return {}

    @property
    def state_size(self) -> int:
        return 0


@dataclass(eq=False)
class QEmbedding(QLayer):
    table: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # int8 (vocab, dim)

    @property
    def in_size(self) -> int:
        return int(self.table.shape[0])

    @property
    def out_size(self) -> int:
        return int(self.table.shape[1])


@dataclass(eq=False)
class QLinear(QLayer):
    weight: QMatrix | None = None
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int32 at acc scale
    rq: Requant | RequantStack | None = None

    def matrices(self) -> dict[str, QMatrix]:
        assert self.weight is not None
        return {"weight": self.weight}

    @property
    def in_size(self) -> int:
        assert self.weight is not None
        return self.weight.cols

    @property
    def out_size(self) -> int:
        assert self.weight is not None
        return self.weight.rows


@dataclass(eq=False)
class _QRecurrent(QLayer):
    """What the integer LSTM, GRU and RNN share: the two matrices and their requantisations."""

    hidden: int = 0
    w_ih: QMatrix | None = None
    w_hh: QMatrix | None = None
    rq_ih: Requant | RequantStack | None = None  # accumulators -> Q3.12 gate units
    rq_hh: Requant | RequantStack | None = None
    h0: np.ndarray | None = None  # the starting h in h's int8 units; None: zeros

    def initial_states(self) -> dict[str, np.ndarray]:
        """The non-zero parts of the starting state, by member ("h", LSTM "c")."""
        return {} if self.h0 is None else {"h": self.h0}

    def initial_state(self) -> np.ndarray:
        """The whole starting state, h then an LSTM's c (int64 values)."""
        parts = self.initial_states()
        n = self.state_size // self.hidden
        return np.concatenate([parts.get(k, np.zeros(self.hidden, np.int64)) for k in ("h", "c")[:n]])

    def matrices(self) -> dict[str, QMatrix]:
        assert self.w_ih is not None and self.w_hh is not None
        return {"w_ih": self.w_ih, "w_hh": self.w_hh}

    @property
    def in_size(self) -> int:
        assert self.w_ih is not None
        return self.w_ih.cols

    @property
    def out_size(self) -> int:
        return self.hidden


@dataclass(eq=False)
class QLSTM(_QRecurrent):
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int16 Q3.12, b_ih + b_hh
    cell_frac: int = 12  # cell state is int16 with this many fraction bits
    h_rq: Requant | None = None  # Q0.30 (o * tanh(c)) -> h units
    c0: np.ndarray | None = None  # the starting cell state, int16 with cell_frac bits

    def initial_states(self) -> dict[str, np.ndarray]:
        return {**super().initial_states(), **({} if self.c0 is None else {"c": self.c0})}

    @property
    def state_size(self) -> int:
        return 2 * self.hidden


@dataclass(eq=False)
class QGRU(_QRecurrent):
    b_ih: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int16 Q3.12
    b_hh: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_rq: Requant | None = None  # Q0.30 ((1 - z) * n) -> h units
    # False: ONNX's default form, n = tanh(W_h x + R_h (r * h) + b): a second product by
    # w_hh, of r * h in h's units (|r| < 1), with the same requantisation rq_hh.
    linear_before_reset: bool = True

    @property
    def state_size(self) -> int:
        return self.hidden


@dataclass(eq=False)
class QRNN(_QRecurrent):
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int16 Q3.12, b_ih + b_hh
    h_rq: Requant | None = None  # Q0.15 tanh(g) -> h units

    @property
    def state_size(self) -> int:
        return self.hidden


@dataclass(eq=False)
class QActivation(QLayer):
    """An int8 activation layer, as many outputs as inputs."""

    size: int = 0

    @property
    def in_size(self) -> int:
        return self.size

    @property
    def out_size(self) -> int:
        return self.size


@dataclass(eq=False)
class QSoftmax(QActivation):
    beta: int = 0  # round(in_scale * log2(e) * 2**16): exp(-d * in_scale) = 2**-(d * beta / 2**16)


@dataclass(eq=False)
class QLogSoftmax(QActivation):
    """dkgen_log_softmax_s8: int8 logits -> int16 log-probabilities of scale out_scale.
    beta as QSoftmax's; d_rq takes a logit's distance below the largest (input units) and
    l_rq the log2 of the exp sum (Q16) to the output scale."""

    beta: int = 0
    d_rq: Requant | None = None
    l_rq: Requant | None = None

    @property
    def op(self) -> str:
        return "log_softmax"


@dataclass(eq=False)
class QRelu(QActivation):
    """max(x, 0) on int8; the output keeps the input's scale."""


@dataclass(eq=False)
class QAffine(QActivation):
    """x * mul + add per feature on int8 (`dkgen_affine_s8`): y = sat8(requantize(bias +
    sign * x; mult, shift)), one multiplier (|mul| * in_scale / out_scale) a feature, the
    offset in accumulator units (add / (|mul| * in_scale), rounded half up)."""

    mult: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sign: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # +1 or -1
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # int32


@dataclass(eq=False)
class QClip(QActivation):
    """min(max(x, lo), hi) on int8 (`dkgen_clip_s8`); the output keeps the input's scale and
    the bounds are the float bounds in it, saturated to int8."""

    lo: int = -128
    hi: int = 127


# Fraction bits of a LeakyRelu's alpha (its int32 multiplier); |alpha| <= 255 keeps
# |x * mult| below 2^30 for int8 x (dkgen_rshift_round_s32's range).
LEAKY_FRAC = 15
LEAKY_ALPHA_MAX = 255.0


@dataclass(eq=False)
class QLeakyRelu(QActivation):
    """x where x >= 0, else sat8((x * mult + 2^14) >> 15) (`dkgen_leaky_relu_s8`): alpha in
    Q15 (`mult`), the output in the input's scale."""

    mult: int = 0

    @property
    def op(self) -> str:
        return "leaky_relu"


@dataclass(eq=False)
class QTableActivation(QActivation):
    """tanh or sigmoid on int8 (`op`): the input to Q3.12 by (mult, shift), the int16 table,
    int8 of scale 2^-7 out (`dkgen_tanh_s8`, `dkgen_sigmoid_s8`)."""

    mult: int = 0
    shift: int = 1


@dataclass(eq=False)
class QTanh(QTableActivation):
    """tanh on int8."""


@dataclass(eq=False)
class QSigmoid(QTableActivation):
    """sigmoid on int8."""


@dataclass(eq=False)
class QuantModel:
    """An int8 model: the integer layers plus how inputs and outputs cross the boundary."""

    name: str
    input: InputSpec
    layers: list[QLayer]
    input_inv_scale: np.float32  # x_q = round(x * input_inv_scale); unused for tokens
    float_model: Model | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def input_scale(self) -> float:
        return 1.0 / float(self.input_inv_scale)

    @property
    def output_size(self) -> int:
        return self.layers[-1].out_size

    @property
    def input_size(self) -> int:
        return 1 if self.input.kind == "token" else self.input.size

    @property
    def output_bits(self) -> int:
        return self.layers[-1].out_bits

    @property
    def output_scale(self) -> np.float32:
        """y = float32(q) * output_scale."""
        return np.float32(self.layers[-1].out_scale)

    def check_accumulators(self) -> None:
        """Raise ValueError if some int32 accumulator could overflow for some input."""
        for layer in self.layers:
            init = np.abs(_i64(layer.bias)) if isinstance(layer, QLinear) else 0
            for role, m in layer.matrices().items():
                bound = m.acc_bound() + (init if role == "weight" else 0)
                if bound.size and int(bound.max()) > INT32_MAX:
                    raise ValueError(f"{layer.name}.{role}: int32 accumulator could overflow "
                                     f"(bound {int(bound.max())})")
