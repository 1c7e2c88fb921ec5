"""The numpy integer reference executor: the definition of dkgen's int8 arithmetic.

`QuantReferenceExecutor(qmodel).run(xs)` runs float inputs (or token ids) through the
quantised model exactly as the generated C does: the inputs are quantised to int8 with the
same float32 operations, every layer computes in integers, and the outputs are
dequantised with one float32 multiplication each.  Generated int8 C must reproduce every
output, and every layer's integer output at every timestep, bit for bit.
"""

from __future__ import annotations

import numpy as np

from dkgen.ir.reference import check_inputs, run_chain, start_states
from dkgen.quant.arith import (
    dequantize,
    quantize_input,
    requantize,
    rshift_round,
    sat8,
    sat16,
    sat32,
)
from dkgen.quant.lut import exp_neg_q15, log2_q16, sigmoid_q15, tanh_q15
from dkgen.quant.model import (
    LEAKY_FRAC,
    QGRU,
    QLSTM,
    QRNN,
    QAffine,
    QClip,
    QEmbedding,
    QLayer,
    QLeakyRelu,
    QLinear,
    QLogSoftmax,
    QRelu,
    QSigmoid,
    QSoftmax,
    QTableActivation,
    QuantModel,
)


def lstm_cell_q(gates: np.ndarray, c: np.ndarray, cell_frac: int, h_mult: int, h_shift: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The pointwise LSTM step (dkgen_lstm_cell_s16): int32 Q3.12 gates (..., 4H), int16
    cell state with `cell_frac` fraction bits -> (h int8, new c)."""
    hsz = c.shape[-1]
    g = sat16(gates)
    i = sigmoid_q15(g[..., 0:hsz])
    o = sigmoid_q15(g[..., hsz:2 * hsz])
    f = sigmoid_q15(g[..., 2 * hsz:3 * hsz])
    cand = tanh_q15(g[..., 3 * hsz:])
    c_new = sat16(rshift_round(f * c, 15) + rshift_round(i * cand, 30 - cell_frac))
    if cell_frac > 12:
        c12 = rshift_round(c_new, cell_frac - 12)
    else:
        c12 = sat16(c_new * (1 << (12 - cell_frac)))
    h_new = sat8(requantize(o * tanh_q15(c12), h_mult, h_shift))
    return h_new, c_new


def _gru_gates_q(gx: np.ndarray, gh: np.ndarray, hsz: int) -> tuple[np.ndarray, np.ndarray]:
    """z and r (Q0.15) from the Q3.12 input and recurrent parts, both GRU forms."""
    z = sigmoid_q15(sat16(gx[..., :hsz] + gh[..., :hsz]))
    r = sigmoid_q15(sat16(gx[..., hsz:2 * hsz] + gh[..., hsz:2 * hsz]))
    return z, r


def gru_blend_q(z: np.ndarray, n: np.ndarray, h: np.ndarray, n_mult: int, n_shift: int) -> np.ndarray:
    """dkgen_gru_blend_s16: the new int8 h, z blending the candidate n with the old h."""
    return sat8(requantize((32768 - z) * n, n_mult, n_shift) + rshift_round(z * h, 15))


def gru_cell_q(gx: np.ndarray, gh: np.ndarray, h: np.ndarray, n_mult: int, n_shift: int) -> np.ndarray:
    """The pointwise GRU step (dkgen_gru_cell_s16): int32 Q3.12 input and recurrent parts
    (..., 3H), int8 h -> new h."""
    hsz = h.shape[-1]
    z, r = _gru_gates_q(gx, gh, hsz)
    rgh = rshift_round(r * sat16(gh[..., 2 * hsz:]), 15)
    n = tanh_q15(sat16(gx[..., 2 * hsz:] + rgh))
    return gru_blend_q(z, n, h, n_mult, n_shift)


def gru_reset_q(gx: np.ndarray, gh: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dkgen_gru_reset_s16 (linear_before_reset=0): z (Q0.15) and r * h in h's int8 units."""
    z, r = _gru_gates_q(gx, gh, h.shape[-1])
    return z, rshift_round(r * h, 15)  # |r| < 2^15: in int8 without saturating


def gru_update_q(z: np.ndarray, gx: np.ndarray, gh: np.ndarray, h: np.ndarray, n_mult: int,
                 n_shift: int) -> np.ndarray:
    """dkgen_gru_update_s16 (linear_before_reset=0): gh = Rb + R (r * h) in Q3.12 -> new h."""
    hsz = h.shape[-1]
    n = tanh_q15(sat16(gx[..., 2 * hsz:] + gh[..., 2 * hsz:]))
    return gru_blend_q(z, n, h, n_mult, n_shift)


def _lstm_step(layer: QLSTM, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert layer.w_ih and layer.w_hh and layer.rq_ih and layer.rq_hh and layer.h_rq
    hsz = layer.hidden
    h, c = state[:, :hsz], state[:, hsz:]
    g = np.broadcast_to(layer.bias.astype(np.int64), (x.shape[0], 4 * hsz))
    g = sat32(g + layer.rq_ih.apply(layer.w_ih.acc(x)))
    g = sat32(g + layer.rq_hh.apply(layer.w_hh.acc(h)))
    h_new, c_new = lstm_cell_q(g, c, layer.cell_frac, int(layer.h_rq.mult[0]), int(layer.h_rq.shift[0]))
    return h_new, np.concatenate([h_new, c_new], axis=1)


def _gru_step(layer: QGRU, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert layer.w_ih and layer.w_hh and layer.rq_ih and layer.rq_hh and layer.n_rq
    gx = sat32(layer.b_ih.astype(np.int64) + layer.rq_ih.apply(layer.w_ih.acc(x)))
    gh = sat32(layer.b_hh.astype(np.int64) + layer.rq_hh.apply(layer.w_hh.acc(h)))
    n_mult, n_shift = int(layer.n_rq.mult[0]), int(layer.n_rq.shift[0])
    if layer.linear_before_reset:
        h_new = gru_cell_q(gx, gh, h, n_mult, n_shift)
    else:
        z, rh = gru_reset_q(gx, gh, h)
        gh = sat32(layer.b_hh.astype(np.int64) + layer.rq_hh.apply(layer.w_hh.acc(rh)))
        h_new = gru_update_q(z, gx, gh, h, n_mult, n_shift)
    return h_new, h_new


def rnn_cell_q(gates: np.ndarray, h_mult: int, h_shift: int) -> np.ndarray:
    """The pointwise RNN step (dkgen_rnn_cell_s16): int32 Q3.12 gate sums (..., H) -> h int8."""
    return sat8(requantize(tanh_q15(sat16(gates)), h_mult, h_shift))


def _rnn_step(layer: QRNN, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert layer.w_ih and layer.w_hh and layer.rq_ih and layer.rq_hh and layer.h_rq
    g = np.broadcast_to(layer.bias.astype(np.int64), (x.shape[0], layer.hidden))
    g = sat32(g + layer.rq_ih.apply(layer.w_ih.acc(x)))
    g = sat32(g + layer.rq_hh.apply(layer.w_hh.acc(h)))
    h_new = rnn_cell_q(g, int(layer.h_rq.mult[0]), int(layer.h_rq.shift[0]))
    return h_new, h_new


def softmax_q(x: np.ndarray, beta: int) -> np.ndarray:
    """dkgen_softmax_s8: int8 logits (..., n) -> Q0.15 probabilities."""
    d = x.max(axis=-1, keepdims=True) - x
    e = exp_neg_q15(d, beta)
    s = e.sum(axis=-1, keepdims=True)
    return np.minimum((2 * 32768 * e + s) // (2 * s), 32767)


def affine_q(x: np.ndarray, mult: np.ndarray, shift: np.ndarray, sign: np.ndarray,
             bias: np.ndarray) -> np.ndarray:
    """dkgen_affine_s8: int8 x (..., n) -> int8, a multiplier, sign and offset a feature."""
    return sat8(requantize(bias + sign * np.asarray(x, np.int64), mult, shift))


def leaky_relu_q(x: np.ndarray, mult: int) -> np.ndarray:
    """dkgen_leaky_relu_s8: int8 x, alpha in Q15 -> int8 in x's scale."""
    x = np.asarray(x, np.int64)
    return np.where(x < 0, sat8(rshift_round(x * mult, LEAKY_FRAC)), x)


def log_softmax_q(x: np.ndarray, beta: int, d_rq: tuple[int, int], l_rq: tuple[int, int]
                  ) -> np.ndarray:
    """dkgen_log_softmax_s8: int8 logits (..., n) -> int16 log-probabilities; d_rq and l_rq
    are (mult, shift) of the distance below the largest logit and of log2(sum) in Q16."""
    top = x.max(axis=-1, keepdims=True)
    s = exp_neg_q15(top - x, beta).sum(axis=-1, keepdims=True)
    log_sum = requantize(log2_q16(s) - 15 * 65536, *l_rq)
    return sat16(-(requantize(top - x, *d_rq) + log_sum))


def qlayer_step(layer: QLayer, x: np.ndarray, state: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """One timestep of one integer layer on a batch (int64 arrays of integer values)."""
    if isinstance(layer, QEmbedding):
        return layer.table.astype(np.int64)[x.reshape(-1)], None
    if isinstance(layer, QLinear):
        assert layer.weight is not None and layer.rq is not None
        acc = layer.bias.astype(np.int64) + layer.weight.acc(x)
        out = layer.rq.apply(acc)
        return (sat16(out) if layer.out_bits == 16 else sat8(out)), None
    if isinstance(layer, QLSTM):
        assert state is not None
        return _lstm_step(layer, x, state)
    if isinstance(layer, QGRU):
        assert state is not None
        return _gru_step(layer, x, state)
    if isinstance(layer, QRNN):
        assert state is not None
        return _rnn_step(layer, x, state)
    if isinstance(layer, QSoftmax):
        return softmax_q(x, layer.beta), None
    if isinstance(layer, QLogSoftmax):
        assert layer.d_rq is not None and layer.l_rq is not None
        return log_softmax_q(x, layer.beta, (int(layer.d_rq.mult[0]), int(layer.d_rq.shift[0])),
                             (int(layer.l_rq.mult[0]), int(layer.l_rq.shift[0]))), None
    if isinstance(layer, QTableActivation):
        v = sat16(requantize(x, layer.mult, layer.shift))
        r = sigmoid_q15(v) if isinstance(layer, QSigmoid) else tanh_q15(v)
        return sat8(rshift_round(r, 8)), None
    if isinstance(layer, QRelu):
        return np.maximum(x, 0), None
    if isinstance(layer, QAffine):
        return affine_q(x, layer.mult, layer.shift, layer.sign, layer.bias), None
    if isinstance(layer, QClip):
        return np.clip(x, layer.lo, layer.hi), None
    if isinstance(layer, QLeakyRelu):
        return leaky_relu_q(x, layer.mult), None
    raise NotImplementedError(f"integer reference has no rule for {type(layer).__name__}")


class QuantReferenceExecutor:
    """Runs a `QuantModel` on batches of sequences in exact integer arithmetic."""

    def __init__(self, qmodel: QuantModel) -> None:
        self.qmodel = qmodel

    def initial_state(self, batch: int = 1) -> list[np.ndarray | None]:
        return start_states(self.qmodel.layers, batch, np.int64)

    def quantize_inputs(self, xs: np.ndarray) -> np.ndarray:
        """(batch, time[, features]) inputs -> the int8 values (or token ids) layer 0 sees."""
        xs = check_inputs(self.qmodel.input, xs)
        if self.qmodel.input.kind == "token":
            return xs
        return quantize_input(xs.astype(np.float32), self.qmodel.input_inv_scale)

    def run_q(self, xs: np.ndarray, state: list[np.ndarray | None] | None = None, *,
              trace: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Like `run`, but the outputs are the integers of the last layer (int64)."""
        outputs, traces, self.last_state = run_chain(
            self.qmodel.layers, qlayer_step, self.quantize_inputs(xs), state, self.qmodel.output_size,
            dtype=np.int64, trace=trace)
        return outputs, traces

    def run(self, xs: np.ndarray, state: list[np.ndarray | None] | None = None, *,
            trace: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Run (batch, time[, features]) inputs from `state` (zeros if None).

        Returns the dequantised float32 outputs (batch, time, out) -- exactly what the
        generated `<name>_step` writes -- and, with `trace`, each layer's integer outputs by
        layer name as int64 (batch, time, size).
        """
        q, traces = self.run_q(xs, state, trace=trace)
        return dequantize(q, self.qmodel.output_scale), traces

    def __call__(self, xs: np.ndarray) -> np.ndarray:
        return self.run(xs)[0]
