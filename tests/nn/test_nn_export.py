"""to_ir + ReferenceExecutor agree with the PyTorch model (softmax outputs, 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dkgen.errors import DkgenError
from dkgen.ir import graph as ir
from dkgen.ir.reference import ReferenceExecutor
from dkgen.nn import GRU, LSTM, DopedKronLinear, DopedKronMatrix, to_ir


class VectorModel(nn.Module):
    def __init__(self, rnn: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.rnn, self.drop, self.head = rnn, nn.Dropout(0.1), head

    def ir_chain(self) -> list[tuple[str, nn.Module]]:
        return [("rnn", self.rnn), ("drop", self.drop), ("head", self.head)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.drop(self.rnn(x)[0])), dim=-1)


class TokenModel(nn.Module):
    """Embedding -> recurrent layers -> Linear: the language-model shape."""

    def __init__(self, rnn: nn.Module, vocab: int = 11, dim: int = 6) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size, vocab)

    def ir_chain(self) -> list[tuple[str, nn.Module]]:
        return [("emb", self.emb), ("rnn", self.rnn), ("head", self.head)]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.rnn(self.emb(tokens))[0]), dim=-1)


def _dope_values(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, DopedKronMatrix):
            with torch.no_grad():
                m.values.normal_(0, 0.5)


def _check(model: nn.Module, xs: np.ndarray, spec: ir.InputSpec) -> ir.Model:
    model.eval()
    irm = to_ir(model, "m", spec, softmax=True)
    with torch.no_grad():
        expect = model(torch.from_numpy(xs)).numpy()
    got = ReferenceExecutor(irm).run(xs)[0]
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-5)
    return irm


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_vector_model(cls: type) -> None:
    torch.manual_seed(0)
    rnn = cls(6, 12, 2, batch_first=True, weight="dkp", dope_density=0.05)
    model = VectorModel(rnn, DopedKronLinear(12, 5, dope_density=0.1))
    _dope_values(model)
    xs = np.random.default_rng(0).uniform(-1, 1, (3, 9, 6)).astype(np.float32)
    irm = _check(model, xs, ir.InputSpec("vector", 6))
    kinds = [type(layer).__name__ for layer in irm.layers]
    assert kinds == [cls.__name__, cls.__name__, "Linear", "Softmax"]
    assert irm.layers[0].w_hh.kind == "doped_kron"
    assert irm.layers[0].w_hh.param_count == rnn.matrices(0)[1].num_stored_params()


@pytest.mark.parametrize("cls", [LSTM, GRU, nn.LSTM, nn.GRU])
def test_token_model(cls: type) -> None:
    torch.manual_seed(1)
    kwargs = {"weight": "kron"} if cls in (LSTM, GRU) else {}
    model = TokenModel(cls(6, 8, 2, batch_first=True, **kwargs))
    xs = np.random.default_rng(1).integers(0, 11, (4, 7))
    irm = _check(model, xs, ir.InputSpec("token", 11))
    assert isinstance(irm.layers[0], ir.Embedding)


def test_sequential_and_unsupported_layers() -> None:
    lin = nn.Linear(4, 3)
    irm = to_ir(nn.Sequential(lin, nn.Identity()), "seq", ir.InputSpec("vector", 4))
    assert [layer.name for layer in irm.layers] == ["l_0"]
    with pytest.raises(DkgenError, match="no IR conversion"):
        to_ir(nn.Sequential(nn.Conv1d(4, 4, 3)), "bad", ir.InputSpec("vector", 4))
    with pytest.raises(DkgenError, match="takes 5 inputs"):
        to_ir([nn.Linear(5, 3)], "bad", ir.InputSpec("vector", 4))
