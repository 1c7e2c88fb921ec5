"""A learned constant initial state (`h0.expand(-1, batch, -1)` passed to nn.LSTM / GRU /
RNN, ONNX's initial_h and initial_c): read as the vector every sequence starts from, held
to PyTorch and onnxruntime, written back by dkgen, and started from by `<name>_init` in the
float32 and int8 C on the host and the Cortex-M4."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx_files import export_torch, run_onnxruntime, written_back  # noqa: E402

from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import verify_model  # noqa: E402
from dkgen.ir.graph import Model  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402
from dkgen.quant import quantize_model  # noqa: E402

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class _Learned(nn.Module):
    """A recurrent classifier that starts every sequence from learned states."""

    def __init__(self, cell: str):
        super().__init__()
        self.cell = cell
        self.rnn = CELLS[cell](6, 10, batch_first=True)
        self.h0 = nn.Parameter(torch.randn(1, 1, 10) * 0.8)
        self.c0 = nn.Parameter(torch.randn(1, 1, 10) * 2.0)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        h0 = self.h0.expand(-1, x.size(0), -1).contiguous()
        if self.cell == "lstm":
            y, _ = self.rnn(x, (h0, self.c0.expand(-1, x.size(0), -1).contiguous()))
        else:
            y, _ = self.rnn(x, h0)
        return self.fc(y[:, -1])


def _export(tmp_path, cell: str, seed: int = 0, dynamic_batch: bool = True):
    torch.manual_seed(seed)
    net = _Learned(cell)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(2, 4, 6)).astype(np.float32)
    path = tmp_path / f"learned_{cell}.onnx"
    export_torch(net, x, path, dynamic_batch)
    return net, path


def _zero_start(model: Model) -> Model:
    layers = [replace(layer, h0=None, **({"c0": None} if hasattr(layer, "c0") else {}))
              if hasattr(layer, "h0") else layer for layer in model.layers]
    return Model(model.name, model.input, layers)


@pytest.mark.parametrize("cell", CELLS)
def test_the_learned_state_is_read_and_followed(tmp_path, cell):
    net, path = _export(tmp_path, cell)
    model = load_onnx(path)
    rnn = model.layers[0]
    np.testing.assert_array_equal(rnn.h0, net.h0.detach().numpy().reshape(-1))
    if cell == "lstm":
        np.testing.assert_array_equal(rnn.c0, net.c0.detach().numpy().reshape(-1))
    # Another batch size than the export's: the state is one vector for every sequence.
    x = np.random.default_rng(1).uniform(-1, 1, size=(3, 4, 6)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = ReferenceExecutor(model)(x)[:, -1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(ReferenceExecutor(_zero_start(model))(x)[:, -1] - want).max() > 1e-3  # it matters
    np.testing.assert_allclose(run_onnxruntime(path, x, "x"), want, rtol=1e-5, atol=1e-5)


def test_a_file_with_a_fixed_batch_size(tmp_path):
    """Exported without dynamic axes, the expansion folds to a constant (1, 2, H) whose rows
    are the same vector."""
    net, path = _export(tmp_path, "gru", dynamic_batch=False)
    model = load_onnx(path)
    np.testing.assert_array_equal(model.layers[0].h0, net.h0.detach().numpy().reshape(-1))
    x = np.random.default_rng(4).uniform(-1, 1, size=(2, 3, 6)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dkgen_writes_the_state_back(tmp_path, cell):
    _, path = _export(tmp_path, cell, seed=1)
    model = load_onnx(path)
    x = np.random.default_rng(2).uniform(-1, 1, size=(3, 4, 6)).astype(np.float32)
    again, _, got = written_back(model, x, tmp_path / "again.onnx")
    np.testing.assert_array_equal(again.layers[0].h0, model.layers[0].h0)
    ref = ReferenceExecutor(model)(x)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell,dtype", [("lstm", "float32"), ("lstm", "int8"), ("gru", "int8"),
                                        ("rnn", "float32")])
def test_generated_c_starts_from_it(tmp_path, cell, dtype):
    _, path = _export(tmp_path, cell, seed=2)
    model = load_onnx(path)
    x = np.random.default_rng(3).uniform(-1, 1, size=(3, 5, 6)).astype(np.float32)
    if dtype == "int8":  # the integer model starts from the quantised state too
        q = quantize_model(model, x).layers[0]
        assert q.h0 is not None and np.any(q.h0)
    report = verify_model(model, resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [t.reason for t in report.targets]
