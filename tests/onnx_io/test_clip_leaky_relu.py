"""ONNX Clip (PyTorch's ReLU6, Hardtanh, clamp) and LeakyRelu layers: read from PyTorch's
exporter and from dkgen.nn, held to PyTorch and onnxruntime by the reference, written back
by dkgen's exporter, and generated as float32 and int8 C that matches on the host and the
Cortex-M4; the int8 Linear in front of a clip takes the clip's range."""

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
from dkgen.ir.graph import FLOAT32_MAX, GRU, Clip, InputSpec, LeakyRelu, Linear  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402
from dkgen.quant import quantize_model  # noqa: E402
from dkgen.quant.model import QClip, QLeakyRelu, QLinear  # noqa: E402
from dkgen.quant.reference import QuantReferenceExecutor  # noqa: E402


class _Clamp(nn.Module):
    def forward(self, x):
        return torch.clamp(x, min=-0.2)  # no upper bound: ONNX Clip with max absent


class _Net(nn.Module):
    """A GRU classifier whose input and head use every clip and leaky form."""

    def __init__(self):
        super().__init__()
        self.pre = nn.Sequential(nn.Linear(8, 12), nn.Hardtanh(-0.5, 0.7))
        self.rnn = nn.GRU(12, 16, batch_first=True)
        self.head = nn.Sequential(nn.Linear(16, 10), nn.ReLU6(), nn.Linear(10, 8), nn.LeakyReLU(0.1),
                                  nn.Linear(8, 6), _Clamp())

    def forward(self, x):
        return self.head(self.rnn(self.pre(x))[0][:, -1])

    def ir_chain(self):
        # dkgen.nn converts modules, not forward code: the clamp is the Hardtanh it equals.
        head = [(n, nn.Hardtanh(-0.2, FLOAT32_MAX) if isinstance(m, _Clamp) else m)
                for n, m in self.head.named_children()]
        return [*self.pre.named_children(), ("rnn", self.rnn), *head]


KINDS = [Linear, Clip, GRU, Linear, Clip, Linear, LeakyRelu, Linear, Clip]


def _net(seed: int = 0) -> _Net:
    torch.manual_seed(seed)
    net = _Net().eval()
    with torch.no_grad():  # large enough that every clip and the leaky slope are reached
        for lin, gain in ((net.pre[0], 6.0), (net.head[0], 25.0), (net.head[2], 3.0),
                          (net.head[4], 3.0)):
            lin.weight.mul_(gain)
    return net


def _inputs(seed: int = 0, batch: int = 4, steps: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(batch, steps, 8)).astype(np.float32)


def _export(tmp_path, net, x):
    path = tmp_path / "clipnet.onnx"
    export_torch(net, x, path)
    return path


def _layer_inputs(model, x):
    """Each layer's input over all timesteps, from the reference's traces."""
    _, traces = ReferenceExecutor(model).run(x, trace=True)
    return [x] + [traces[layer.name] for layer in model.layers[:-1]]


def test_pytorch_exporter_and_dkgen_nn_agree_with_pytorch_and_onnxruntime(tmp_path):
    from dkgen.nn import to_ir

    net, x = _net(), _inputs()
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    path = _export(tmp_path, net, x)
    for model in (load_onnx(path), to_ir(net, "clipnet", InputSpec("vector", 8))):
        assert [type(layer) for layer in model.layers] == KINDS
        clips = [layer for layer in model.layers if isinstance(layer, Clip)]
        assert [(c.lo, c.hi) for c in clips] == [(-0.5, np.float32(0.7)), (0.0, 6.0),
                                                 (np.float32(-0.2), FLOAT32_MAX)]
        assert next(la for la in model.layers if isinstance(la, LeakyRelu)).alpha == np.float32(0.1)
        # float32 PyTorch against the float64 reference, on outputs of up to about 10.
        np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)
    # Every bound and the negative slope are reached, so a layer left out would show.
    model = load_onnx(path)
    ins = _layer_inputs(model, x)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Clip):
            assert (ins[i] < layer.lo).any()
            assert layer.hi == FLOAT32_MAX or (ins[i] > layer.hi).any()
        if isinstance(layer, LeakyRelu):
            assert (ins[i] < -1.0).any()
    np.testing.assert_allclose(run_onnxruntime(path, x, "x"), want, rtol=1e-5, atol=1e-5)


