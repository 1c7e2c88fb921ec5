"""Dense models written by PyTorch's ONNX exporter: dkgen reads them (batch-first inputs,
zero initial states, stacked layers, embeddings, a last-timestep head) into the IR, its
reference executor and onnxruntime agree with PyTorch, and the generated C agrees with
the reference."""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from dkgen.errors import DkgenError  # noqa: E402
from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import verify_model  # noqa: E402
from dkgen.ir.graph import GRU, LSTM, Embedding, Linear, Softmax  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402


class Net(nn.Module):
    """What a user writes: an optional embedding, a recurrent stack, a linear head."""

    def __init__(self, cell: str, layers: int, batch_first: bool, vocab: int | None,
                 head: str, softmax: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8) if vocab else None
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(8, 12, layers, batch_first=batch_first)
        self.fc = nn.Linear(12, 5)
        self.batch_first, self.head, self.softmax = batch_first, head, softmax

    def forward(self, x):
        if self.embed is not None:
            x = self.embed(x)
        y, h = self.rnn(x)
        if self.head == "last":
            y = y[:, -1] if self.batch_first else y[-1]
        elif self.head.startswith("slice"):  # y[:, -1:], the time axis kept with length 1
            y = y[:, -1:] if self.batch_first else y[-1:]
        elif self.head.startswith("hn"):  # the final hidden state: h_n[-1], or h_n.squeeze(0)
            h = h[0] if isinstance(self.rnn, nn.LSTM) else h
            y = h.squeeze(0) if self.head == "hn-squeeze" else h[-1]
        y = self.fc(y)
        if self.head == "slice-squeeze":
            y = y.squeeze(1 if self.batch_first else 0)
        return torch.softmax(y, -1) if self.softmax else y


CASES = {
    "lstm2-batch-first": ("lstm", 2, True, None, "every", True),
    "gru-embedding-time-major": ("gru", 1, False, 30, "every", False),
    "lstm-classifier": ("lstm", 1, True, None, "last", True),
    "gru2-classifier-time-major": ("gru", 2, False, None, "last", False),
    "lstm2-final-hidden-state": ("lstm", 2, True, None, "hn", True),
    "gru-final-hidden-state-squeezed": ("gru", 1, False, None, "hn-squeeze", False),
    "lstm-last-step-sliced": ("lstm", 1, True, None, "slice", True),
    "gru2-last-step-sliced-squeezed-time-major": ("gru", 2, False, None, "slice-squeeze", False),
}


def export(tmp_path, case: str, seed: int = 0):
    cell, layers, bf, vocab, head, softmax = CASES[case]
    torch.manual_seed(seed)
    net = Net(cell, layers, bf, vocab, head, softmax).eval()
    rng = np.random.default_rng(seed)
    batch, steps = 3, 7
    if vocab:
        x = rng.integers(0, vocab, size=(batch, steps))
    else:
        x = rng.uniform(-1, 1, size=(batch, steps, 8)).astype(np.float32)
    feed = x if bf else np.swapaxes(x, 0, 1)  # the layout the torch model takes
    path = tmp_path / f"{case.replace('-', '_')}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(feed),), str(path), input_names=["x"],
                          output_names=["y"], dynamo=False)
        with torch.no_grad():
            want = net(torch.from_numpy(feed)).numpy()
    if head == "every" and not bf:
        want = np.swapaxes(want, 0, 1)  # to (batch, time, out)
    if head == "slice":
        want = want.reshape(batch, -1)  # the kept length-1 time axis, either way round
    return path, x, feed, want


