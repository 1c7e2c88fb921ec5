"""Post-training compression of IR weights (`dkgen compress`): each structure meets its
budget, recovers a matrix that has the structure, matches what dkgen.nn fine-tunes from,
and the command writes a model that generates and verifies."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from random_models import mixed_model

from dkgen.cli import cli
from dkgen.ir.graph import LSTM, InputSpec, Linear, Model, Softmax, weights_of
from dkgen.ir.weights import DenseWeight, KronWeight, LowRankWeight, SparseWeight
from dkgen.onnx_io.export import save_onnx
from dkgen.onnx_io.importer import load_onnx
from dkgen.structure.fit import METHODS, compress_model, fit_weight, output_change

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape,ratio", [((64, 16), 4.0), ((96, 40), 10.0), ((256, 64), 25.0)])
def test_every_method_meets_the_budget(method, shape, ratio):
    w = RNG.normal(size=shape)
    fitted = fit_weight(w, method, ratio)
    assert fitted.shape == shape
    assert fitted.param_count <= math.floor(shape[0] * shape[1] / ratio)
    kind = {"dkp": KronWeight, "kron": KronWeight, "pruned": SparseWeight, "lowrank": LowRankWeight}
    assert isinstance(fitted, kind[method])
    assert (method == "dkp") == (isinstance(fitted, KronWeight) and fitted.dope is not None)


def test_each_structure_recovers_a_matrix_that_has_it():
    a, b = RNG.normal(size=(8, 4)), RNG.normal(size=(16, 4))
    w = np.kron(a, b)  # 128x16
    dope = np.zeros_like(w)
    dope.flat[RNG.choice(w.size, 40, replace=False)] = RNG.normal(size=40) * 5
    # 96 Kronecker values + 40 dope entries: 2048 / 15 = 136 values
    for method in ("kron", "dkp"):
        got = fit_weight(w, method, 15.0, factors=((8, 4), (16, 4))).to_dense()
        assert np.abs(got - w).max() < 1e-5 * np.abs(w).max(), method
    # With a dope in the matrix, the nearest Kronecker product moves; the dope then holds
    # the 40 largest entries of what is left, exactly, so it only ever lowers the error.
    kron = fit_weight(w + dope, "kron", 15.0, factors=((8, 4), (16, 4)))
    dkp = fit_weight(w + dope, "dkp", 15.0, factors=((8, 4), (16, 4)))
    assert dkp.dope.nnz == 40 and np.array_equal(dkp.a, kron.a)
    residual = (w + dope) - kron.to_dense().astype(np.float64)
    np.testing.assert_allclose(dkp.dope.values, residual.reshape(-1)[dkp.dope.index], rtol=1e-6)
    assert np.all(np.abs(residual).reshape(-1)[dkp.dope.index].min() >= np.abs(
        np.delete(residual.reshape(-1), dkp.dope.index)).max())
    assert np.linalg.norm(w + dope - dkp.to_dense()) < 0.5 * np.linalg.norm(w + dope - kron.to_dense())
    u, v = RNG.normal(size=(128, 2)), RNG.normal(size=(2, 16))
    np.testing.assert_allclose(fit_weight(u @ v, "lowrank", 4.0).to_dense(), u @ v, atol=1e-5)
    sparse = np.where(RNG.random((128, 16)) < 0.05, 1.0 + RNG.random((128, 16)), 0.0).astype(np.float32)
    np.testing.assert_array_equal(fit_weight(sparse, "pruned", 10.0).to_dense(), sparse)


def test_dkp_matches_what_dkgen_nn_fine_tunes_from():
    from dkgen.nn import DopedKronMatrix

    w = RNG.normal(size=(96, 40))
    for rule in ("rank", "macs"):
        ours = fit_weight(w, "dkp", 10.0, factor_rule=rule)
        theirs = DopedKronMatrix.from_dense(w, ratio=10.0, factor_rule=rule).to_ir()
        assert np.array_equal(ours.a, theirs.a) and np.array_equal(ours.b, theirs.b)
        assert np.array_equal(ours.dope.index, theirs.dope.index)
        np.testing.assert_array_equal(ours.dope.values, theirs.dope.values)


def dense_model(seed: int = 0) -> Model:
    """What a user brings: a dense LSTM and a dense classifier head."""
    rng = np.random.default_rng(seed)
    return Model("dense", InputSpec("vector", 8), [
        LSTM("lstm", 16, DenseWeight(rng.normal(scale=0.3, size=(64, 8))),
             DenseWeight(rng.normal(scale=0.3, size=(64, 16))), rng.normal(size=64), rng.normal(size=64)),
        Linear("head", DenseWeight(rng.normal(size=(5, 16))), rng.normal(size=5)),
        Softmax("softmax", 5),
    ])


def test_only_dense_matrices_of_the_chosen_layers_change():
    model = dense_model()
    lstm_only = compress_model(model, "pruned", 2.0)
    changed = [a is not b for a, b in zip(weights_of(model), weights_of(lstm_only), strict=True)]
    assert changed == [True, True, False]
    both = compress_model(model, "pruned", 2.0, linear=True)
    assert all(isinstance(w, SparseWeight) for w in weights_of(both))
    # structured weights stay as they are
    mixed = mixed_model(0)
    again = compress_model(mixed, "pruned", 2.0, linear=True)
    for a, b in zip(weights_of(mixed), weights_of(again), strict=True):
        assert (a is b) == (not isinstance(a, DenseWeight))
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 5, 8)).astype(np.float32)
    assert output_change(model, model, x) == {"max_abs": 0.0, "mean_abs": 0.0, "top1_agreement": 1.0}
    moved = output_change(model, both, x)
    assert moved["max_abs"] > 0 and 0 <= moved["top1_agreement"] <= 1


def _dense_file(tmp_path):
    return save_onnx(dense_model(3), tmp_path / "dense.onnx")


def test_cli_writes_a_model_that_verifies(tmp_path):
    src, out = _dense_file(tmp_path), tmp_path / "dkp.onnx"
    res = CliRunner().invoke(cli, ["compress", str(src), "-o", str(out), "--ratio", "4", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["params"]["after"] * 4 <= doc["params"]["before"]
    assert all(m["compression"] >= 4 and 0 < m["rel_error"] < 1 for m in doc["matrices"])
    assert 0 <= doc["outputs"]["top1_agreement"] <= 1 and doc["outputs"]["max_abs"] > 0
    model = load_onnx(out)
    assert any(isinstance(w, KronWeight) and w.dope is not None for w in weights_of(model))
    res = CliRunner().invoke(cli, ["verify", str(out), "--target", "host", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["passed"]
    # Three factors a matrix: smaller factors, more dope, the same budget.
    out3 = tmp_path / "dkp3.onnx"
    res = CliRunner().invoke(cli, ["compress", str(src), "-o", str(out3), "--ratio", "4", "--kron-order",
                                   "3", "--json"])
    assert res.exit_code == 0, res.output
    three = [w for w in weights_of(load_onnx(out3)) if isinstance(w, KronWeight)]
    two = [w for w in weights_of(model) if isinstance(w, KronWeight)]
    assert three and all(len(w.factors) == 3 for w in three)
    assert sum(w.dope.nnz for w in three) > sum(w.dope.nnz for w in two)
    assert json.loads(res.output)["params"] == doc["params"]


def test_cli_refuses_bad_input_and_writes_nothing(tmp_path):
    src, out = _dense_file(tmp_path), tmp_path / "out.onnx"
    for args, says in ((["--ratio", "100000"], "--ratio"), (["--ratio", "4", "--dope-share", "1"], "--dope-share"),
                       (["--ratio", "4", "--kron-order", "3", "--dope-share", "0.999"], "a smaller --dope-share")):
        res = CliRunner().invoke(cli, ["compress", str(src), "-o", str(out), *args])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output
        assert not out.exists()
    out.write_text("mine")
    res = CliRunner().invoke(cli, ["compress", str(src), "-o", str(out), "--ratio", "4"])
    assert res.exit_code == 2 and "--force" in res.output and out.read_text() == "mine"
    dkp = compress_model(dense_model(), "dkp", 2.0)  # nothing dense left in its LSTM
    res = CliRunner().invoke(cli, ["compress", str(save_onnx(dkp, tmp_path / "dkp.onnx")), "-o",
                                   str(tmp_path / "x.onnx"), "--ratio", "2"])
    assert res.exit_code == 2 and "no dense matrix" in res.output and "--linear" in res.output
    assert not (tmp_path / "x.onnx").exists()
