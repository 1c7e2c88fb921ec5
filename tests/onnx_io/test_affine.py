"""Add / Sub / Mul / Div by constants (an input normalisation (x - mean) / std written into
the model, an output scaled and shifted): read as one Affine layer each, held to PyTorch
and onnxruntime, written back by dkgen, and generated as float32 and int8 C that matches
on the host and the Cortex-M4."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx_files import export_torch, graph_file, run_onnxruntime, written_back  # noqa: E402

from dkgen.errors import DkgenError  # noqa: E402
from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import verify_model  # noqa: E402
from dkgen.ir.graph import GRU, Affine, InputSpec, Linear, Model  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402
from dkgen.quant import quantize_model  # noqa: E402
from dkgen.quant.model import QAffine  # noqa: E402
from dkgen.quant.reference import QuantReferenceExecutor  # noqa: E402


class _Normalised(nn.Module):
    """A sensor classifier that normalises its input itself and rescales its output."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("mean", torch.randn(6, generator=g) * 3)
        self.register_buffer("std", torch.rand(6, generator=g) * 4 + 0.5)
        self.std[2] = -self.std[2]  # a negative factor too
        self.rnn = nn.GRU(6, 12, batch_first=True)
        self.fc = nn.Linear(12, 4, bias=False)

    def forward(self, x):
        y, _ = self.rnn((x - self.mean) / self.std)
        return (self.fc(y[:, -1]) + 0.25) * 3.0 - 1.0


def _export(tmp_path, seed: int = 0):
    torch.manual_seed(seed)
    net = _Normalised()
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(4, 5, 6)) * 4 + net.mean.numpy()).astype(np.float32)  # raw sensor units
    path = tmp_path / "normalised.onnx"
    return net, path, x, export_torch(net, x, path)


def test_constants_fold_into_one_affine_layer_each(tmp_path):
    net, path, x, want = _export(tmp_path)
    model = load_onnx(path)
    # (x - mean) / std is one layer; + 0.25 is the bias-free Linear's bias; * 3 - 1 one more.
    assert [type(layer) for layer in model.layers] == [Affine, GRU, Linear, Affine]
    norm, fc, out = model.layers[0], model.layers[2], model.layers[3]
    std, mean = net.std.numpy().astype(np.float64), net.mean.numpy().astype(np.float64)
    np.testing.assert_allclose(norm.mul, 1 / std, rtol=1e-6)
    np.testing.assert_allclose(norm.add, -mean / std, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fc.bias, np.float32(0.25))
    np.testing.assert_array_equal(out.mul, np.float32(3.0))
    np.testing.assert_array_equal(out.add, np.float32(-1.0))
    np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(path, x, "x"), want, rtol=1e-5, atol=1e-5)


def test_dkgen_writes_it_back(tmp_path):
    _, path, x, _ = _export(tmp_path, seed=1)
    model = load_onnx(path)
    again, _, got = written_back(model, x, tmp_path / "again.onnx")
    assert [type(layer) for layer in again.layers] == [Affine, GRU, Linear, Affine]
    ref = ReferenceExecutor(model)(x)
    np.testing.assert_allclose(ReferenceExecutor(again)(x), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_int8_affine_follows_the_float_one(tmp_path):
    _, path, x, _ = _export(tmp_path, seed=2)
    model = load_onnx(path)
    qm = quantize_model(model, x)
    norm = qm.layers[0]
    assert isinstance(norm, QAffine) and list(norm.sign) == [1, 1, -1, 1, 1, 1]
    want = ReferenceExecutor(model)(x)
    got = QuantReferenceExecutor(qm)(x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_generated_c_on_host_and_cortex_m4(tmp_path, dtype):
    _, path, x, _ = _export(tmp_path, seed=3)
    report = verify_model(load_onnx(path), resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def test_constant_minus_activation_and_a_scalar(tmp_path):
    path = graph_file(tmp_path / "g.onnx", [helper.make_node("Sub", ["c", "x"], ["s"]),
                                  helper.make_node("Mul", ["s", "k"], ["y"])],
                       {"c": [1.0, 2.0, 3.0, 4.0], "k": 0.5})
    model = load_onnx(path)
    assert len(model.layers) == 1
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ReferenceExecutor(model)(x), (np.array([1, 2, 3, 4]) - x) * 0.5, rtol=1e-6)


@pytest.mark.parametrize("nodes,inits,says", [
    ([helper.make_node("Div", ["c", "x"], ["y"])], {"c": 2.0}, "Div of a constant by the activation"),
    ([helper.make_node("Mul", ["x", "c"], ["y"])], {"c": [1.0, 2.0]}, "one per feature"),
    ([helper.make_node("Div", ["x", "c"], ["y"])], {"c": [1.0, 0.0, 1.0, 1.0]}, "division by zero"),
])
def test_bad_arithmetic_is_named(tmp_path, nodes, inits, says):
    path = graph_file(tmp_path / "g.onnx", nodes, inits)
    with pytest.raises(DkgenError, match=says) as err:
        load_onnx(path)
    assert "g.onnx" in str(err.value)


def test_int8_refuses_a_zero_factor():
    model = Model("zero", InputSpec("vector", 3), [Affine("a", 3, np.array([1.0, 0.0, 2.0]), np.zeros(3))])
    with pytest.raises(DkgenError, match="feature 1 is multiplied by 0"):
        quantize_model(model, np.ones((1, 2, 3), np.float32))
