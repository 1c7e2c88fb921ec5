"""Nearest Kronecker product (Van Loan & Pitsianis) and the residual dope, in numpy.

For W of shape (m1*m2, n1*n2), ||W - A ⊗ B||_F equals ||R(W) - vec(A) vec(B)ᵀ||_F where the
rearrangement R(W) has one row per block of W (block (i1, j1) is W[i1*m2:(i1+1)*m2,
j1*n2:(j1+1)*n2]) holding that block flattened row-major.  The best A ⊗ B is therefore the
leading singular triple of R(W): a rank-1 problem with a closed-form answer.

With k > 2 factors the same rearrangement gives a k-way tensor, and the best A1 ⊗ ... ⊗ Ak
is its best rank-1 approximation, which has no closed form.  `nearest_kron` starts from
nested two-factor fits (A1 against the rest, then the rest split again: exact when W is a
Kronecker product) and improves them by alternating least squares (the higher-order power
method), each factor's update the exact optimum given the others.
"""

from __future__ import annotations

import math

import numpy as np

from dkgen.ir.weights import kron_chain
from dkgen.structure.factors import FactorShapes, check_factors


def rearrange(w: np.ndarray, factors: FactorShapes) -> np.ndarray:
    """R(W): (m1*n1, m2*n2), row i1*n1 + j1 is block (i1, j1) of W flattened.  With k
    factors, the k-way tensor of shape (m1*n1, ..., mk*nk) whose rank-1 terms are
    Kronecker products."""
    shapes = check_factors(w.shape[0], w.shape[1], factors)
    k = len(shapes)
    ms, ns = [m for m, _ in shapes], [n for _, n in shapes]
    interleaved = [axis for i in range(k) for axis in (i, k + i)]
    return (np.asarray(w).reshape(*ms, *ns).transpose(interleaved)
            .reshape(*(m * n for m, n in shapes)))


def _positive_lead(f: np.ndarray) -> bool:
    return bool(f.reshape(-1)[np.argmax(np.abs(f))] >= 0)


def _nearest_two(w64: np.ndarray, factors: FactorShapes) -> tuple[np.ndarray, np.ndarray]:
    (m1, n1), (m2, n2) = factors
    u, s, vt = np.linalg.svd(rearrange(w64, factors), full_matrices=False)
    root = np.sqrt(s[0])
    a = (root * u[:, 0]).reshape(m1, n1)
    b = (root * vt[0]).reshape(m2, n2)
    if not _positive_lead(a):
        a, b = -a, -b
    return a, b


def _power_sweeps(tensor: np.ndarray, vectors: list[np.ndarray], sweeps: int) -> list[np.ndarray]:
    """Alternating least squares for the best rank-1 term of `tensor`: each vector in turn
    becomes the exact optimum given the others."""
    k = tensor.ndim
    letters = "abcdefgh"[:k]
    previous = None
    for _ in range(sweeps):
        for i in range(k):
            others = [j for j in range(k) if j != i]
            spec = f"{letters},{','.join(letters[j] for j in others)}->{letters[i]}"
            scale = math.prod(float(vectors[j] @ vectors[j]) for j in others)
            if scale == 0.0:
                return vectors
            vectors[i] = np.einsum(spec, tensor, *(vectors[j] for j in others)) / scale
        norm = math.prod(float(np.linalg.norm(v)) for v in vectors)
        if previous is not None and abs(norm - previous) <= 1e-12 * max(norm, 1e-300):
            break
        previous = norm
    return vectors


def nearest_kron(w: np.ndarray, factors: FactorShapes, sweeps: int = 50) -> tuple[np.ndarray, ...]:
    """The factors (A, B, ...) minimising ||W - A ⊗ B ⊗ ...||_F, in float64 (for k > 2
    factors, the best `sweeps` of alternating least squares find from nested fits).

    The scale is split evenly (every factor has the same Frobenius norm) and the signs
    fixed so that the largest-magnitude entry of every factor but the last is positive, so
    the answer does not depend on the SVD routine's sign choice.
    """
    w64 = np.asarray(w, dtype=np.float64)
    shapes = check_factors(w64.shape[0], w64.shape[1], factors)
    if len(shapes) == 2:
        return _nearest_two(w64, shapes)
    # Nested start: A1 against the product of the rest, then that product split again.
    fitted: list[np.ndarray] = []
    rest = w64
    for i in range(len(shapes) - 1):
        tail = shapes[i + 1:]
        inner = (math.prod(m for m, _ in tail), math.prod(n for _, n in tail))
        head, rest = _nearest_two(rest, (shapes[i], inner))
        fitted.append(head)
    fitted.append(rest)
    vectors = _power_sweeps(rearrange(w64, shapes), [f.reshape(-1) for f in fitted], sweeps)
    norms = [float(np.linalg.norm(v)) for v in vectors]
    total = math.prod(norms)
    if total == 0.0:
        return tuple(np.zeros(shape) for shape in shapes)
    even = total ** (1.0 / len(vectors))
    out = [(v * (even / n)).reshape(shape) for v, n, shape in zip(vectors, norms, shapes, strict=True)]
    for i in range(len(out) - 1):
        if not _positive_lead(out[i]):
            out[i], out[-1] = -out[i], -out[-1]
    return tuple(out)


def top_magnitude_index(values: np.ndarray, nnz: int) -> np.ndarray:
    """Sorted flat indices of the `nnz` largest-magnitude entries (ties to lower index)."""
    flat = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1)
    nnz = max(0, min(int(nnz), flat.size))
    order = np.argsort(-flat, kind="stable")[:nnz]
    return np.sort(order)


def nearest_kron_f32(w: np.ndarray, factors: FactorShapes) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """`nearest_kron` rounded to the float32 factors that get stored, and the residual
    W - A ⊗ B ⊗ ... against those (float64): what a dope is fitted to."""
    w64 = np.asarray(w, dtype=np.float64)
    stored = tuple(f.astype(np.float32) for f in nearest_kron(w64, factors))
    return stored, w64 - kron_chain(stored)


def truncated_svd(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(U, V), U (rows, rank) and V (rank, cols), with U V the best rank-`rank` approximation
    of `w` (float64); the singular values are split evenly between the two."""
    u, s, vt = np.linalg.svd(np.asarray(w, dtype=np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return u[:, :rank] * root, root[:, None] * vt[:rank]
