"""ONNX's RNN operator (Elman, tanh: PyTorch's nn.RNN, Keras' SimpleRNN): read from
PyTorch's exporter and from dkgen.nn, held to PyTorch and onnxruntime by the reference,
written back by dkgen's exporter, compressed by `dkgen compress`, and generated as float32
and int8 C that matches on the host and the Cortex-M4."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx_files import export_torch, run_onnxruntime, written_back  # noqa: E402

from dkgen.errors import DkgenError  # noqa: E402
from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import verify_model  # noqa: E402
from dkgen.ir.graph import RNN, InputSpec, Linear  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.ir.weights import KronWeight  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402
from dkgen.quant import quantize_model  # noqa: E402
from dkgen.quant.model import QRNN  # noqa: E402
from dkgen.quant.reference import QuantReferenceExecutor  # noqa: E402
from dkgen.structure.fit import compress_model  # noqa: E402


class _Net(nn.Module):
    """nn.RNN into a linear head: on every step (`head="every"`), the last step, or h_n."""

    def __init__(self, layers: int, batch_first: bool, bias: bool, head: str,
                 nonlinearity: str = "tanh"):
        super().__init__()
        self.rnn = nn.RNN(6, 10, layers, batch_first=batch_first, bias=bias, nonlinearity=nonlinearity)
        self.fc = nn.Linear(10, 3)
        self.batch_first, self.head = batch_first, head

    def forward(self, x):
        y, h = self.rnn(x)
        if self.head == "last":
            y = y[:, -1] if self.batch_first else y[-1]
        elif self.head == "hn":
            y = h[-1]
        return self.fc(y)

    def ir_chain(self):
        return [("rnn", self.rnn), ("fc", self.fc)]


CASES = {
    "rnn2-batch-first-every-step": (2, True, True, "every"),
    "rnn-time-major-last-step-no-bias": (1, False, False, "last"),
    "rnn2-final-hidden-state": (2, True, True, "hn"),
}


def _export(tmp_path, case: str, seed: int = 0):
    layers, bf, bias, head = CASES[case]
    torch.manual_seed(seed)
    net = _Net(layers, bf, bias, head).eval()
    with torch.no_grad():  # big enough weights that tanh saturates somewhere
        net.rnn.weight_ih_l0.mul_(3.0)
    x = np.random.default_rng(seed).uniform(-1, 1, size=(4, 7, 6)).astype(np.float32)
    feed = x if bf else np.swapaxes(x, 0, 1)
    path = tmp_path / f"{case.replace('-', '_')}.onnx"
    want = export_torch(net, feed, path)
    if head == "every" and not bf:
        want = np.swapaxes(want, 0, 1)
    return net, path, x, feed, want


@pytest.mark.parametrize("case", CASES)
def test_reference_and_onnxruntime_agree_with_pytorch(tmp_path, case):
    from dkgen.nn import to_ir

    layers, bf, bias, head = CASES[case]
    net, path, x, feed, want = _export(tmp_path, case)
    for model in (load_onnx(path), to_ir(net, "rnnnet", InputSpec("vector", 6))):
        assert [type(layer) for layer in model.layers] == [RNN] * layers + [Linear]
        assert model.layers[0].hidden_size == 10
        assert np.any(model.layers[0].b_ih) == bias
        ref = ReferenceExecutor(model)(x)
        np.testing.assert_allclose(ref if head == "every" else ref[:, -1], want, rtol=1e-5, atol=1e-5)
    _, traces = ReferenceExecutor(load_onnx(path)).run(x, trace=True)
    assert np.abs(next(iter(traces.values()))).max() > 0.95  # well into tanh's bend
    out = run_onnxruntime(path, feed, "x")
    if head == "every" and not bf:
        out = np.swapaxes(out, 0, 1)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_dkgen_writes_an_rnn_back_that_onnxruntime_runs(tmp_path):
    _, path, x, _, _ = _export(tmp_path, "rnn2-batch-first-every-step", seed=1)
    model = load_onnx(path)
    again, proto, got = written_back(model, x, tmp_path / "again.onnx")
    assert [n.op_type for n in proto.graph.node].count("RNN") == 2
    ref = ReferenceExecutor(model)(x)
    np.testing.assert_array_equal(ReferenceExecutor(again)(x), ref)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_int8_rnn_follows_the_float_one(tmp_path):
    _, path, x, _, _ = _export(tmp_path, "rnn2-batch-first-every-step", seed=2)
    model = load_onnx(path)
    qm = quantize_model(model, x)
    assert [type(q) for q in qm.layers[:2]] == [QRNN, QRNN]
    want = ReferenceExecutor(model)(x)
    got = QuantReferenceExecutor(qm)(x)
    assert np.abs(got - want).max() < 0.03 * np.abs(want).max()


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_compressed_rnn_as_c_on_host_and_cortex_m4(tmp_path, dtype):
    """`dkgen compress` turns both RNN matrices into doped Kronecker products; the C
    multiplies in that form and matches the reference (int8: bit for bit)."""
    _, path, x, _, _ = _export(tmp_path, "rnn-time-major-last-step-no-bias", seed=3)
    model = compress_model(load_onnx(path), method="dkp", ratio=2.0)
    rnn = model.layers[0]
    assert isinstance(rnn, RNN)
    assert isinstance(rnn.w_ih, KronWeight) and isinstance(rnn.w_hh, KronWeight)
    report = verify_model(model, resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def test_relu_rnn_is_refused_with_the_fix(tmp_path):
    from dkgen.nn import to_ir

    torch.manual_seed(0)
    net = _Net(1, True, True, "last", nonlinearity="relu").eval()
    path = tmp_path / "relu_rnn.onnx"
    export_torch(net, np.zeros((1, 3, 6), np.float32), path)
    with pytest.raises(DkgenError, match=r"activations \['Relu'\].*nonlinearity='tanh'") as err:
        load_onnx(path)
    assert "relu_rnn.onnx" in str(err.value)
    with pytest.raises(DkgenError, match="nonlinearity='tanh'"):
        to_ir(net, "relu_rnn", InputSpec("vector", 6))


def test_an_rnn_written_by_onnx_helper_without_bias(tmp_path):
    """The operator as the ONNX spec writes it (no B input, activations spelled out)."""
    rng = np.random.default_rng(5)
    w, r = rng.normal(size=(1, 5, 3)).astype(np.float32), rng.normal(scale=0.4, size=(1, 5, 5)).astype(np.float32)
    node = helper.make_node("RNN", ["x", "W", "R"], ["Y"], hidden_size=5, activations=["Tanh"])
    sq = helper.make_node("Squeeze", ["Y", "axes"], ["y"])
    graph = helper.make_graph(
        [node, sq], "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["time", "batch", 5])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    path = tmp_path / "rnn.onnx"
    onnx.save(m, str(path))
    model = load_onnx(path)
    x = rng.uniform(-1, 1, size=(2, 4, 3)).astype(np.float32)
    want = np.swapaxes(run_onnxruntime(path, np.swapaxes(x, 0, 1), "x"), 0, 1)
    np.testing.assert_allclose(ReferenceExecutor(model)(x), want, rtol=1e-5, atol=1e-6)
