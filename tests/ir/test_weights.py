"""The IR's weight forms against numpy: Kronecker algebra, the dope, sizes and MACs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dkgen.codegen.pack import kron_order
from dkgen.ir.weights import DenseWeight, KronWeight, LowRankWeight, SparseDope, SparseWeight

dims = st.integers(min_value=1, max_value=7)


@settings(max_examples=40, deadline=None)
@given(m1=dims, n1=dims, m2=dims, n2=dims, seed=st.integers(0, 2**16))
def test_kron_dense_matches_numpy(m1, n1, m2, n2, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(m1, n1)), rng.normal(size=(m2, n2))
    nnz = int(rng.integers(0, m1 * m2 * n1 * n2 + 1))
    idx = rng.choice(m1 * m2 * n1 * n2, size=nnz, replace=False)
    vals = rng.normal(size=nnz)
    w = KronWeight(a, b, SparseDope(m1 * m2, n1 * n2, idx, vals))
    expect = np.kron(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
    expect.reshape(-1)[idx] += vals.astype(np.float32)
    assert w.shape == (m1 * m2, n1 * n2)
    np.testing.assert_allclose(w.dense64, expect, rtol=1e-12, atol=1e-12)
    # the factored identity the C kernels use: (A ⊗ B) x = vec(A X Bᵀ)
    x = rng.normal(size=n1 * n2)
    y = (w.a.astype(np.float64) @ x.reshape(n1, n2) @ w.b.astype(np.float64).T).reshape(-1)
    np.testing.assert_allclose(y, np.kron(w.a.astype(np.float64), w.b.astype(np.float64)) @ x, rtol=1e-9, atol=1e-9)
    assert w.param_count == m1 * n1 + m2 * n2 + nnz


@pytest.mark.parametrize("a, b", [((4, 4), (4, 4)), ((1, 9), (9, 1)), ((16, 2), (16, 4)), ((3, 5), (7, 2))])
def test_kron_order_is_the_cheaper(a, b):
    (m1, n1), (m2, n2) = a, b
    order, macs, scratch = kron_order(a, b)
    costs = [n1 * n2 * m2 + m1 * n1 * m2, m1 * n1 * n2 + m1 * n2 * m2]
    assert macs == min(costs) and macs == costs[order]
    assert scratch == (n1 * m2 if order == 0 else m1 * n2)


def test_dope_sorted_and_checked():
    d = SparseDope(3, 4, [7, 2, 11], [1.0, 2.0, 3.0])
    assert d.index.tolist() == [2, 7, 11] and d.values.tolist() == [2.0, 1.0, 3.0]
    row_ptr, cols, vals = d.csr()
    assert row_ptr.tolist() == [0, 1, 2, 3] and cols.tolist() == [2, 3, 3]
    with pytest.raises(ValueError, match="duplicates"):
        SparseDope(3, 4, [1, 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="out of range"):
        SparseDope(3, 4, [12], [1.0])
    with pytest.raises(ValueError, match="non-finite|not finite"):
        SparseDope(3, 4, [1], [np.nan])


def test_other_forms_and_byte_counts():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(6, 2)), rng.normal(size=(2, 5))
    lr = LowRankWeight(u, v)
    np.testing.assert_allclose(lr.to_dense(), (u @ v).astype(np.float32), rtol=1e-6)
    assert lr.param_count == 22 and lr.storage_bytes(4) == 88
    sp = SparseWeight(SparseDope.from_dense(np.diag([1.0, 2.0, 3.0])))
    assert sp.param_count == 3 and sp.storage_bytes(4) == 3 * 4 + 2 * 4 + 2 * 3
    dense = DenseWeight(np.ones((3, 4)))
    assert dense.storage_bytes(1) == 12
    with pytest.raises(ValueError, match="non-finite"):
        DenseWeight(np.array([[np.inf]]))
