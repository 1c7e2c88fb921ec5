"""The path docs/training.md gives for a user's own PyTorch model: train dense, compress
with dkgen.nn, fine-tune in one's own loop, export, verify; and `dkgen compress` on the
same model's ONNX file gives exactly the same compressed weights."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from click.testing import CliRunner
from torch import nn

from dkgen.cli import cli
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import verify_model
from dkgen.ir.graph import InputSpec, weights_of
from dkgen.ir.weights import KronWeight
from dkgen.nn import compress, to_ir
from dkgen.onnx_io.importer import load_onnx


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(8, 32, batch_first=True)
        self.fc = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])

    def ir_chain(self):
        return [("rnn", self.rnn), ("fc", self.fc)]


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 10, 8, generator=g) * 2 - 1
    return x, x[:, :, :3].mean(1).argmax(1)  # which of the first three features is largest


def _train(net: nn.Module, steps: int, seed: int) -> list[float]:
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for step in range(steps):
        x, y = _data(64, seed * 1000 + step)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _loss(net: nn.Module) -> float:
    x, y = _data(512, 99)
    with torch.no_grad():
        return float(nn.functional.cross_entropy(net(x), y))


def test_compress_fine_tune_export_verify(tmp_path):
    torch.manual_seed(0)
    net = Net()
    _train(net, 150, seed=1)
    dense_loss = _loss(net)
    small = compress(net, "dkp", 8.0, dope_share=0.5, factor_rule="macs")
    assert small.rnn.dense_param_count() / small.rnn.num_stored_params() >= 8.0
    start = _loss(small)
    _train(small, 100, seed=2)  # the user's own loop; factors and dope values are parameters
    tuned = _loss(small)
    print(f"OWN_MODEL dense {dense_loss:.4f} compressed {start:.4f} fine-tuned {tuned:.4f}")
    assert tuned < start and tuned < 2 * dense_loss, (dense_loss, start, tuned)
    model = to_ir(small, "mynet", InputSpec("vector", 8))
    x = _data(3, 7)[0].numpy()
    report = verify_model(model, resolve_targets("host"), inputs=x, workdir=tmp_path / "v", jobs=1)
    assert report.passed, [t.reason for t in report.targets]


def test_dkgen_compress_on_the_onnx_file_matches_dkgen_nn(tmp_path):
    torch.manual_seed(1)
    net = Net().eval()
    path = tmp_path / "dense.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 10, 8),), str(path), input_names=["x"],
                          output_names=["y"], dynamo=False)
    out = tmp_path / "dkp.onnx"
    res = CliRunner().invoke(cli, ["compress", str(path), "-o", str(out), "--ratio", "8",
                                   "--dope-share", "0.5", "--factor-rule", "macs"])
    assert res.exit_code == 0, res.output
    cli_weights = weights_of(load_onnx(out))
    nn_weights = weights_of(to_ir(compress(net, "dkp", 8.0, dope_share=0.5, factor_rule="macs"),
                                  "mynet", InputSpec("vector", 8)))
    assert len(cli_weights) == len(nn_weights) == 3
    for a, b in zip(cli_weights[:2], nn_weights[:2], strict=True):
        assert isinstance(a, KronWeight) and isinstance(b, KronWeight)
        assert np.array_equal(a.a, b.a) and np.array_equal(a.b, b.b)
        assert np.array_equal(a.dope.index, b.dope.index)
        assert np.array_equal(a.dope.values, b.dope.values)
    np.testing.assert_array_equal(cli_weights[2].to_dense(), nn_weights[2].to_dense())
