"""The digits example: accuracy, compression, IR parity, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dkgen.ir import graph as ir
from dkgen.ir.reference import ReferenceExecutor
from dkgen.train.digits import DigitsResult, digits_classifier, digits_model_to_ir, train_digits


@pytest.fixture(scope="module")
def trained() -> DigitsResult:
    return train_digits(seed=0)


def test_accuracy_and_compression(trained: DigitsResult) -> None:
    assert trained.accuracy >= 0.95
    assert trained.compression >= 10.0
    assert trained.lstm_dense_params == 4 * 64 * (8 + 64)
    assert trained.x_test.dtype == np.float32 and trained.x_test.shape[1:] == (8, 8)
    assert trained.x_test.min() >= 0.0 and trained.x_test.max() <= 1.0
    assert len(trained.y_test) == len(trained.x_test) == 450
    # A loose guard only: the bar is well under a minute on 2 cores (about 10 s measured).
    assert trained.train_seconds < 120


def test_ir_matches_pytorch(trained: DigitsResult) -> None:
    model = digits_model_to_ir(trained)
    assert model.input.kind == "vector" and model.input.size == 8
    assert (model.input.low, model.input.high) == (0.0, 1.0)
    assert [type(layer) for layer in model.layers] == [ir.LSTM, ir.Linear, ir.Softmax]
    lstm = model.layers[0]
    assert lstm.w_ih.kind == lstm.w_hh.kind == "doped_kron"
    assert lstm.w_ih.param_count + lstm.w_hh.param_count == trained.lstm_stored_params
    assert lstm.w_ih.dope.nnz + lstm.w_hh.dope.nnz == trained.dope_nnz

    xs = trained.x_test[:64]
    got = ReferenceExecutor(model).run(xs)[0]
    with torch.no_grad():
        expect = torch.softmax(trained.model(torch.from_numpy(xs)), dim=-1).numpy()
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-5)
    ref_pred = got[:, -1].argmax(axis=-1)
    assert (ref_pred == trained.y_test[:64]).mean() >= 0.9


def test_same_seed_same_weights() -> None:
    state = torch.random.get_rng_state()
    a = train_digits(seed=3, epochs=3)
    b = train_digits(seed=3, epochs=3)
    assert torch.equal(state, torch.random.get_rng_state())  # caller's RNG untouched
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    c = train_digits(seed=4, epochs=3)
    assert not torch.equal(c.model.state_dict()["head.weight"], sa["head.weight"])


def test_classifier_shapes() -> None:
    model = digits_classifier(hidden_size=16, dope_density=0.1)
    logits = model(torch.rand(5, 8, 8))
    assert logits.shape == (5, 8, 10) and model.predict(torch.rand(5, 8, 8)).shape == (5,)
