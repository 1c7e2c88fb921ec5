"""Post-training quantisation: float IR model + calibration inputs -> `QuantModel`.

Scales (docs/quantization.md):
- weights: symmetric int8, one scale per matrix or Kronecker factor, or one per row where
  the row is long enough (>= `per_row_min_cols` entries) that its multiplier's 5 bytes
  are small beside it;
- activations between layers: symmetric int8, scale = calibrated max |value| / 127 (a
  Linear followed by a Clip: at most the clip's larger bound / 127); ReLU, Clip and
  LeakyRelu keep their input's scale;
- the intermediate of a two-step product (Kronecker T, low-rank V x): int16 with its own
  calibrated scale, saturated at `t_max` (chosen so that no int32 accumulator can
  overflow for any input);
- the dope: int8 values in units of the Kronecker part's accumulator times 2**shift, so
  both sum in one int32 accumulator;
- LSTM/GRU/RNN gate pre-activations Q3.12 int16, sigmoid/tanh outputs Q0.15, LSTM cell
  state int16 with a calibrated power-of-two scale;
- the model's last layer: a Linear writes int16 (logits keep their resolution), a Softmax
  Q0.15 probabilities, a LogSoftmax int16 log-probabilities (a scale no output can
  saturate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dkgen.codegen.pack import (
    KRON_ORDER_AX,
    fold_split,
    kron_multi_forms,
    kron_order,
)
from dkgen.errors import DkgenError
from dkgen.ir.graph import (
    GRU,
    LSTM,
    RECURRENT,
    RNN,
    Affine,
    Clip,
    Embedding,
    LeakyRelu,
    Linear,
    LogSoftmax,
    Model,
    Relu,
    Sigmoid,
    Softmax,
    Tanh,
)
from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    RowStackWeight,
    SparseDope,
    SparseWeight,
    Weight,
    kron_chain,
)
from dkgen.quant.arith import (
    ACT_FRAC,
    GATE_FRAC,
    INT16_MAX,
    INT16_MIN,
    INT32_MAX,
    quantize_multiplier,
    quantize_symmetric,
    to_q,
)
from dkgen.quant.calibrate import CalibrationStats, calibrate
from dkgen.quant.lut import exp_beta
from dkgen.quant.model import (
    LEAKY_ALPHA_MAX,
    LEAKY_FRAC,
    PER_INNER,
    PER_OUTER,
    PER_TENSOR,
    QGRU,
    QLSTM,
    QRNN,
    QAffine,
    QClip,
    QDense,
    QDope,
    QEmbedding,
    QKron,
    QKronMulti,
    QLayer,
    QLeakyRelu,
    QLinear,
    QLogSoftmax,
    QLowRank,
    QMatrix,
    QRelu,
    QRowStack,
    QSigmoid,
    QSoftmax,
    QTanh,
    QuantModel,
    Requant,
)

GATE_SCALE = 2.0**-GATE_FRAC
Q30 = 2.0**-30


@dataclass(frozen=True)
class QuantOptions:
    """Knobs of post-training quantisation (the defaults are what the bars were met with)."""

    per_row_min_cols: int = 16  # a factor/matrix gets per-row scales when rows are this long
    int16_headroom: float = 2.0  # int16 intermediates and outputs: calibrated max * this
    cell_headroom: float = 2.0  # LSTM cell state range: calibrated max * this


def _safe(absmax: float, fallback: float = 1.0) -> float:
    return absmax if absmax > 0 and math.isfinite(absmax) else fallback


def _row_scales(w: np.ndarray, per_row: bool) -> np.ndarray:
    """Scale(s) of a symmetric int8 matrix: max |row| / 127, or one for the whole matrix."""
    w = np.asarray(w, np.float64)
    if per_row:
        m = np.abs(w).max(axis=1) if w.shape[1] else np.zeros(w.shape[0])
    else:
        m = np.array([np.abs(w).max() if w.size else 0.0])
    return np.where(m > 0, m / 127.0, 1.0)


def _quant_rows(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    s = scales[:, None] if scales.size > 1 else scales
    return quantize_symmetric(w, s)


def _pow2_shift(units: np.ndarray) -> int:
    """Smallest k >= 0 with every round-half-up(units / 2**k) inside [-127, 127]."""
    if units.size == 0:
        return 0
    k = 0
    while np.abs(np.floor(units / 2.0**k + 0.5)).max() > 127:
        k += 1
    return k


def fold_to_two_factors(w: KronWeight) -> KronWeight:
    """A product of three or more factors as two: the factors on each side of the split
    that stores the fewest values multiplied out (for (10,5)⊗(10,5)⊗(8,8), 100x25 and
    8x8: 2,564 values instead of 164).  int8 keeps three factors (`QKronMulti`: one end
    factor against the product of the other two); of four, it folds the other three to two."""
    factors = w.factors
    cut = fold_split(w.factor_shapes)
    return KronWeight(kron_chain(factors[:cut]), kron_chain(factors[cut:]), w.dope)


def _quant_dope(dope: SparseDope, in_scale: float, acc_scale_rows: np.ndarray, acc: dict) -> QDope:
    """Dope values in the Kronecker part's accumulator units (times 2**shift)."""
    units = dope.values.astype(np.float64) * in_scale / acc_scale_rows[dope.row_index]
    k = _pow2_shift(units)
    val = np.floor(units / 2.0**k + 0.5).astype(np.int64)
    return QDope(dope.rows, dope.cols, **acc, index=dope.index.copy(), val=val, shift=k)


