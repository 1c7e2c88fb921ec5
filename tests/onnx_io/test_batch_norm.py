"""BatchNorm1d in a sensor classifier's head: PyTorch's exporter writes it as an inference
BatchNormalization node, which dkgen reads as one Affine layer (as `dkgen.nn.to_ir` does
from the module), held to PyTorch and onnxruntime, and generated as float32 and int8 C
that matches on the host and the Cortex-M4."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx_files import export_torch, graph_file, run_onnxruntime  # noqa: E402

from dkgen.errors import DkgenError  # noqa: E402
from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import verify_model  # noqa: E402
from dkgen.ir.graph import LSTM, Affine, InputSpec, Linear, Relu  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.nn import to_ir  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402


class _Classifier(nn.Module):
    def __init__(self, affine: bool = True):
        super().__init__()
        self.rnn = nn.LSTM(6, 12, batch_first=True)
        self.fc = nn.Linear(12, 8)
        self.bn = nn.BatchNorm1d(8, affine=affine, eps=1e-3)
        self.act = nn.ReLU()
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(self.act(self.bn(self.fc(y[:, -1]))))


def _trained(seed: int, affine: bool = True) -> _Classifier:
    """Running statistics and affine parameters away from their initial 0 / 1."""
    torch.manual_seed(seed)
    net = _Classifier(affine)
    net.train()
    with torch.no_grad():
        for _ in range(5):
            net(torch.randn(16, 5, 6) * 2 + 1)
        if affine:
            net.bn.weight.uniform_(-2, 2)
            net.bn.bias.uniform_(-1, 1)
    return net.eval()


@pytest.mark.parametrize("affine", [True, False])
def test_read_as_one_affine_layer(tmp_path, affine):
    net = _trained(0, affine)
    x = np.random.default_rng(0).normal(size=(3, 5, 6)).astype(np.float32)
    path = tmp_path / "bn.onnx"
    want = export_torch(net, x, path)
    model = load_onnx(path)
    assert [type(layer) for layer in model.layers] == [LSTM, Linear, Affine, Relu, Linear]
    np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(path, x, "x"), want, rtol=1e-5, atol=1e-5)


def test_to_ir_reads_the_module_the_same_way():
    net = _trained(1)
    layers = to_ir([net.fc, net.bn, net.act, net.out], "head", InputSpec("vector", 12)).layers
    assert [type(layer) for layer in layers] == [Linear, Affine, Relu, Linear]
    h = np.random.default_rng(1).normal(size=(4, 12)).astype(np.float32)
    with torch.no_grad():
        want = net.out(net.act(net.bn(net.fc(torch.from_numpy(h))))).numpy()
    got = ReferenceExecutor(to_ir([net.fc, net.bn, net.act, net.out], "head",
                                  InputSpec("vector", 12)))(h[:, None, :])[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_to_ir_refuses_batch_statistics():
    bn = nn.BatchNorm1d(4, track_running_stats=False)
    with pytest.raises(DkgenError, match="track_running_stats=True"):
        to_ir([nn.Linear(3, 4), bn], "m", InputSpec("vector", 3))


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_generated_c_on_host_and_cortex_m4(tmp_path, dtype):
    net = _trained(2)
    x = np.random.default_rng(2).normal(size=(4, 5, 6)).astype(np.float32)
    path = tmp_path / "bn.onnx"
    export_torch(net, x, path)
    report = verify_model(load_onnx(path), resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def _bn_node(**attrs) -> list:
    return [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **attrs)]


STATS = {"s": [1.0] * 4, "b": [0.0] * 4, "m": [0.0] * 4, "v": [1.0] * 4}


@pytest.mark.parametrize("nodes,inits,says", [
    # over (time, batch, features) input, axis 1 is the batch
    (_bn_node(), STATS, "not the features"),
    (_bn_node(training_mode=1), STATS, "training mode"),
])
def test_bad_batch_norm_is_named(tmp_path, nodes, inits, says):
    path = graph_file(tmp_path / "g.onnx", nodes, inits)
    with pytest.raises(DkgenError, match=says) as err:
        load_onnx(path)
    assert "g.onnx" in str(err.value)
