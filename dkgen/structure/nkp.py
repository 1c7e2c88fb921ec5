"""Nearest Kronecker product (Van Loan & Pitsianis) and the residual dope, in numpy.

For W of shape (m1*m2, n1*n2), ||W - A ⊗ B||_F equals ||R(W) - vec(A) vec(B)ᵀ||_F where the
rearrangement R(W) has one row per block of W (block (i1, j1) is W[i1*m2:(i1+1)*m2,
j1*n2:(j1+1)*n2]) holding that block flattened row-major.  The best A ⊗ B is therefore the
leading singular triple of R(W): a rank-1 problem with a closed-form answer.
"""

from __future__ import annotations

import numpy as np

from dkgen.structure.factors import FactorShapes, check_factors


def rearrange(w: np.ndarray, factors: FactorShapes) -> np.ndarray:
    """R(W): (m1*n1, m2*n2), row i1*n1 + j1 is block (i1, j1) of W flattened."""
    (m1, n1), (m2, n2) = check_factors(w.shape[0], w.shape[1], factors)
    return (np.asarray(w).reshape(m1, m2, n1, n2).transpose(0, 2, 1, 3)
            .reshape(m1 * n1, m2 * n2))


def nearest_kron(w: np.ndarray, factors: FactorShapes) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) minimising ||W - A ⊗ B||_F, in float64.

    The scale is split evenly (both factors carry sqrt of the leading singular value) and
    the sign fixed so that A's largest-magnitude entry is positive, so the answer does not
    depend on the SVD routine's sign choice.
    """
    w64 = np.asarray(w, dtype=np.float64)
    (m1, n1), (m2, n2) = check_factors(w64.shape[0], w64.shape[1], factors)
    u, s, vt = np.linalg.svd(rearrange(w64, factors), full_matrices=False)
    root = np.sqrt(s[0])
    a = (root * u[:, 0]).reshape(m1, n1)
    b = (root * vt[0]).reshape(m2, n2)
    if a.reshape(-1)[np.argmax(np.abs(a))] < 0:
        a, b = -a, -b
    return a, b


def top_magnitude_index(values: np.ndarray, nnz: int) -> np.ndarray:
    """Sorted flat indices of the `nnz` largest-magnitude entries (ties to lower index)."""
    flat = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1)
    nnz = max(0, min(int(nnz), flat.size))
    order = np.argsort(-flat, kind="stable")[:nnz]
    return np.sort(order)


def nearest_kron_f32(w: np.ndarray, factors: FactorShapes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`nearest_kron` rounded to the float32 factors that get stored, and the residual
    W - A ⊗ B against those (float64): what a dope is fitted to."""
    w64 = np.asarray(w, dtype=np.float64)
    a, b = (f.astype(np.float32) for f in nearest_kron(w64, factors))
    return a, b, w64 - np.kron(a.astype(np.float64), b.astype(np.float64))


def truncated_svd(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(U, V), U (rows, rank) and V (rank, cols), with U V the best rank-`rank` approximation
    of `w` (float64); the singular values are split evenly between the two."""
    u, s, vt = np.linalg.svd(np.asarray(w, dtype=np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]
