"""nn.Flatten in a classifier's head: on the last step's (batch, features), or on
y[:, -1:]'s (batch, 1, features), it changes nothing the C computes, so dkgen reads it as
nothing (held to PyTorch and onnxruntime); on the whole sequence, where it would put every
step's features in one vector, it is refused with the node named."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from onnx_files import export_torch, run_onnxruntime  # noqa: E402

from dkgen.errors import DkgenError  # noqa: E402
from dkgen.ir.graph import GRU, Linear, LogSoftmax  # noqa: E402
from dkgen.ir.reference import ReferenceExecutor  # noqa: E402
from dkgen.onnx_io.importer import load_onnx  # noqa: E402


class _Head(nn.Module):
    def __init__(self, where: str):
        super().__init__()
        self.rnn = nn.GRU(6, 12, batch_first=True)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(12 if where != "all" else 5 * 12, 4)
        self.where = where

    def forward(self, x):
        y, _ = self.rnn(x)
        if self.where == "last":
            y = y[:, -1]
        elif self.where == "kept":
            y = y[:, -1:]  # (batch, 1, features)
        # else "all": every step's features in one vector (a head a streaming library cannot
        # compute before the sequence ends)
        return torch.log_softmax(self.fc(self.flat(y)), -1)


@pytest.mark.parametrize("where", ["last", "kept"])
def test_flatten_of_the_last_step_is_read_as_nothing(tmp_path, where):
    torch.manual_seed(0)
    net = _Head(where)
    x = np.random.default_rng(0).normal(size=(3, 5, 6)).astype(np.float32)
    path = tmp_path / "flat.onnx"
    want = export_torch(net, x, path)
    model = load_onnx(path)
    assert [type(layer) for layer in model.layers] == [GRU, Linear, LogSoftmax]
    np.testing.assert_allclose(ReferenceExecutor(model)(x)[:, -1], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(path, x, "x"), want, rtol=1e-5, atol=1e-5)


def test_flatten_of_the_whole_sequence_is_refused(tmp_path):
    torch.manual_seed(0)
    net = _Head("all")
    x = np.random.default_rng(0).normal(size=(3, 5, 6)).astype(np.float32)
    path = tmp_path / "flat_tm.onnx"
    export_torch(net, x, path)
    with pytest.raises(DkgenError, match="Flatten with axis 1 of this activation") as err:
        load_onnx(path)
    assert "flat_tm.onnx" in str(err.value)