@pytest.mark.parametrize("case", CASES)
def test_reference_and_onnxruntime_agree_with_pytorch(tmp_path, case):
    path, x, feed, want = export(tmp_path, case)
    model = load_onnx(path)
    cell, layers, _, vocab, head, softmax = CASES[case]
    kinds = [type(layer) for layer in model.layers]
    assert kinds == ([Embedding] if vocab else []) + [LSTM if cell == "lstm" else GRU] * layers + [
        Linear] + ([Softmax] if softmax else [])
    assert model.name == path.stem  # not PyTorch's "main_graph"
    assert model.layers[1 if vocab else 0].name == ("rnn.LSTM" if cell == "lstm" else "rnn.GRU")
    ref = ReferenceExecutor(model)(x)
    got = ref if head == "every" else ref[:, -1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": feed})[0]
    if head == "every" and not CASES[case][2]:
        out = np.swapaxes(out, 0, 1)
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["lstm2-batch-first", "lstm-classifier"])
def test_generated_c_agrees_on_host_and_cortex_m4(tmp_path, case):
    path, x, _, _ = export(tmp_path, case, seed=1)
    report = verify_model(load_onnx(path), resolve_targets("host,cortex-m4"), inputs=x,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def test_int8_from_a_pytorch_file(tmp_path):
    path, x, _, _ = export(tmp_path, "gru-embedding-time-major", seed=2)
    report = verify_model(load_onnx(path), resolve_targets("host"), inputs=x, dtype="int8",
                          calib=x, workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def _export_module(tmp_path, module, x, name):
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (x,), str(path), input_names=["x"], output_names=["y"],
                          dynamo=False)
    return path


class _Picks(nn.Module):
    def __init__(self, pick):
        super().__init__()
        self.rnn, self.pick = nn.LSTM(8, 12, 1, batch_first=True), pick

    def forward(self, x):
        return self.pick(self.rnn(x)[0])


class _FirstLayerState(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 12, 2, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[1][0][0]  # h_n of the first of two layers


class _WithState(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 12, 1)
        self.h0 = nn.Parameter(torch.randn(1, 4, 12))  # x is (time 1, batch 4, 8) here

    def forward(self, x):
        return self.rnn(x, (self.h0, torch.zeros(1, 4, 12)))[0]


@pytest.mark.parametrize("module,says", [
    (lambda: _Picks(lambda y: y[:, 0]), "last timestep"),
    (lambda: _Picks(lambda y: y[:, -2:]), "only the last timestep"),
    (lambda: _Picks(lambda y: y[:, :3]), "only the last timestep"),
    (lambda: _Picks(lambda y: y[-1:]), "only the last timestep"),
    (lambda: _Picks(lambda y: y[0]), "not the time axis"),
    (lambda: nn.LSTM(8, 12, 1, bidirectional=True), "forward"),
    (lambda: _WithState(), "initial_h"),
    (lambda: _FirstLayerState(), "last recurrent layer"),
])
def test_unsupported_pytorch_models_are_named(tmp_path, module, says):
    path = _export_module(tmp_path, module(), torch.randn(1, 4, 8), "m.onnx")
    with pytest.raises(DkgenError, match=says) as err:
        load_onnx(path)
    assert "m.onnx" in str(err.value)


class _MlpHead(nn.Module):
    """A classifier whose head is a small MLP: Linear, ReLU, Linear, Tanh, Linear, Sigmoid."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 6), nn.Tanh(),
                                  nn.Linear(6, 3), nn.Sigmoid())

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])

    def ir_chain(self):
        return [("rnn", self.rnn), *self.head.named_children()]


def test_mlp_heads_from_the_exporter_and_from_dkgen_nn(tmp_path):
    from dkgen.ir.graph import InputSpec, Relu, Sigmoid, Tanh
    from dkgen.nn import to_ir

    torch.manual_seed(0)
    net = _MlpHead().eval()
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 5, 8)).astype(np.float32)
    path = _export_module(tmp_path, net, torch.from_numpy(x), "mlp.onnx")
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    for model in (load_onnx(path), to_ir(net, "mlp", InputSpec("vector", 8))):
        assert [type(layer) for layer in model.layers[2::2]] == [Relu, Tanh, Sigmoid]
        np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-6)


def _with_dropout(src, dst, training):
    """`src` with a Dropout (ratio 0.5) inserted in front of its Softmax, as exporters
    leave one in a graph; `training` sets its training_mode input."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    soft = next(n for n in g.node if n.op_type == "Softmax")
    g.initializer.extend([numpy_helper.from_array(np.array(0.5, np.float32), "drop_ratio"),
                          numpy_helper.from_array(np.array(training), "drop_training")])
    drop = helper.make_node("Dropout", [soft.input[0], "drop_ratio", "drop_training"],
                            ["dropped", "drop_mask"], name="head_dropout")
    soft.input[0] = "dropped"
    nodes = list(g.node)
    g.ClearField("node")
    g.node.extend(nodes[:nodes.index(soft)] + [drop] + nodes[nodes.index(soft):])
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))
    return dst


def test_inference_dropout_passes_through_and_training_dropout_is_named(tmp_path):
    path, x, feed, want = export(tmp_path, "lstm-classifier")
    eval_path = _with_dropout(path, tmp_path / "dropout.onnx", False)
    model = load_onnx(eval_path)
    np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)
    sess = ort.InferenceSession(str(eval_path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": feed})[0], want, rtol=1e-5, atol=1e-5)
    train_path = _with_dropout(path, tmp_path / "dropout_train.onnx", True)
    with pytest.raises(DkgenError, match="head_dropout.*training mode.*eval") as err:
        load_onnx(train_path)
    assert "dropout_train.onnx" in str(err.value)
