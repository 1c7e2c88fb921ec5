"""DKP LSTM/GRU against nn.LSTM/nn.GRU loaded with the same dense weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dkgen.nn import GRU, LSTM, DopedKronMatrix, KronMatrix


def _onnx_to_torch_rows(w: torch.Tensor, mode: str, hidden: int) -> torch.Tensor:
    # Written out gate by gate, independently of the module's permutation table.
    blocks = list(w.split(hidden, dim=0))
    if mode == "lstm":
        i, o, f, c = blocks
        return torch.cat([i, f, c, o])
    z, r, h = blocks
    return torch.cat([r, z, h])


def _reference(ours: LSTM | GRU) -> nn.Module:
    mode = "lstm" if isinstance(ours, LSTM) else "gru"
    cls = nn.LSTM if mode == "lstm" else nn.GRU
    ref = cls(ours.input_size, ours.hidden_size, ours.num_layers, bias=ours.bias,
              batch_first=ours.batch_first, dropout=ours.dropout)
    with torch.no_grad():
        for k in range(ours.num_layers):
            w_ih, w_hh = ours.matrices(k)
            getattr(ref, f"weight_ih_l{k}").copy_(_onnx_to_torch_rows(w_ih(), mode, ours.hidden_size))
            getattr(ref, f"weight_hh_l{k}").copy_(_onnx_to_torch_rows(w_hh(), mode, ours.hidden_size))
            if ours.bias:
                b_ih, b_hh = ours.biases(k)
                getattr(ref, f"bias_ih_l{k}").copy_(_onnx_to_torch_rows(b_ih, mode, ours.hidden_size))
                getattr(ref, f"bias_hh_l{k}").copy_(_onnx_to_torch_rows(b_hh, mode, ours.hidden_size))
    return ref


CASES = [
    # (num_layers, batch_first, bias, weight, options)
    (1, True, True, "dkp", {"dope_density": 0.05}),
    (2, False, True, "dkp", {"dope_density": 0.1, "factors": {"w_ih_l0": ((4, 1), (6, 3)),
                                                               "w_hh": ((4, 2), (6, 3))}}),
    (3, True, False, "kron", {}),
    (2, False, True, "dense", {}),
    (1, False, True, "lowrank", {"rank": 2}),
]


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("num_layers,batch_first,bias,weight,options", CASES)
def test_matches_torch_reference(cls: type, num_layers: int, batch_first: bool, bias: bool,
                                 weight: str, options: dict) -> None:
    torch.manual_seed(0)
    hidden = 6 if cls is LSTM else 8  # 4*6 and 3*8 rows: both 24
    if "factors" in options:
        hidden = 6
        if cls is GRU:
            options = {**options, "factors": {"w_ih_l0": ((2, 1), (9, 3)),
                                              "w_hh": ((3, 2), (6, 3))}}
    ours = cls(3, hidden, num_layers, bias=bias, batch_first=batch_first, weight=weight, **options)
    for m in ours.modules():
        if isinstance(m, DopedKronMatrix):
            with torch.no_grad():
                m.values.normal_(0, 0.3)
    ours.eval()
    ref = _reference(ours).eval()
    batch, steps = 4, 7
    x = torch.randn(batch, steps, 3) if batch_first else torch.randn(steps, batch, 3)
    out, state = ours(x)
    ref_out, ref_state = ref(x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    if cls is LSTM:
        torch.testing.assert_close(state[0], ref_state[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(state[1], ref_state[1], rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(state, ref_state, rtol=1e-5, atol=1e-6)

    # State in and out: two halves chained equal the whole sequence.
    t = 3
    first, second = (x[:, :t], x[:, t:]) if batch_first else (x[:t], x[t:])
    out1, s1 = ours(first)
    out2, s2 = ours(second, s1)
    ref2, _ = ref(second, s1)
    torch.testing.assert_close(out2, ref2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.cat([out1, out2], dim=1 if batch_first else 0), out,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_unbatched_input(cls: type) -> None:
    torch.manual_seed(1)
    ours = cls(5, 4, 2, weight="kron").eval()
    ref = _reference(ours).eval()
    x = torch.randn(6, 5)
    out, state = ours(x)
    ref_out, ref_state = ref(x)
    torch.testing.assert_close(out, ref_out)
    assert out.shape == (6, 4)
    if cls is LSTM:
        torch.testing.assert_close(ours(x, state)[0], ref(x, ref_state)[0])
    else:
        assert state.shape == (2, 4)
        torch.testing.assert_close(ours(x, state)[0], ref(x, ref_state)[0])


def test_gradients_reach_the_factors_and_match_torch() -> None:
    torch.manual_seed(2)
    ours = LSTM(4, 8, 1, batch_first=True, weight="kron").double()
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    out, _ = ours(x)
    out.pow(2).sum().backward()
    # The same function through torch's LSTM with the dense weight as the leaf, then the
    # chain rule through torch.kron by hand.
    w_ih_mod, w_hh_mod = ours.matrices(0)
    assert isinstance(w_hh_mod, KronMatrix)
    ref = _reference(ours).double()
    ref_out, _ = ref(x)
    ref_out.pow(2).sum().backward()
    torch.testing.assert_close(out, ref_out)
    inverse = torch.cat([torch.arange(g * 8, (g + 1) * 8) for g in (0, 3, 1, 2)])
    grad_w_hh = ref.weight_hh_l0.grad[inverse]  # back to ONNX gate order
    a, b = w_hh_mod.a.detach().requires_grad_(), w_hh_mod.b.detach().requires_grad_()
    expect_a, expect_b = torch.autograd.grad(torch.kron(a, b), (a, b), grad_outputs=grad_w_hh)
    torch.testing.assert_close(w_hh_mod.a.grad, expect_a)
    torch.testing.assert_close(w_hh_mod.b.grad, expect_b)
    assert w_ih_mod.a.grad is not None


def test_dropout_between_layers_and_errors() -> None:
    torch.manual_seed(3)
    m = LSTM(3, 4, 2, dropout=0.5, weight="dense")
    x = torch.randn(5, 2, 3)
    m.eval()
    torch.testing.assert_close(m(x)[0], m(x)[0])
    m.train()
    assert not torch.equal(m(x)[0], m(x)[0])
    with pytest.raises(ValueError, match="unidirectional"):
        LSTM(3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="features"):
        m(torch.randn(5, 2, 4))


def test_factory_and_parameter_counts() -> None:
    made = []

    def factory(rows: int, cols: int, role: str) -> KronMatrix:
        made.append((rows, cols, role))
        return KronMatrix(rows, cols)

    m = GRU(8, 16, 2, weight=factory)
    assert made == [(48, 8, "w_ih_l0"), (48, 16, "w_hh_l0"), (48, 16, "w_ih_l1"),
                    (48, 16, "w_hh_l1")]
    assert m.dense_param_count() == 48 * 8 + 3 * 48 * 16
    assert m.num_stored_params() == sum(KronMatrix(r, c).num_stored_params() for r, c, _ in made)
