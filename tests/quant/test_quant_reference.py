"""Post-training quantisation and the numpy integer reference (no C here)."""

from __future__ import annotations

import numpy as np
import pytest
from int8_helpers import inputs_for, random_model
from random_models import mixed_model, token_model

from dkgen.errors import DkgenError
from dkgen.ir.graph import LSTM, InputSpec, Linear, Model, Softmax
from dkgen.ir.reference import ReferenceExecutor
from dkgen.ir.weights import DenseWeight, KronWeight, SparseDope
from dkgen.quant.arith import INT32_MAX, quantize_input
from dkgen.quant.model import QDense, QKron, QLinear
from dkgen.quant.quantize import quantize_model
from dkgen.quant.reference import QuantReferenceExecutor


@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_int8_tracks_float(make):
    model = make(0)
    calib = inputs_for(model, 32, 12, seed=1)
    qm = quantize_model(model, calib)
    xs = inputs_for(model, 8, 12, seed=2)
    ref = ReferenceExecutor(model)(xs)
    out, traces = QuantReferenceExecutor(qm).run(xs, trace=True)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.abs(out - ref).max() < 0.05 * max(1.0, np.abs(ref).max())
    assert set(traces) == {layer.name for layer in model.layers}
    for layer, q in zip(qm.layers, qm.layers, strict=True):
        t = traces[layer.name]
        assert t.shape == (8, 12, q.out_size)
        lim = 2 ** (q.out_bits - 1)
        assert t.min() >= -lim and t.max() < lim


def test_run_q_dequantises_exactly():
    model = mixed_model(1)
    qm = quantize_model(model, inputs_for(model, 8, 6, seed=3))
    ex = QuantReferenceExecutor(qm)
    xs = inputs_for(model, 3, 5, seed=4)
    q, _ = ex.run_q(xs)
    y = ex(xs)
    assert np.array_equal(y, q.astype(np.float32) * qm.output_scale)


def test_every_random_model_quantises_within_int32():
    for seed in range(40):
        model = random_model(seed)
        qm = quantize_model(model, inputs_for(model, 6, 5, seed))
        qm.check_accumulators()  # raises if some accumulator could overflow
        out = QuantReferenceExecutor(qm)(inputs_for(model, 2, 4, seed + 1, gain=30.0))
        assert np.all(np.isfinite(out))


def test_long_contraction_narrows_the_intermediate():
    rng = np.random.default_rng(0)
    # order AX: the second step contracts over n2 = 600; int16 T at full range could overflow.
    w = KronWeight(rng.normal(size=(2, 600)), np.full((3, 600), 1.0))
    model = Model("long", InputSpec("vector", 360000), [Linear("fc", w, np.zeros(6))])
    qm = quantize_model(model, rng.uniform(-1, 1, size=(2, 2, 360000)).astype(np.float32))
    k = qm.layers[0].weight
    assert isinstance(k, QKron) and k.t_max < 32767
    assert int(k.acc_bound().max()) <= INT32_MAX
    assert k.order == 1
    xs = np.ones((1, 2, 360000), np.float32) * 50  # saturating inputs
    assert np.all(np.isfinite(QuantReferenceExecutor(qm)(xs)))


def test_scales_per_row_where_rows_are_long():
    rng = np.random.default_rng(0)
    model = Model("pr", InputSpec("vector", 20), [
        Linear("wide", DenseWeight(rng.normal(size=(5, 20)) * np.arange(1, 6)[:, None]), None),
        Linear("narrow", DenseWeight(rng.normal(size=(3, 5))), None)])
    qm = quantize_model(model, rng.uniform(-1, 1, size=(4, 3, 20)).astype(np.float32))
    wide, narrow = qm.layers[0], qm.layers[1]
    assert isinstance(wide, QLinear) and isinstance(wide.weight, QDense)
    assert wide.weight.w_scale.size == 5 and np.abs(wide.weight.w).max(axis=1).min() >= 126
    assert isinstance(narrow, QLinear) and isinstance(narrow.weight, QDense)
    assert narrow.weight.w_scale.size == 1


