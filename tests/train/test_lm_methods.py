"""The compression methods: sizes, starting points, HMD and CMR, and that each one trains."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lm_helpers import tiny_config, tiny_corpus

from dkgen.ir.weights import DenseWeight, LowRankWeight, RowStackWeight
from dkgen.nn import LSTM, DopedKronMatrix, PrunedMatrix
from dkgen.nn.cmr import cmr_lstm_forward, draw_keep, flat_weights_with_dope_scale
from dkgen.nn.hmd import HMDMatrix, hmd_plan
from dkgen.train.data import batchify, load_corpus
from dkgen.train.lm import LanguageModel, RunConfig, build_model
from dkgen.train.methods import METHODS, compress_lstm, lstm_size, small_hidden_size


def _dense_lstm(seed: int = 0, hidden: int = 16, inp: int = 16) -> LSTM:
    torch.manual_seed(seed)
    return LSTM(inp, hidden, 2)


@pytest.mark.parametrize("method", ["dkp", "pruned"])
def test_annealed_methods_start_as_the_dense_model(method: str) -> None:
    dense = _dense_lstm()
    comp = compress_lstm(dense, method, 8.0)
    for k in range(2):
        for d, c in zip(dense.matrices(k), comp.matrices(k), strict=True):
            # The dope holds the whole residual at first: the same matrix, to float32.
            torch.testing.assert_close(c(), d(), rtol=0, atol=1e-6)
            assert c.nnz == c.rows * c.cols
            assert c.target_nnz == math.floor(c.rows * c.cols / 8.0) - (
                c.a.numel() + c.b.numel() if method == "dkp" else 0)
    x = torch.randn(5, 3, 16)
    torch.testing.assert_close(comp(x)[0], dense(x)[0], rtol=0, atol=1e-5)


def test_factor_rule_reaches_every_matrix(tmp_path: Path) -> None:
    from dkgen.errors import DkgenError
    from dkgen.structure.factors import factor_shapes

    data = tiny_corpus(tmp_path)
    for rule in ("rank", "macs"):
        config = tiny_config(data, method="dkp", ratio=10.0, from_scratch=True,
                             dope_share=0.8, factor_rule=rule)
        model = build_model(config, 40)
        shapes = {m.factors for m in model.rnn.modules() if isinstance(m, DopedKronMatrix)}
        assert shapes == {factor_shapes(256, 64, 10.0, 0.8, rule)}
    assert factor_shapes(256, 64, 10.0, 0.8, "macs") != factor_shapes(256, 64, 10.0, 0.8)
    with pytest.raises(DkgenError, match="factor_rule"):
        tiny_config(data, method="pruned", ratio=10.0, from_scratch=True, factor_rule="macs")


@pytest.mark.parametrize("method", ["dkp", "kp", "pruned", "lmf", "hmd"])
def test_budget_is_met(method: str) -> None:
    dense = _dense_lstm(hidden=32, inp=32)
    comp = compress_lstm(dense, method, 10.0)
    for m in comp.modules():
        if isinstance(m, DopedKronMatrix | PrunedMatrix):
            m.prune_to(m.target_nnz)  # where the schedule ends
    size = lstm_size(comp)
    assert size["weight_params"] <= dense.dense_param_count() / 10.0
    assert size["compression"] >= 10.0
    assert size["params"] == size["weight_params"] + 2 * 2 * 4 * 32
    if method in ("dkp", "pruned"):
        # Sparse entries cost their 16-bit column index too, and each matrix its row pointers.
        assert size["bytes"] == 4 * size["params"] + 2 * size["dope_nnz"] + 4 * 2 * (128 + 1)
    else:
        assert size["bytes"] == 4 * size["params"]


def test_small_hidden_size_fits_the_budget() -> None:
    h = small_hidden_size(200, 200, 2, 25.0)
    assert h == 23  # 4h(200+h) + 8h² = 24,748 <= 640,000 / 25 < the same at h = 24
    assert 4 * h * (200 + h) + 8 * h * h <= 640000 / 25 < 4 * 24 * 224 + 8 * 24 * 24


def test_hmd_matrix_and_ir() -> None:
    dense_rows, rank = hmd_plan(800, 200, 25.0, 0.5)
    assert (dense_rows, rank) == (16, 3)
    w = np.random.default_rng(0).normal(size=(40, 12))
    m = HMDMatrix.from_dense(w, dense_rows=5, rank=12)  # full rank: exact
    np.testing.assert_allclose(m().detach().numpy(), w, atol=1e-5)
    ir = m.to_ir()
    assert isinstance(ir, RowStackWeight)
    assert isinstance(ir.parts[0], DenseWeight) and isinstance(ir.parts[1], LowRankWeight)
    assert ir.shape == (40, 12) and ir.param_count == m.num_stored_params()
    np.testing.assert_allclose(ir.to_dense(), m().detach().numpy(), atol=1e-6)
    low = HMDMatrix.from_dense(w, dense_rows=5, rank=2)
    np.testing.assert_allclose(low.dense.detach().numpy(), w[:5], atol=1e-6)
    assert low.num_stored_params() == 5 * 12 + 35 * 2 + 2 * 12


def test_whole_dope_cmr_per_example_is_exact() -> None:
    torch.manual_seed(0)
    lstm = compress_lstm(_dense_lstm(), "dkp", 8.0)
    lstm.train()
    x = torch.randn(6, 5, 16)  # (time, batch, features)
    keep = torch.tensor([True, False, True, True, False])
    out, (h, c) = cmr_lstm_forward(lstm, x, None, keep, 0.25)
    assert out.shape == (6, 5, 16) and h.shape == (2, 5, 16)
    # Each example on its own, with the dope scaled by 1/(1-p) or dropped.
    from torch import _VF
    for b in range(5):
        flat = flat_weights_with_dope_scale(lstm, 1 / 0.75 if keep[b] else 0.0)
        zeros = torch.zeros(2, 1, 16)
        ob, hb, cb = _VF.lstm(x[:, b:b + 1], (zeros, zeros), flat, True, 2, 0.0, True, False,
                              False)
        torch.testing.assert_close(out[:, b:b + 1], ob, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(h[:, b:b + 1], hb, rtol=1e-5, atol=1e-6)
    # Gradients reach the dope through the kept examples only.
    out.sum().backward()
    assert all(m.values.grad is not None and m.values.grad.abs().sum() > 0
               for m in lstm.modules() if isinstance(m, DopedKronMatrix))


def test_whole_dope_cmr_inactive_in_eval_and_keep_slicing() -> None:
    lstm = compress_lstm(_dense_lstm(), "dkp", 8.0).eval()
    x = torch.randn(4, 3, 16)
    keep = torch.tensor([False, False, False])
    torch.testing.assert_close(cmr_lstm_forward(lstm, x, None, keep, 0.5)[0], lstm(x)[0])
    torch.manual_seed(3)
    full = draw_keep(0.5, "example", 8)
    torch.manual_seed(3)
    part = draw_keep(0.5, "example", 8, start=4, local_batch=4)
    assert torch.equal(full[4:], part)
    torch.manual_seed(3)
    batch = draw_keep(0.5, "batch", 8, start=2, local_batch=3)
    assert batch.shape == (3,) and bool(batch.all()) == bool(batch.any())


@pytest.fixture(scope="module")
def trained_dense(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from dkgen.train.lm import train_lm

    root = tmp_path_factory.mktemp("lm")
    data = tiny_corpus(root / "data")
    run = root / "dense"
    train_lm(tiny_config(data, epochs=2.0), run, threads=1, plot=False)
    return data, run


def _train_loss(model: LanguageModel, data: torch.Tensor, steps: int, config: RunConfig) -> list[float]:
    """Plain SGD steps on consecutive windows; the loss of each."""
    from dkgen.nn.schedule import DopeSchedule

    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    sched = None
    if config.method in ("dkp", "pruned"):
        sched = DopeSchedule(model, start=0, end=steps // 2, frequency=2)
    losses, hidden = [], None
    model.train()
    for s in range(steps):
        i = (s * 10) % (data.size(0) - 11)
        x, y = data[i:i + 10], data[i + 1:i + 11]
        logits, hidden = model(x, hidden)
        hidden = (hidden[0].detach(), hidden[1].detach())
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad()
        (loss * 10).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if sched is not None:
            sched.step(s + 1)
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_and_lowers_the_loss(method: str, trained_dense: tuple[Path, Path]) -> None:
    from dkgen.train.lm import load_state

    data_dir, run = trained_dense
    corpus = load_corpus(data_dir)
    config = tiny_config(data_dir, method=method, ratio=None if method == "dense" else 8.0,
                         init_from=None if method in ("dense", "small") else str(run))
    torch.manual_seed(0)
    state = load_state(run / "best.pt")["model"]
    model = build_model(config, corpus.vocab_size, state)
    data = batchify(corpus.train, 10)
    losses = _train_loss(model, data, 24, config)
    assert all(np.isfinite(losses))
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < first, (method, losses)