def test_dkgen_writes_them_back_as_onnx_that_onnxruntime_runs(tmp_path):
    net, x = _net(1), _inputs(1)
    model = load_onnx(_export(tmp_path, net, x))
    again, _, got = written_back(model, x, tmp_path / "again.onnx")
    assert [type(layer) for layer in again.layers] == KINDS
    ref = ReferenceExecutor(model)(x)
    np.testing.assert_array_equal(ReferenceExecutor(again)(x), ref)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_int8_linear_before_a_clip_takes_the_clip_range(tmp_path):
    net, x = _net(2), _inputs(2, batch=8)
    model = load_onnx(_export(tmp_path, net, x))
    qm = quantize_model(model, x)
    ins = _layer_inputs(model, x)
    by_name = {q.name: q for q in qm.layers}
    for i, layer in enumerate(model.layers[:-1]):
        nxt = model.layers[i + 1]
        if isinstance(layer, Linear) and isinstance(nxt, Clip):
            q = by_name[layer.name]
            assert isinstance(q, QLinear)
            absmax = np.abs(ins[i + 1]).max()
            if nxt.hi == FLOAT32_MAX:  # the clamp without a maximum: the Linear's own range
                assert q.out_scale == pytest.approx(absmax / 127.0)
                continue
            reach = max(abs(nxt.lo), abs(nxt.hi))
            assert absmax > reach  # the Linear's output goes past the clip
            assert q.out_scale == pytest.approx(reach / 127.0)
            qc = by_name[nxt.name]
            assert isinstance(qc, QClip) and qc.in_scale == qc.out_scale == q.out_scale
            assert (qc.lo, qc.hi) == (round(nxt.lo * 127 / reach), round(nxt.hi * 127 / reach))
    leaky = next(q for q in qm.layers if isinstance(q, QLeakyRelu))
    assert leaky.mult == round(0.1 * 2**15)
    # The integer model stays close to the float one (outputs are a few units large).
    want = ReferenceExecutor(model)(x)
    got = QuantReferenceExecutor(qm)(x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_generated_c_on_host_and_cortex_m4(tmp_path, dtype):
    net, x = _net(3), _inputs(3)
    model = load_onnx(_export(tmp_path, net, x))
    report = verify_model(model, resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def test_clip_of_opset_6_takes_its_bounds_from_attributes(tmp_path):
    w = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32) * 3
    path = graph_file(tmp_path / "g.onnx", [helper.make_node("MatMul", ["x", "w"], ["h"]),
                                  helper.make_node("Clip", ["h"], ["y"], min=-1.5, max=0.25)],
                       {"w": w}, opset=6)
    model = load_onnx(path)
    clip = model.layers[-1]
    assert isinstance(clip, Clip) and (clip.lo, clip.hi) == (-1.5, 0.25)
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ReferenceExecutor(model)(x), np.clip(x @ w, -1.5, 0.25), rtol=1e-6)


@pytest.mark.parametrize("nodes,inits,says", [
    ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], {"lo": 1.0, "hi": -1.0},
     "min 1 is not at most max -1"),
    ([helper.make_node("Clip", ["x", "lo", ""], ["y"])], {"lo": [0.0, 1.0]}, "must be scalars"),
    ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Clip", ["r", "r"], ["y"])], {},
     "must be a constant"),
    ([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=float("inf"))], {}, "finite alpha"),
])
def test_bad_clip_and_leaky_relu_nodes_are_named(tmp_path, nodes, inits, says):
    path = graph_file(tmp_path / "g.onnx", nodes, inits)
    with pytest.raises(DkgenError, match=says) as err:
        load_onnx(path)
    assert "g.onnx" in str(err.value)


def test_int8_refuses_a_leaky_slope_it_cannot_hold(tmp_path):
    path = graph_file(tmp_path / "g.onnx", [helper.make_node("LeakyRelu", ["x"], ["y"], alpha=300.0)], {})
    model = load_onnx(path)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    with pytest.raises(DkgenError, match="alpha up to 255"):
        quantize_model(model, x)
