"""Nearest Kronecker product and compress() from dense weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dkgen.nn import (
    GRU,
    LSTM,
    DopedKronMatrix,
    KronMatrix,
    LowRankMatrix,
    MatrixLinear,
    PrunedMatrix,
    compress,
    nearest_kron,
    rearrange,
)


@pytest.mark.parametrize("factors", [((3, 4), (5, 2)), ((1, 6), (7, 1)), ((4, 4), (4, 4))])
def test_nearest_kron_recovers_an_exact_product(factors: tuple) -> None:
    rng = np.random.default_rng(0)
    a0, b0 = rng.normal(size=factors[0]), rng.normal(size=factors[1])
    w = np.kron(a0, b0)
    a, b = nearest_kron(w, factors)
    np.testing.assert_allclose(np.kron(a, b), w, atol=1e-12)
    # Unique up to scale: A is a multiple of A0.
    scale = a.reshape(-1) @ a0.reshape(-1) / (a0.reshape(-1) @ a0.reshape(-1))
    np.testing.assert_allclose(a, scale * a0, atol=1e-12)


def test_rearrangement_turns_a_kron_into_rank_one() -> None:
    rng = np.random.default_rng(1)
    a0, b0 = rng.normal(size=(2, 3)), rng.normal(size=(4, 5))
    r = rearrange(np.kron(a0, b0), ((2, 3), (4, 5)))
    np.testing.assert_allclose(r, np.outer(a0.reshape(-1), b0.reshape(-1)), atol=1e-12)


def test_nearest_kron_is_optimal() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(size=(12, 10))
    f = ((3, 2), (4, 5))
    a, b = nearest_kron(w, f)
    best = np.linalg.norm(w - np.kron(a, b))
    for _ in range(20):
        da, db = rng.normal(size=a.shape) * 1e-3, rng.normal(size=b.shape) * 1e-3
        assert np.linalg.norm(w - np.kron(a + da, b + db)) >= best - 1e-12


def test_doped_from_dense_keeps_the_largest_residual_entries() -> None:
    rng = np.random.default_rng(3)
    a0, b0 = 3 * rng.normal(size=(4, 2)), 3 * rng.normal(size=(3, 5))
    w = np.kron(a0, b0)
    spikes = [(0, 1, 5.0), (7, 9, -4.0), (11, 0, 3.0)]
    for r, c, v in spikes:
        w[r, c] += v
    m = DopedKronMatrix.from_dense(w, ((4, 2), (3, 5)), density=3 / 120)
    a, b = nearest_kron(w, ((4, 2), (3, 5)))
    residual = w - np.kron(a, b)
    top = np.sort(np.argsort(-np.abs(residual).ravel())[:3])
    dope = m.to_ir().dope
    np.testing.assert_array_equal(dope.index, top)
    np.testing.assert_allclose(dope.values, residual.ravel()[top], atol=1e-4)
    # Spikes where the product is small stand out of the residual and are caught.
    assert {7 * 10 + 9, 11 * 10 + 0} <= set(dope.index.tolist())
    kron_only = np.linalg.norm(residual)
    assert np.linalg.norm(w - m().detach().numpy()) < 0.5 * kron_only


def test_other_fits() -> None:
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=(20, 3)), rng.normal(size=(3, 16))
    lr = LowRankMatrix.from_dense(u @ v, rank=3)
    np.testing.assert_allclose(lr().detach().numpy(), u @ v, atol=1e-4)
    w = rng.normal(size=(10, 10))
    pr = PrunedMatrix.from_dense(w, density=0.1)
    assert pr.nnz == 10
    assert set(np.flatnonzero(pr.mask.numpy())) == set(np.argsort(-np.abs(w).ravel())[:10])
    km = KronMatrix.from_dense(np.kron(np.eye(2), np.ones((3, 3))), ((2, 2), (3, 3)))
    np.testing.assert_allclose(km().detach().numpy(), np.kron(np.eye(2), np.ones((3, 3))),
                               atol=1e-6)


class Net(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn, self.fc = rnn, nn.Linear(rnn.hidden_size, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.rnn(x)[0])


@pytest.mark.parametrize("rnn_cls", [nn.LSTM, nn.GRU])
def test_compress_dense_method_preserves_the_function(rnn_cls: type) -> None:
    torch.manual_seed(5)
    net = Net(rnn_cls(6, 8, 2, batch_first=True)).eval()
    x = torch.randn(3, 5, 6)
    out = compress(net, "dense", None, linear=True).eval()
    assert isinstance(out.rnn, LSTM if rnn_cls is nn.LSTM else GRU)
    assert isinstance(out.fc, MatrixLinear)
    torch.testing.assert_close(out(x), net(x), rtol=1e-5, atol=1e-6)
    assert isinstance(net.rnn, rnn_cls)  # the original is untouched


def test_compress_dkp_meets_the_ratio() -> None:
    torch.manual_seed(6)
    net = Net(nn.LSTM(16, 32, 1, batch_first=True))
    out = compress(net, "dkp", 10.0)
    assert out.rnn.dense_param_count() / out.rnn.num_stored_params() >= 10.0
    for m in out.rnn.matrices(0):
        assert isinstance(m, DopedKronMatrix) and m.nnz == m.target_nnz > 0
    assert isinstance(out.fc, nn.Linear)
    for method in ("kron", "lowrank", "pruned"):
        c = compress(net, method, 10.0)
        assert c.rnn.dense_param_count() / c.rnn.num_stored_params() >= 10.0
        assert c(torch.randn(2, 3, 16)).shape == (2, 3, 4)


def test_compress_takes_the_factor_rule_and_dope_share() -> None:
    from dkgen.structure.factors import factor_shapes

    torch.manual_seed(7)
    net = Net(nn.LSTM(32, 32, 1, batch_first=True))
    for rule in ("rank", "macs"):
        out = compress(net, "dkp", 10.0, dope_share=0.6, factor_rule=rule)
        for m, cols in zip(out.rnn.matrices(0), (32, 32), strict=True):
            assert m.factors == factor_shapes(128, cols, 10.0, 0.6, rule)
            assert out.rnn.dense_param_count() / out.rnn.num_stored_params() >= 10.0
    assert factor_shapes(128, 32, 10.0, 0.6, "macs") != factor_shapes(128, 32, 10.0, 0.6)
    three = compress(net, "dkp", 10.0, order=3)
    for m in three.rnn.matrices(0):
        assert len(m.factors) == 3 and m.factors == factor_shapes(128, 32, 10.0, 0.25, order=3)
    assert three.rnn.dense_param_count() / three.rnn.num_stored_params() >= 10.0
    assert all(m.nnz == m.target_nnz > 0 for m in three.rnn.matrices(0))
    with pytest.raises(ValueError, match="factor rule"):
        compress(net, "dkp", 10.0, factor_rule="fast")
