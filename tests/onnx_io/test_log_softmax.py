"""A LogSoftmax output (PyTorch's log_softmax / nn.LogSoftmax, as keyword-spotting and
language models end): read from PyTorch's exporter and from dkgen.nn, held to PyTorch and
onnxruntime by the reference, written back by dkgen, and generated as float32 and int8 C
(int16 log-probabilities) that matches on the host and the Cortex-M4."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx_files import export_torch, run_onnxruntime, written_back  # noqa: E402

from dkgen.errors import DkgenError  # noqa: E402
from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import verify_model  # noqa: E402
from dkgen.ir.graph import GRU, InputSpec, Linear, LogSoftmax, Model, Relu  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.ir.weights import DenseWeight  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402
from dkgen.quant import quantize_model  # noqa: E402
from dkgen.quant.model import QLogSoftmax  # noqa: E402
from dkgen.quant.reference import QuantReferenceExecutor  # noqa: E402


class _Net(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.rnn = nn.GRU(6, 12, batch_first=True)
        self.fc = nn.Linear(12, 9)
        self.out = nn.LogSoftmax(dim=dim)

    def forward(self, x):
        return self.out(self.fc(self.rnn(x)[0][:, -1]))

    def ir_chain(self):
        return [("rnn", self.rnn), ("fc", self.fc), ("out", nn.LogSoftmax(dim=-1))]


def _export(tmp_path, dim: int = -1, seed: int = 0):
    torch.manual_seed(seed)
    net = _Net(dim).eval()
    with torch.no_grad():  # logits a few units apart, so some classes are very unlikely
        net.rnn.weight_ih_l0.mul_(3.0)
        net.fc.weight.mul_(20.0)
    x = np.random.default_rng(seed).uniform(-1, 1, size=(4, 6, 6)).astype(np.float32)
    path = tmp_path / "logsm.onnx"
    return net, path, x, export_torch(net, x, path)


@pytest.mark.parametrize("dim", [-1, 1])
def test_reference_and_onnxruntime_agree_with_pytorch(tmp_path, dim):
    from dkgen.nn import to_ir

    net, path, x, want = _export(tmp_path, dim)
    assert want.min() < -8.0  # a wide spread of log-probabilities
    for model in (load_onnx(path), to_ir(net, "logsm", InputSpec("vector", 6))):
        assert [type(layer) for layer in model.layers] == [GRU, Linear, LogSoftmax]
        np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(path, x, "x"), want, rtol=1e-5, atol=1e-5)


def test_dkgen_writes_it_back(tmp_path):
    _, path, x, _ = _export(tmp_path, seed=1)
    model = load_onnx(path)
    again, _, got = written_back(model, x, tmp_path / "again.onnx")
    assert isinstance(again.layers[-1], LogSoftmax)
    np.testing.assert_allclose(got, ReferenceExecutor(model)(x), rtol=1e-5, atol=1e-5)


def test_int8_log_probabilities_follow_the_float_ones(tmp_path):
    _, path, x, _ = _export(tmp_path, seed=2)
    model = load_onnx(path)
    qm = quantize_model(model, x)
    q = qm.layers[-1]
    assert isinstance(q, QLogSoftmax) and q.out_bits == 16
    want = ReferenceExecutor(model)(x)
    got = QuantReferenceExecutor(qm)(x)
    # int8 logits (scale about 1/127 of their range) bound the error, not the table.
    assert np.abs(got - want).max() < 2.0 * qm.layers[-2].out_scale + 0.01
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= 0.9  # near-ties may flip


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_generated_c_on_host_and_cortex_m4(tmp_path, dtype):
    _, path, x, _ = _export(tmp_path, seed=3)
    report = verify_model(load_onnx(path), resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def test_int8_wants_log_softmax_last():
    rng = np.random.default_rng(0)
    model = Model("mid", InputSpec("vector", 4), [
        Linear("fc", DenseWeight(rng.normal(size=(5, 4))), np.zeros(5)),
        LogSoftmax("logsm", 5), Relu("relu", 5)])
    with pytest.raises(DkgenError, match="LogSoftmax only as the last layer"):
        quantize_model(model, rng.normal(size=(2, 3, 4)).astype(np.float32))


def test_log_softmax_over_time_is_refused(tmp_path):
    class OverTime(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(6, 12, batch_first=True)

        def forward(self, x):
            return torch.log_softmax(self.rnn(x)[0], dim=1)  # over the time axis

    path = tmp_path / "time.onnx"
    export_torch(OverTime(), np.zeros((1, 3, 6), np.float32), path)
    with pytest.raises(DkgenError, match="feature axis") as err:
        load_onnx(path)
    assert "time.onnx" in str(err.value)