def test_dope_shares_the_kronecker_accumulator():
    rng = np.random.default_rng(3)
    dope = SparseDope(12, 6, [0, 7, 30, 71], [5.0, -0.01, 0.3, -2.0])
    w = KronWeight(rng.normal(size=(4, 2)), rng.normal(size=(3, 3)), dope)
    model = Model("d", InputSpec("vector", 6), [Linear("fc", w, rng.normal(size=12))])
    qm = quantize_model(model, rng.uniform(-1, 1, size=(8, 4, 6)).astype(np.float32))
    k = qm.layers[0].weight
    assert isinstance(k, QKron) and k.dope is not None
    assert np.abs(k.dope.val).max() <= 127 and k.dope.shift >= 0
    # each dope entry is worth val * 2**shift accumulator units: its real value back
    real = k.dope.val * 2.0**k.dope.shift * k.acc_scale_rows()[k.dope.index // 6] / qm.layers[0].in_scale
    assert np.allclose(real, dope.values, atol=5.0 / 127)


def test_bad_calibration_inputs_are_clean_errors():
    model = mixed_model(0)
    with pytest.raises(DkgenError, match="shape"):
        quantize_model(model, np.zeros((2, 3, 5), np.float32))
    with pytest.raises(DkgenError, match="empty"):
        quantize_model(model, np.zeros((0, 3, 6), np.float32))
    with pytest.raises(DkgenError, match="finite"):
        quantize_model(model, np.full((1, 2, 6), np.nan, np.float32))
    lm = token_model(0)
    with pytest.raises(DkgenError, match="token ids"):
        quantize_model(lm, np.full((2, 3), 99))
    with pytest.raises(DkgenError, match="integer token ids"):
        quantize_model(lm, np.zeros((2, 3), np.float32))


def test_softmax_must_be_last():
    rng = np.random.default_rng(0)
    model = Model("s", InputSpec("vector", 3), [
        Softmax("sm", 3), Linear("fc", DenseWeight(rng.normal(size=(2, 3))), None)])
    with pytest.raises(DkgenError, match="Softmax only as the last"):
        quantize_model(model, rng.uniform(size=(2, 2, 3)).astype(np.float32))


def test_zero_model_and_constant_inputs():
    model = Model("z", InputSpec("vector", 4), [
        LSTM("l", 3, DenseWeight(np.zeros((12, 4))), DenseWeight(np.zeros((12, 3))))])
    qm = quantize_model(model, np.zeros((2, 3, 4), np.float32))
    assert np.array_equal(QuantReferenceExecutor(qm)(np.ones((1, 2, 4), np.float32)),
                          ReferenceExecutor(model)(np.ones((1, 2, 4))).astype(np.float32))


def test_input_quantisation_rounds_half_up_and_saturates():
    inv = np.float32(2.0)
    x = np.array([0.25, -0.25, 0.75, -0.75, 63.75, 64.0, -64.0, -64.25, 1e9, -1e9, np.inf, np.nan],
                 np.float32)
    assert quantize_input(x, inv).tolist() == [1, 0, 2, -1, 127, 127, -128, -128, 127, -128, 127, 0]


def test_perplexity_of_int8_logits_tracks_float():
    from dkgen.quant.evaluate import perplexity

    model = token_model(0)  # ends in its decoder logits (int16 in int8)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, size=3000)
    qm = quantize_model(model, ids[:400].reshape(8, 50))
    f = perplexity(ReferenceExecutor(model), ids, batch=5, window=20)
    q = perplexity(QuantReferenceExecutor(qm), ids, batch=5, window=20)
    assert abs(q / f - 1) < 0.02, (f, q)


def test_dope_dominated_kron_narrows_t_instead_of_failing():
    rng = np.random.default_rng(0)
    dope = SparseDope(12, 6, [0, 7, 30, 71], [50.0, -20.0, 3.0, -2.0])
    w = KronWeight(np.zeros((4, 2)), rng.normal(size=(3, 3)) * 1e-6, dope)
    model = Model("dd", InputSpec("vector", 6), [Linear("fc", w, rng.normal(size=12))])
    x = rng.uniform(-1, 1, size=(4, 3, 6)).astype(np.float32)
    qm = quantize_model(model, x)
    k = qm.layers[0].weight
    assert isinstance(k, QKron) and k.t_max < 32767 and k.dope is not None
    assert np.abs(QuantReferenceExecutor(qm)(x) - ReferenceExecutor(model)(x)).max() < 0.5