class Quantizer:
    def __init__(self, model: Model, stats: CalibrationStats, options: QuantOptions) -> None:
        self.model = model
        self.stats = stats
        self.seen = stats.inputs
        self.opt = options

    # --- matrices ---------------------------------------------------------------------

    def matrix(self, weight: Weight, in_scale: float, xs: np.ndarray, bias: np.ndarray | None,
               where: str) -> tuple[QMatrix, np.ndarray | None]:
        """Quantise one weight for inputs of scale `in_scale`; returns it and its int32 bias
        (Linear only) at the accumulator scale."""
        rows, cols = weight.shape
        if isinstance(weight, DenseWeight):
            per_row = cols >= self.opt.per_row_min_cols and rows > 1
            ws = _row_scales(weight.values, per_row)
            q = QDense(rows, cols, PER_OUTER if per_row else PER_TENSOR, rows, 1, ws * in_scale,
                       w=_quant_rows(weight.values, ws), w_scale=ws)
            return q, self._bias(q, bias, where)
        if isinstance(weight, SparseWeight):
            s = _row_scales(weight.sparse.values.reshape(1, -1), False)
            acc = {"acc_per": PER_TENSOR, "acc_outer": rows, "acc_inner": 1, "acc_scale": s * in_scale}
            q = QDope(rows, cols, **acc, index=weight.sparse.index.copy(),
                      val=quantize_symmetric(weight.sparse.values, s[0]), shift=0)
            return q, self._bias(q, bias, where)
        if isinstance(weight, KronWeight):
            return self._kron(weight, in_scale, xs, bias, where)
        if isinstance(weight, LowRankWeight):
            return self._low_rank(weight, in_scale, xs, bias, where)
        if isinstance(weight, RowStackWeight):
            parts, biases, row = [], [], 0
            for i, part in enumerate(weight.parts):
                n = part.shape[0]
                pb = None if bias is None else np.asarray(bias)[row:row + n]
                q, b = self.matrix(part, in_scale, xs, pb, f"{where}.part{i}")
                parts.append(q)
                biases.append(b)
                row += n
            stack = QRowStack(rows, cols, parts=parts)
            return stack, (None if bias is None else np.concatenate(biases))
        raise DkgenError(f"{where}: int8 has no rule for weight kind {weight.kind}")

    @staticmethod
    def _bias_q(q: QMatrix, bias: np.ndarray) -> np.ndarray:
        """The bias in accumulator units (int32 in the C)."""
        return np.floor(np.asarray(bias, np.float64) / q.acc_scale_rows() + 0.5)

    def _bias(self, q: QMatrix, bias: np.ndarray | None, where: str) -> np.ndarray | None:
        if bias is None:
            return None
        b = self._bias_q(q, bias)
        if np.abs(b).max(initial=0) > INT32_MAX // 2:
            raise DkgenError(f"{where}: bias is too large beside the weights for an int32 accumulator",
                             fix="retrain with weight decay or rescale the layer")
        return b.astype(np.int64)

    def _t_levels(self, bias: np.ndarray | None, where: str, build) -> tuple[QMatrix, np.ndarray | None]:
        """Try t_max = 32767, 16383, ... until no accumulator can overflow."""
        # A dope much larger than its Kronecker part needs a coarse T (a large accumulator
        # scale) to fit int32; the Kronecker part is negligible there anyway.
        t_max = INT16_MAX
        while t_max >= 1:
            q = build(t_max)
            b = self._bias_q(q, bias) if bias is not None else None
            bound = q.acc_bound() + (np.abs(b) if b is not None else 0)
            if float(bound.max(initial=0)) <= INT32_MAX:
                return q, (None if b is None else b.astype(np.int64))
            t_max //= 2
        raise DkgenError(f"{where}: the matrix is too large for int32 accumulation of its "
                         "int16 intermediate", fix="use smaller Kronecker factors")

    def _kron(self, w: KronWeight, in_scale: float, xs: np.ndarray, bias: np.ndarray | None,
              where: str) -> tuple[QMatrix, np.ndarray | None]:
        if w.rest:
            return self._kron_multi(w, in_scale, xs, bias, where)
        (m1, n1), (m2, n2) = w.a.shape, w.b.shape
        order = kron_order(w.a.shape, w.b.shape)[0]
        a_row = n1 >= self.opt.per_row_min_cols and m1 > 1
        b_row = n2 >= self.opt.per_row_min_cols and m2 > 1
        a_s, b_s = _row_scales(w.a, a_row), _row_scales(w.b, b_row)
        a_q, b_q = _quant_rows(w.a, a_s), _quant_rows(w.b, b_s)
        xm = xs.reshape(-1, n1, n2)
        if order == KRON_ORDER_AX:
            t = np.matmul(w.a.astype(np.float64), xm)
            f1_s, f1_rows, f1_per = a_s, m1, a_row
        else:
            t = np.matmul(w.b.astype(np.float64), xm.transpose(0, 2, 1))
            f1_s, f1_rows, f1_per = b_s, m2, b_row
        t_absmax = _safe(float(np.abs(t).max()) if t.size else 0.0)

        def build(t_max: int) -> QKron:
            t_scale = self.opt.int16_headroom * t_absmax / t_max
            t_rq = Requant.from_real(f1_s * in_scale / t_scale, PER_OUTER if f1_per else PER_TENSOR,
                                     f1_rows, 1)
            if order == KRON_ORDER_AX:
                acc = {"acc_per": PER_INNER if b_row else PER_TENSOR, "acc_outer": m1, "acc_inner": m2,
                       "acc_scale": t_scale * b_s}
            else:
                acc = {"acc_per": PER_OUTER if a_row else PER_TENSOR, "acc_outer": m1, "acc_inner": m2,
                       "acc_scale": a_s * t_scale}
            q = QKron(m1 * m2, n1 * n2, **acc, a=a_q, b=b_q, order=order, t_rq=t_rq, t_max=t_max,
                      t_scale=t_scale, a_scale=a_s, b_scale=b_s)
            if w.dope is not None and w.dope.nnz:
                q.dope = _quant_dope(w.dope, in_scale, q.acc_scale_rows(), acc)
            return q

        return self._t_levels(bias, where, build)

    def _kron_multi(self, w: KronWeight, in_scale: float, xs: np.ndarray, bias: np.ndarray | None,
                    where: str) -> tuple[QMatrix, np.ndarray | None]:
        """A product of three or more factors (`QKronMulti`) in the form with fewer
        multiply-accumulates (`kron_multi_forms`; ties: F0 ⊗ R): the first factor against
        the product of the others (R on the slices of x), or that of all but the last
        against the last (on its columns)."""
        forms = kron_multi_forms(w.factor_shapes)
        error = None
        for order in sorted(forms, key=lambda o: (forms[o], o)):
            try:
                return self._kron_multi_form(w, order, in_scale, xs, bias, where)
            except DkgenError as e:  # int32 cannot hold this form's sums at any t_max
                error = error or e
        assert error is not None
        raise error

    def _kron_multi_form(self, w: KronWeight, order: int, in_scale: float, xs: np.ndarray,
                         bias: np.ndarray | None, where: str) -> tuple[QMatrix, np.ndarray | None]:
        """One form of `_kron_multi`: the inner two-factor product quantised on the pieces
        of x it is applied to, its output requantised to the outer intermediate with a scale
        calibrated on them, then the single factor's pass."""
        factors = w.factors
        if order == KRON_ORDER_AX:
            single, inner_w = factors[-1], KronWeight.of(factors[:-1])
        else:
            single, inner_w = factors[0], KronWeight.of(factors[1:])
        if inner_w.rest:
            inner_w = fold_to_two_factors(inner_w)
        (mf, nf), (mi, ni) = single.shape, inner_w.shape
        if order == KRON_ORDER_AX:
            pieces = xs.reshape(-1, ni, nf).transpose(0, 2, 1).reshape(-1, ni)
        else:
            pieces = xs.reshape(-1, ni)
        inner, _ = self._kron(inner_w, in_scale, pieces, None, f"{where} (inner factors)")
        assert isinstance(inner, QKron)
        t = np.matmul(pieces.astype(np.float64), inner_w.dense64.T)
        t_absmax = _safe(float(np.abs(t).max()) if t.size else 0.0)
        f_row = nf >= self.opt.per_row_min_cols and mf > 1
        f_s = _row_scales(single, f_row)
        f_q = _quant_rows(single, f_s)
        empty = np.zeros((0, 0), np.int64)

        def build(t_max: int) -> QKronMulti:
            t_scale = self.opt.int16_headroom * t_absmax / t_max
            t_rq = Requant.from_real(np.asarray(inner.acc_scale, np.float64) / t_scale, inner.acc_per,
                                     inner.acc_outer, inner.acc_inner)
            if order == KRON_ORDER_AX:
                acc = {"acc_per": PER_INNER if f_row else PER_TENSOR, "acc_outer": mi, "acc_inner": mf,
                       "acc_scale": t_scale * f_s}
                factor = {"a": empty, "b": f_q, "b_scale": f_s}
            else:
                acc = {"acc_per": PER_OUTER if f_row else PER_TENSOR, "acc_outer": mf, "acc_inner": mi,
                       "acc_scale": f_s * t_scale}
                factor = {"a": f_q, "b": empty, "a_scale": f_s}
            q = QKronMulti(w.shape[0], w.shape[1], **acc, **factor, order=order, t_rq=t_rq, t_max=t_max,
                           t_scale=t_scale, inner=inner)
            if w.dope is not None and w.dope.nnz:
                q.dope = _quant_dope(w.dope, in_scale, q.acc_scale_rows(), acc)
            return q

        return self._t_levels(bias, where, build)

    def _low_rank(self, w: LowRankWeight, in_scale: float, xs: np.ndarray, bias: np.ndarray | None,
                  where: str) -> tuple[QMatrix, np.ndarray | None]:
        rows, cols = w.shape
        rank = w.u.shape[1]
        v_row = cols >= self.opt.per_row_min_cols and rank > 1
        u_row = rank >= self.opt.per_row_min_cols and rows > 1
        v_s, u_s = _row_scales(w.v, v_row), _row_scales(w.u, u_row)
        t = xs @ w.v.astype(np.float64).T
        t_absmax = _safe(float(np.abs(t).max()) if t.size else 0.0)

        def build(t_max: int) -> QLowRank:
            t_scale = self.opt.int16_headroom * t_absmax / t_max
            t_rq = Requant.from_real(v_s * in_scale / t_scale, PER_OUTER if v_row else PER_TENSOR, rank, 1)
            return QLowRank(rows, cols, PER_OUTER if u_row else PER_TENSOR, rows, 1, u_s * t_scale,
                            u=_quant_rows(w.u, u_s), v=_quant_rows(w.v, v_s), t_rq=t_rq, t_max=t_max,
                            t_scale=t_scale)

        return self._t_levels(bias, where, build)

    # --- layers -----------------------------------------------------------------------

    def run(self) -> QuantModel:
        model, stats = self.model, self.stats
        if model.input.kind == "token":
            inv = np.float32(1.0)
        else:
            inv = np.float32(127.0 / _safe(stats.input_absmax))
        scale = 1.0 / float(inv)
        layers: list[QLayer] = []
        n = len(model.layers)
        for i, layer in enumerate(model.layers):
            st = stats.layers[i]
            last = i == n - 1
            seen = self.seen.get(layer.name, {})
            where = f"layer {layer.name}"
            if isinstance(layer, Embedding):
                if not isinstance(layer.table, DenseWeight):
                    raise DkgenError(f"{where}: only dense embedding tables are supported")
                s = _row_scales(layer.table.values, False)
                q = QEmbedding(layer.name, scale, float(s[0]), 8, table=_quant_rows(layer.table.values, s))
            elif isinstance(layer, Linear):
                bits = 16 if last else 8
                absmax = st.out_absmax
                if not last and isinstance(model.layers[i + 1], Clip):
                    # What the clip removes need not be representable: saturating at its
                    # larger bound gives the clip the same result with a finer scale.
                    nxt = model.layers[i + 1]
                    absmax = min(absmax, max(abs(nxt.lo), abs(nxt.hi)))
                out_scale = (self.opt.int16_headroom * _safe(absmax) / INT16_MAX if bits == 16
                             else _safe(absmax) / 127.0)
                m, b = self.matrix(layer.weight, scale, seen.get("weight", np.zeros((0, layer.in_size))),
                                   layer.bias, where)
                q = QLinear(layer.name, scale, out_scale, bits, weight=m, bias=b, rq=m.requant_to(out_scale))
            elif isinstance(layer, RECURRENT):
                q = self._recurrent(layer, scale, st, seen, where)
            elif isinstance(layer, Relu):
                q = QRelu(layer.name, scale, scale, 8, size=layer.size)
            elif isinstance(layer, Affine):
                q = self._affine(layer, scale, _safe(st.out_absmax) / 127.0, where)
            elif isinstance(layer, Clip):
                q = QClip(layer.name, scale, scale, 8, size=layer.size,
                          # the bounds in int8 units, rounded half up, saturated (float32 max is)
                          lo=int(min(quantize_symmetric(layer.lo, scale, 128), 127)),
                          hi=int(min(quantize_symmetric(layer.hi, scale, 128), 127)))
            elif isinstance(layer, LeakyRelu):
                if abs(layer.alpha) > LEAKY_ALPHA_MAX:
                    raise DkgenError(f"{where}: int8 supports LeakyRelu alpha up to "
                                     f"{LEAKY_ALPHA_MAX:g} in magnitude, got {layer.alpha:g}",
                                     fix="use --dtype float32 for this model")
                q = QLeakyRelu(layer.name, scale, scale, 8, size=layer.size,
                               mult=int(np.round(layer.alpha * 2.0**LEAKY_FRAC)))
            elif isinstance(layer, Tanh | Sigmoid):
                mult, shift = quantize_multiplier(scale * 2.0**GATE_FRAC)
                cls = QTanh if isinstance(layer, Tanh) else QSigmoid
                q = cls(layer.name, scale, 2.0**-7, 8, size=layer.size, mult=mult, shift=shift)
            elif isinstance(layer, LogSoftmax):
                if not last:
                    raise DkgenError(f"{where}: int8 supports LogSoftmax only as the last layer")
                # The widest output there can be: the smallest logit 255 units below the
                # largest, minus log(n); so the int16 never saturates.
                out_scale = (255 * scale + math.log(layer.size)) / INT16_MAX
                q = QLogSoftmax(layer.name, scale, out_scale, 16, size=layer.size, beta=exp_beta(scale),
                                d_rq=Requant.from_real(scale / out_scale, PER_TENSOR, layer.size, 1),
                                l_rq=Requant.from_real(math.log(2.0) / 65536 / out_scale, PER_TENSOR,
                                                       1, 1))
            elif isinstance(layer, Softmax):
                if not last:
                    raise DkgenError(f"{where}: int8 supports Softmax only as the last layer")
                q = QSoftmax(layer.name, scale, 2.0**-ACT_FRAC, 16, size=layer.size, beta=exp_beta(scale))
            else:
                raise DkgenError(f"{where}: int8 has no rule for {type(layer).__name__} layers")
            layers.append(q)
            scale = q.out_scale
        qm = QuantModel(model.name, model.input, layers, inv, model, dict(model.metadata))
        try:
            qm.check_accumulators()
        except ValueError as exc:
            raise DkgenError(str(exc)) from None
        return qm

    def _affine(self, layer: Affine, in_scale: float, out_scale: float, where: str) -> QAffine:
        mul = np.asarray(layer.mul, np.float64)
        if np.any(mul == 0):
            raise DkgenError(f"{where}: int8 needs a non-zero factor for every feature "
                             f"(feature {int(np.argmax(mul == 0))} is multiplied by 0)",
                             fix="drop the feature from the model, or use --dtype float32")
        pairs = [quantize_multiplier(float(abs(m)) * in_scale / out_scale) for m in mul]
        bias = np.floor(np.asarray(layer.add, np.float64) / (np.abs(mul) * in_scale) + 0.5)
        if np.any(np.abs(bias) > 2**31 - 129):  # + sign * x must stay within int32
            raise DkgenError(f"{where}: an offset is too large for its factor in int8 "
                             "(over 2^31 input steps)", fix="use --dtype float32 for this model")
        return QAffine(layer.name, in_scale, out_scale, 8, size=layer.size,
                       mult=np.array([p[0] for p in pairs], np.int64),
                       shift=np.array([p[1] for p in pairs], np.int64),
                       sign=np.where(mul < 0, -1, 1).astype(np.int64), bias=bias.astype(np.int64))

    def _recurrent(self, layer: LSTM | GRU | RNN, in_scale: float, st, seen: dict, where: str) -> QLayer:
        h = layer.hidden_size
        # h's range: what calibration saw, and where every sequence starts (a constant h0).
        h_abs = max(st.out_absmax, 0.0 if layer.h0 is None else float(np.abs(layer.h0).max()))
        h_scale = min(_safe(h_abs), 1.0) / 127.0
        w_ih, _ = self.matrix(layer.w_ih, in_scale, seen.get("w_ih", np.zeros((0, layer.in_size))),
                              None, f"{where}.w_ih")
        w_hh, _ = self.matrix(layer.w_hh, h_scale, seen.get("w_hh", np.zeros((0, h))), None,
                              f"{where}.w_hh")
        rq_ih, rq_hh = w_ih.requant_to(GATE_SCALE), w_hh.requant_to(GATE_SCALE)
        assert layer.b_ih is not None and layer.b_hh is not None
        # A constant starting h in h's units (h_scale covers it).
        h0 = None if layer.h0 is None else quantize_symmetric(layer.h0, h_scale)
        if isinstance(layer, LSTM):
            bias = to_q(layer.b_ih.astype(np.float64) + layer.b_hh.astype(np.float64), GATE_FRAC,
                        INT16_MIN, INT16_MAX)
            c_abs = max(st.cell_absmax, 0.0 if layer.c0 is None else float(np.abs(layer.c0).max()))
            cmax = _safe(c_abs) * self.opt.cell_headroom
            int_bits = max(0, math.ceil(math.log2(cmax))) if cmax > 1 else 0
            cell_frac = max(0, 15 - int_bits)
            return QLSTM(layer.name, in_scale, h_scale, 8, hidden=h, w_ih=w_ih, w_hh=w_hh, rq_ih=rq_ih,
                         rq_hh=rq_hh, bias=bias, cell_frac=cell_frac,
                         h_rq=Requant.from_real(Q30 / h_scale, PER_TENSOR, h, 1), h0=h0,
                         c0=None if layer.c0 is None else to_q(layer.c0, cell_frac, INT16_MIN, INT16_MAX))
        if isinstance(layer, RNN):
            bias = to_q(layer.b_ih.astype(np.float64) + layer.b_hh.astype(np.float64), GATE_FRAC,
                        INT16_MIN, INT16_MAX)
            return QRNN(layer.name, in_scale, h_scale, 8, hidden=h, w_ih=w_ih, w_hh=w_hh, rq_ih=rq_ih,
                        rq_hh=rq_hh, bias=bias, h_rq=Requant.from_real(2.0**-ACT_FRAC / h_scale, PER_TENSOR, h, 1),
                        h0=h0)
        return QGRU(layer.name, in_scale, h_scale, 8, hidden=h, w_ih=w_ih, w_hh=w_hh, rq_ih=rq_ih,
                    rq_hh=rq_hh, b_ih=to_q(layer.b_ih, GATE_FRAC, INT16_MIN, INT16_MAX),
                    b_hh=to_q(layer.b_hh, GATE_FRAC, INT16_MIN, INT16_MAX),
                    n_rq=Requant.from_real(Q30 / h_scale, PER_TENSOR, h, 1),
                    linear_before_reset=layer.linear_before_reset, h0=h0)


def quantize_model(model: Model, calib_inputs: np.ndarray, *,
                   options: QuantOptions | None = None) -> QuantModel:
    """Post-training int8 quantisation of `model`, calibrated on `calib_inputs`
    ((batch, time, features) floats, or (batch, time) token ids)."""
    if not model.layers:
        raise DkgenError(f"{model.name}: the model has no layers")
    stats = calibrate(model, calib_inputs)
    try:
        return Quantizer(model, stats, options or QuantOptions()).run()
    except ValueError as exc:  # a scale no int32 multiplier can express
        raise DkgenError(f"{model.name}: {exc}", fix="check the model's weights for extreme values") from None
