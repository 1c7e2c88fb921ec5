"""Matrix parametrisations: values against torch.kron / numpy.kron, gradients, IR export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dkgen.ir.weights import KronWeight, LowRankWeight, SparseWeight
from dkgen.nn import (
    DenseMatrix,
    DopedKronLinear,
    DopedKronMatrix,
    KronLinear,
    KronMatrix,
    LowRankMatrix,
    PrunedMatrix,
    make_matrix,
)

# (rows, cols, factors): 1-sized factors, non-square, odd and prime sizes.
SHAPES = [
    (6, 4, ((2, 2), (3, 2))),
    (15, 21, ((3, 7), (5, 3))),
    (7, 5, ((7, 1), (1, 5))),
    (1, 9, ((1, 3), (1, 3))),
    (12, 1, ((4, 1), (3, 1))),
    (1, 1, ((1, 1), (1, 1))),
    (35, 6, ((5, 6), (7, 1))),
    (64, 16, None),
]


def _random_mask(rows: int, cols: int, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(rows, cols, generator=g) < density


@pytest.mark.parametrize("rows,cols,factors", SHAPES)
def test_kron_matches_torch_and_numpy(rows: int, cols: int, factors: object) -> None:
    torch.manual_seed(0)
    m = KronMatrix(rows, cols, factors)
    w = m()
    assert w.shape == (rows, cols) == m.shape
    torch.testing.assert_close(w, torch.kron(m.a, m.b), rtol=0, atol=0)
    np.testing.assert_array_equal(w.detach().numpy(),
                                  np.kron(m.a.detach().numpy(), m.b.detach().numpy()))
    ir = m.to_ir()
    assert isinstance(ir, KronWeight) and ir.dope is None
    np.testing.assert_array_equal(ir.a, m.a.detach().numpy())
    assert ir.param_count == m.num_stored_params() == m.a.numel() + m.b.numel()


@pytest.mark.parametrize("rows,cols,factors", SHAPES)
def test_doped_kron_matches_dense_formulation_and_honours_the_mask(
        rows: int, cols: int, factors: object) -> None:
    torch.manual_seed(1)
    m = DopedKronMatrix(rows, cols, factors, density=0.3)
    mask = _random_mask(rows, cols, 0.3, seed=rows * cols)
    with torch.no_grad():
        m.values.normal_()  # also outside the mask: those must never show
    m.mask.copy_(mask)
    m.eval()
    s = torch.where(mask, m.values, torch.zeros(()))
    torch.testing.assert_close(m(), torch.kron(m.a, m.b) + s, rtol=0, atol=0)
    expect = (np.kron(m.a.detach().numpy().astype(np.float64), m.b.detach().numpy())
              + s.detach().numpy())
    np.testing.assert_allclose(m().detach().numpy(), expect, rtol=1e-6, atol=1e-6)
    ir = m.to_ir()
    assert ir.dope is not None
    assert ir.dope.nnz == int(mask.sum()) == m.nnz
    np.testing.assert_array_equal(ir.dope.index, np.flatnonzero(mask.numpy()))
    np.testing.assert_array_equal(ir.dope.values, m.values.detach().numpy()[mask.numpy()])
    np.testing.assert_allclose(ir.to_dense(), m().detach().numpy(), rtol=1e-6, atol=1e-6)
    assert ir.param_count == m.num_stored_params()


def test_masked_zero_values_are_still_exported() -> None:
    # The mask, not the value, decides what the dope stores.
    m = DopedKronMatrix(8, 8, density=0.25)
    assert m.nnz == 16 and float(m.values.detach().abs().sum()) == 0.0
    assert m.to_ir().dope.nnz == 16


@pytest.mark.parametrize("rows,cols,factors", SHAPES)
def test_gradients_match_dense_autograd(rows: int, cols: int, factors: object) -> None:
    torch.manual_seed(2)
    lin = DopedKronLinear(cols, rows, factors=factors, dope_density=0.4).double()
    with torch.no_grad():
        lin.matrix.values.normal_()
    x = torch.randn(5, cols, dtype=torch.float64, requires_grad=True)
    g_out = torch.randn(5, rows, dtype=torch.float64)
    (lin(x) * g_out).sum().backward()

    # The same function written densely: torch.kron and an explicit masked overlay.
    a = lin.matrix.a.detach().clone().requires_grad_()
    b = lin.matrix.b.detach().clone().requires_grad_()
    vals = lin.matrix.values.detach().clone().requires_grad_()
    bias = lin.bias.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    w = torch.kron(a, b) + torch.where(lin.matrix.mask, vals, torch.zeros((), dtype=vals.dtype))
    (F.linear(x2, w, bias) * g_out).sum().backward()

    for ours, ref in [(lin.matrix.a.grad, a.grad), (lin.matrix.b.grad, b.grad),
                      (lin.matrix.values.grad, vals.grad), (lin.bias.grad, bias.grad),
                      (x.grad, x2.grad)]:
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    assert float(lin.matrix.values.grad[~lin.matrix.mask].abs().sum()) == 0.0


def test_kron_linear_is_nn_linear_with_kron_weight() -> None:
    torch.manual_seed(3)
    lin = KronLinear(12, 10, factors=((5, 3), (2, 4)))
    x = torch.randn(4, 7, 12)
    ref = F.linear(x, torch.kron(lin.matrix.a, lin.matrix.b), lin.bias)
    torch.testing.assert_close(lin(x), ref)
    assert lin.num_stored_params() == 15 + 8
    nobias = KronLinear(12, 10, bias=False)
    assert nobias.bias is None and nobias(x).shape == (4, 7, 10)


def test_cmr_drops_dope_entries_only_in_training() -> None:
    torch.manual_seed(4)
    m = DopedKronMatrix(16, 16, density=1.0, cmr=0.5)
    with torch.no_grad():
        m.values.fill_(1.0)
    m.eval()
    torch.testing.assert_close(m(), m.kron() + 1.0)
    torch.testing.assert_close(m(), m())  # deterministic
    m.train()
    s = m() - m.kron()
    dropped = (s.abs() < 1e-6).float().mean()
    assert 0.3 < float(dropped) < 0.7
    kept = s[s.abs() > 1e-6]
    torch.testing.assert_close(kept, torch.full_like(kept, 2.0))  # scaled by 1/(1 - p)
    m.set_cmr(0.0)
    torch.testing.assert_close(m() - m.kron(), torch.ones(16, 16), rtol=0, atol=1e-6)


def test_prune_to_keeps_the_largest_entries_inside_the_mask() -> None:
    m = DopedKronMatrix(4, 4, density=0.25, initial_density=1.0)
    assert m.nnz == 16 and m.target_nnz == 4
    with torch.no_grad():
        m.values.copy_(torch.arange(16.0).reshape(4, 4) - 7.5)
    m.prune_to(6)
    assert m.nnz == 6
    kept = set(np.flatnonzero(m.mask.numpy()).tolist())
    assert kept == {0, 1, 2, 13, 14, 15}
    assert float(m.values.detach()[~m.mask].abs().sum()) == 0.0
    m.prune_to(10)  # never regrows
    assert m.nnz == 6


def test_other_parametrisations_export_exactly() -> None:
    torch.manual_seed(5)
    lr = LowRankMatrix(12, 9, rank=3)
    ir = lr.to_ir()
    assert isinstance(ir, LowRankWeight) and ir.param_count == lr.num_stored_params() == 63
    np.testing.assert_allclose(ir.to_dense(), lr().detach().numpy(), rtol=1e-6, atol=1e-6)
    pr = PrunedMatrix(12, 9, density=0.2)
    ir = pr.to_ir()
    assert isinstance(ir, SparseWeight) and ir.param_count == pr.nnz == round(0.2 * 108)
    np.testing.assert_array_equal(ir.to_dense(), pr().detach().numpy())
    dense = DenseMatrix(3, 4)
    np.testing.assert_array_equal(dense.to_ir().values, dense.weight.detach().numpy())


def test_make_matrix_rejects_unknown_kinds_and_options() -> None:
    assert isinstance(make_matrix("dkp", 8, 8, density=0.1), DopedKronMatrix)
    with pytest.raises(ValueError, match="unknown matrix kind"):
        make_matrix("tucker", 8, 8)
    with pytest.raises(TypeError, match="takes no option"):
        make_matrix("kron", 8, 8, densty=0.1)


def test_init_scale_matches_dense_init() -> None:
    torch.manual_seed(6)
    bound = 0.125
    for m in (KronMatrix(256, 64), LowRankMatrix(256, 64, rank=8), DenseMatrix(256, 64)):
        m.reset_parameters(bound)
        std = float(m().detach().std())
        assert 0.5 * bound / 3**0.5 < std < 1.5 * bound / 3**0.5, type(m).__name__


@pytest.mark.parametrize("factors", [((2, 3), (4, 1), (3, 5)), ((2, 2), (1, 3), (3, 1), (2, 2))])
def test_more_factors_match_torch_kron_with_their_gradients(factors) -> None:
    torch.manual_seed(7)
    rows = int(np.prod([m for m, _ in factors]))
    cols = int(np.prod([n for _, n in factors]))
    lin = DopedKronLinear(cols, rows, factors=factors, dope_density=0.3).double()
    m = lin.matrix
    assert [n for n, _ in m.named_parameters() if n != "values"] == list("abcd"[:len(factors)])
    with torch.no_grad():
        m.values.normal_()
    x = torch.randn(4, cols, dtype=torch.float64, requires_grad=True)
    g_out = torch.randn(4, rows, dtype=torch.float64)
    (lin(x) * g_out).sum().backward()

    leaves = [p.detach().clone().requires_grad_() for p in m.factor_params()]
    vals = m.values.detach().clone().requires_grad_()
    w = leaves[0]
    for f in leaves[1:]:
        w = torch.kron(w, f)
    w = w + torch.where(m.mask, vals, torch.zeros((), dtype=vals.dtype))
    (F.linear(x.detach(), w, lin.bias.detach()) * g_out).sum().backward()
    for ours, ref in [*zip((p.grad for p in m.factor_params()), (p.grad for p in leaves), strict=True),
                      (m.values.grad, vals.grad)]:
        torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)

    ir = m.to_ir()
    assert ir.factor_shapes == tuple(factors) and ir.param_count == m.num_stored_params()
    np.testing.assert_allclose(ir.to_dense(), m().detach().numpy(), rtol=1e-6, atol=1e-6)
    # from_dense finds an exact product again
    exact = KronMatrix.from_dense(m.kron().detach(), factors)
    torch.testing.assert_close(exact().double(), m.kron().detach(), rtol=1e-6, atol=1e-6)


def test_three_factor_init_matches_dense_init() -> None:
    torch.manual_seed(8)
    bound = 0.125
    m = KronMatrix(800, 200, ((10, 5), (10, 5), (8, 8)))
    m.reset_parameters(bound)
    assert 0.5 * bound / 3**0.5 < float(m().detach().std()) < 1.5 * bound / 3**0.5
