"""Hybrid matrix decomposition (HMD; Thakker et al., "Run-time efficient RNN compression
for inference on edge devices", 2019): the top rows of a matrix dense, the rest low-rank.

    W = [ D      ]   D: (dense_rows, cols)
        [ U · V  ]   U: (rows - dense_rows, rank), V: (rank, cols)

A baseline for DKP at the same parameter budget.  In the IR it is a `RowStackWeight` of a
`DenseWeight` over a `LowRankWeight`, so the generated C keeps both parts compressed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from dkgen.ir.weights import DenseWeight, LowRankWeight, RowStackWeight
from dkgen.nn.matrices import MatrixModule, _as_np64, _np32


def hmd_plan(rows: int, cols: int, ratio: float, dense_share: float = 0.5) -> tuple[int, int]:
    """(dense_rows, rank) storing at most rows*cols/ratio values.

    `dense_share` of the budget goes to whole dense rows; the low-rank part gets the largest
    rank the rest allows (at least 1).
    """
    if ratio <= 0:
        raise ValueError(f"compression ratio must be positive, got {ratio}")
    if not 0.0 <= dense_share < 1.0:
        raise ValueError(f"dense_share must lie in [0, 1), got {dense_share}")
    budget = int(math.floor(rows * cols / ratio))
    dense_rows = min(rows - 1, int(dense_share * budget // cols))
    rank = (budget - dense_rows * cols) // (rows - dense_rows + cols)
    if rank < 1:
        raise ValueError(f"a {rows}x{cols} HMD cannot be compressed {ratio:g}x with "
                         f"dense_share={dense_share}: no budget left for rank 1")
    return dense_rows, int(min(rank, rows - dense_rows, cols))


class HMDMatrix(MatrixModule):
    """W = [D; U V]: `dense_rows` dense rows over a rank-`rank` block (see module doc)."""

    def __init__(self, rows: int, cols: int, dense_rows: int | None = None,
                 rank: int | None = None, *, ratio: float | None = None,
                 dense_share: float = 0.5) -> None:
        super().__init__(rows, cols)
        if dense_rows is None or rank is None:
            if ratio is None:
                raise ValueError("HMDMatrix needs dense_rows and rank, or a ratio")
            planned = hmd_plan(rows, cols, ratio, dense_share)
            dense_rows = planned[0] if dense_rows is None else dense_rows
            rank = planned[1] if rank is None else rank
        if not 0 <= dense_rows < rows:
            raise ValueError(f"dense_rows {dense_rows} is not in [0, {rows})")
        low_rows = rows - dense_rows
        if not 1 <= rank <= min(low_rows, cols):
            raise ValueError(f"rank {rank} is not in [1, {min(low_rows, cols)}]")
        self.dense_rows, self.rank = int(dense_rows), int(rank)
        self.dense = nn.Parameter(torch.empty(self.dense_rows, cols))
        self.u = nn.Parameter(torch.empty(low_rows, self.rank))
        self.v = nn.Parameter(torch.empty(self.rank, cols))
        self.reset_parameters(1.0 / math.sqrt(cols))

    def reset_parameters(self, bound: float) -> None:
        nn.init.uniform_(self.dense, -bound, bound)
        # As LowRankMatrix: the sum of `rank` products has the variance of U(-bound, bound).
        beta = math.sqrt(3.0) * (bound * bound / 3.0 / self.rank) ** 0.25
        nn.init.uniform_(self.u, -beta, beta)
        nn.init.uniform_(self.v, -beta, beta)

    def forward(self) -> Tensor:
        return torch.cat([self.dense, self.u @ self.v], dim=0)

    def to_ir(self) -> RowStackWeight:
        low = LowRankWeight(_np32(self.u), _np32(self.v))
        if self.dense_rows == 0:
            return RowStackWeight((low,))
        return RowStackWeight((DenseWeight(_np32(self.dense)), low))

    def num_stored_params(self) -> int:
        return self.dense.numel() + self.u.numel() + self.v.numel()

    @classmethod
    def from_dense(cls, w: Tensor | np.ndarray, dense_rows: int | None = None,
                   rank: int | None = None, *, ratio: float | None = None,
                   dense_share: float = 0.5) -> HMDMatrix:
        """The top rows copied, the rest by truncated SVD (singular values split evenly)."""
        w64 = _as_np64(w)
        m = cls(*w64.shape, dense_rows, rank, ratio=ratio, dense_share=dense_share)
        d = m.dense_rows
        u, s, vt = np.linalg.svd(w64[d:], full_matrices=False)
        root = np.sqrt(s[: m.rank])
        with torch.no_grad():
            m.dense.copy_(torch.from_numpy(w64[:d]))
            m.u.copy_(torch.from_numpy(u[:, : m.rank] * root))
            m.v.copy_(torch.from_numpy(root[:, None] * vt[: m.rank]))
        return m

    def extra_repr(self) -> str:
        return (f"{self.rows}x{self.cols}, dense_rows={self.dense_rows}, rank={self.rank}, "
                f"stored={self.num_stored_params()}")
