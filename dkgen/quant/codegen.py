"""int8 code generation: `QuantModel` -> a C99 library with the same API as the float one.

The generated `<name>_step(state, x, y)` takes float inputs and writes float outputs:
it quantises x to int8 (dkgen_quantize_f32_s8), runs every layer in integers, and
dequantises the last layer's integers with one float32 multiplication each.  Those
float operations are exactly the ones numpy does in `dkgen.quant.reference`, so the
outputs equal the integer reference's bit for bit (compare with atol = 0).
`<name>_step_q(state, xq, yq)` is the integer core alone, for int8 pipelines.

Layout, planning of buffers and the manifest follow `dkgen.codegen` (float32); buffers
are typed (int32 accumulators, int16 intermediates, int8 activations).  As there, the
plan is data only (symbols, numbers, `Buffer`s, `CMatrix`/`Descriptor` field dicts) and
templates/lib/int8/ writes every piece of C syntax.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dkgen import __version__
from dkgen.codegen.pack import CTYPES, KRON_ORDER_AX, CArray, CMatrix
from dkgen.codegen.plan import Buffer, LayerPlan, c_identifier, layer_cnames, ping_pong
from dkgen.codegen.render import (
    GeneratedLibrary,
    build_manifest,
    render_library,
    template_env,
    write_library,
)
from dkgen.errors import DkgenError
from dkgen.ir.graph import Model
from dkgen.quant.arith import dequantize
from dkgen.quant.model import (
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
    QSoftmax,
    QTableActivation,
    QuantModel,
    Requant,
    RequantStack,
)
from dkgen.quant.quantize import QuantOptions, quantize_model
from dkgen.quant.reference import QuantReferenceExecutor

# Build the int8 runner with this define so the model calls its per-layer trace hooks.
RUNNER_DEFINES: dict[str, str | None] = {"DKGEN_TRACE_HOOKS": None}


@dataclass
class Descriptor:
    """A member of the weights struct, as data: `kind` names its struct type (array: a
    pointer to a constant array; kron, dope, requant, lstm_cell, gru_cell: the runtime's
    descriptor types) and `fields` its values; templates/lib/int8/macros.j2 writes the C
    declaration and initialiser of each kind."""

    kind: str
    member: str
    fields: dict[str, object]


@dataclass
class QLayerPlan(LayerPlan):
    """A layer of the int8 library: the float plan's fields (buffers are typed members of
    the int8 state, `Buffer("input")` is the integer input the core reads) plus the
    output width and the weights-struct members of its requantisations and cell."""

    layer: QLayer  # type: ignore[assignment]  # (the float plan's is an IR Layer)
    out_bits: int = 8
    requants: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # role -> [(row, member)]
    cell: str = ""  # LSTM/GRU/RNN: the cell's descriptor member; log-softmax: its parameters'
    cell_state: Buffer | None = None  # LSTM: the int16 cell state
    beta: int = 0  # softmax: exp(-d * in_scale) = 2**-(d * beta / 2**16)
    act_mult: int = 0  # tanh, sigmoid: in_scale * 2**12 as (Q31 multiplier, shift)
    act_shift: int = 0

    @property
    def trace_scale(self) -> float:
        """The layer's output scale in float32 (what a trace dequantises with)."""
        return float(np.float32(self.layer.out_scale))


@dataclass
class QuantPlan:
    name: str
    qmodel: QuantModel
    layers: list[QLayerPlan]
    arrays: list[CArray]
    descriptors: list[Descriptor]
    state_members: list[tuple[str, str, int]]  # (element type, member, entries)
    scratch_members: list[tuple[str, str, int]]
    final: Buffer  # the last layer's output
    state_init: dict[str, str] = field(default_factory=dict)  # as ModelPlan.state_init

    @property
    def model(self) -> QuantModel:
        # verify/build_manifest read plan.model.input; the QuantModel carries the same spec.
        return self.qmodel

    @property
    def input_size(self) -> int:
        return self.qmodel.input_size

    @property
    def output_size(self) -> int:
        return self.qmodel.output_size

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    @staticmethod
    def _struct_bytes(members: list[tuple[str, str, int]]) -> int:
        size = sum(CTYPES[t][1] * n for t, _, n in members)
        align = max((CTYPES[t][1] for t, _, _ in members), default=1)
        return -(-size // align) * align

    @property
    def state_bytes(self) -> int:
        return self._struct_bytes(self.state_members)

    @property
    def scratch_bytes(self) -> int:
        return self._struct_bytes(self.scratch_members)

    @property
    def macs(self) -> int:
        return sum(lp.macs for lp in self.layers)

    @property
    def kernels(self) -> set[str]:
        used = {"dkgen_vector_s8", "dkgen_convert_s8"}
        for lp in self.layers:
            for m in (q for top in lp.matrices.values() for q in top.leaves()):
                if m.kind == "dense":
                    used.add("dkgen_dense_matvec_s8")
                elif m.kind in ("kron", "kron_multi"):
                    used.add(f"dkgen_{m.kind}_matvec_s8")
                    if m.fields.get("dope"):
                        used.add("dkgen_dope_matvec_s8")
                elif m.kind == "csr":
                    used.add("dkgen_dope_matvec_s8")
                elif m.kind == "low_rank":
                    used |= {"dkgen_dense_matvec_s8", "dkgen_dense_matvec_s8s16", "dkgen_requant_s16"}
            if lp.op == "linear":
                used.add("dkgen_requant_s16" if lp.out_bits == 16 else "dkgen_requant_s8")
            if lp.op in ("lstm", "rnn") or lp.op == "gru" and lp.linear_before_reset:
                used |= {f"dkgen_{lp.op}_cell_s16", "dkgen_requant_add_s32"}
            elif lp.op == "gru":
                used |= {"dkgen_gru_reset_s16", "dkgen_gru_update_s16", "dkgen_requant_add_s32"}
            if lp.op == "softmax":
                used.add("dkgen_softmax_s8")
            if lp.op == "log_softmax":
                used.add("dkgen_log_softmax_s8")
            if lp.op in ("tanh", "sigmoid"):
                used.add("dkgen_activation_s8")
            if lp.op in ("clip", "leaky_relu", "affine"):
                used.add(f"dkgen_{lp.op}_s8")
        return used


# --- packing --------------------------------------------------------------------------


def _rq_arrays(prefix: str, rq: Requant) -> tuple[list[CArray], dict[str, object]]:
    mult = CArray(f"{prefix}_mult", "int32_t", rq.mult)
    shift = CArray(f"{prefix}_shift", "int8_t", rq.shift)
    return [mult, shift], {"mult": mult.symbol, "shift": shift.symbol, "outer": rq.outer,
                           "inner": rq.inner, "per": rq.per_code}


def _dope_arrays(prefix: str, dope: QDope) -> tuple[list[CArray], dict[str, object]]:
    steps, vals, bits = dope.encode()
    step = CArray(f"{prefix}_step", "uint8_t" if bits == 8 else "uint16_t", steps)
    val = CArray(f"{prefix}_val", "int8_t", vals)
    return [step, val], {"step8": step.symbol if bits == 8 else None,
                         "step16": step.symbol if bits == 16 else None, "val": val.symbol,
                         "block": None, "count": step.length, "cols": dope.cols, "shift": dope.shift}


def _array(arr: CArray, member: str | None = None) -> Descriptor:
    """A weights-struct member pointing at a constant array."""
    return Descriptor("array", member or arr.symbol, {"array": arr})


def _kron_fields(a: str | None, b: str | None, rq: dict | None, m: QKron,
                 shape: tuple[int, int, int, int]) -> dict[str, object]:
    """The initialiser fields of a dkgen_kron_s8_t."""
    m1, n1, m2, n2 = shape
    return {"a": a or "NULL", "b": b or "NULL", "t_mult": rq["mult"] if rq else "NULL",
            "t_shift": rq["shift"] if rq else "NULL", "m1": m1, "n1": n1, "m2": m2, "n2": n2,
            "t_max": m.t_max, "order": m.order,
            "per_row": 1 if rq is not None and m.t_rq is not None and m.t_rq.per != "tensor" else 0}


def _dope_member(prefix: str, m: QKron, arrays: list[CArray], descriptors: list[Descriptor]
                 ) -> dict[str, object]:
    fields: dict[str, object] = {"dope": None}
    if m.dope is not None and m.dope.nnz:
        d_arrays, d_fields = _dope_arrays(f"{prefix}_dope", m.dope)
        arrays += d_arrays
        desc = Descriptor("dope", f"{prefix}_dope", d_fields)
        descriptors.append(desc)
        fields["dope"] = f"{prefix}_dope"
        fields["dope_source"] = (m.dope, desc)  # for _plan_blocks' block table
    return fields


def pack_qmatrix(prefix: str, m: QMatrix, descriptors: list[Descriptor]) -> CMatrix:
    """The arrays of one quantised matrix; its weights-struct members go to `descriptors`.
    `scratch` is the int16 intermediate's entries."""
    if max(m.rows, m.cols) >= 65536:
        raise DkgenError(f"{prefix}: matrices are limited to 65535 rows and columns")
    if isinstance(m, QRowStack):
        parts = [(row, pack_qmatrix(f"{prefix}_p{i}", part, descriptors))
                 for i, (row, part) in enumerate(zip(m.offsets, m.parts, strict=True))]
        cm = CMatrix(prefix, "row_stack", m.rows, m.cols, [a for _, p in parts for a in p.arrays],
                     {}, scratch=max(p.scratch for _, p in parts), macs=m.macs)
        cm.parts = parts
        return cm
    if isinstance(m, QDense):
        arr = CArray(prefix, "int8_t", m.w)
        descriptors.append(_array(arr))
        return CMatrix(prefix, "dense", m.rows, m.cols, [arr], {}, macs=m.macs)
    if isinstance(m, QKronMulti):
        assert m.t_rq is not None and m.inner is not None and m.inner.t_rq is not None
        inner = m.inner
        # The single factor: F of F ⊗ R (XBT) or of L ⊗ F (AX), as the outer product's a or b.
        ax = m.order == KRON_ORDER_AX
        f = CArray(f"{prefix}_{'b' if ax else 'a'}", "int8_t", m.b if ax else m.a)
        ia, ib = CArray(f"{prefix}_in_a", "int8_t", inner.a), CArray(f"{prefix}_in_b", "int8_t", inner.b)
        in_rq_arrays, in_rq = _rq_arrays(f"{prefix}_in_t", inner.t_rq)
        t_arrays, t_rq = _rq_arrays(f"{prefix}_t", m.t_rq)
        (im1, in1), (im2, in2) = inner.a.shape, inner.b.shape
        descriptors.append(Descriptor("kron_multi", prefix, {
            "outer": _kron_fields(None if ax else f.symbol, f.symbol if ax else None, None, m, m.outer_shape),
            "inner": _kron_fields(ia.symbol, ib.symbol, in_rq, inner, (im1, in1, im2, in2)),
            "t": t_rq}))
        arrays = [f, ia, ib, *in_rq_arrays, *t_arrays]
        fields = _dope_member(prefix, m, arrays, descriptors)
        fields["inner_acc"] = m.inner_acc
        return CMatrix(prefix, "kron_multi", m.rows, m.cols, arrays, fields, scratch=m.scratch, macs=m.macs)
    if isinstance(m, QKron):
        assert m.t_rq is not None
        (m1, n1), (m2, n2) = m.a.shape, m.b.shape
        a, b = CArray(f"{prefix}_a", "int8_t", m.a), CArray(f"{prefix}_b", "int8_t", m.b)
        rq_arrays, rq = _rq_arrays(f"{prefix}_t", m.t_rq)
        descriptors.append(Descriptor("kron", prefix, _kron_fields(a.symbol, b.symbol, rq, m, (m1, n1, m2, n2))))
        arrays = [a, b, *rq_arrays]
        fields = _dope_member(prefix, m, arrays, descriptors)
        return CMatrix(prefix, "kron", m.rows, m.cols, arrays, fields, scratch=m.scratch, macs=m.macs)
    if isinstance(m, QDope):
        arrays, d_fields = _dope_arrays(prefix, m)
        desc = Descriptor("dope", prefix, d_fields)
        descriptors.append(desc)
        return CMatrix(prefix, "csr", m.rows, m.cols, arrays, {"dope_source": (m, desc)}, macs=m.macs)
    if isinstance(m, QLowRank):
        assert m.t_rq is not None
        u, v = CArray(f"{prefix}_u", "int8_t", m.u), CArray(f"{prefix}_v", "int8_t", m.v)
        rq_arrays, rq = _rq_arrays(f"{prefix}_t", m.t_rq)
        descriptors += [_array(u), _array(v), Descriptor("requant", f"{prefix}_t", rq)]
        rank = int(m.v.shape[0])
        return CMatrix(prefix, "low_rank", m.rows, m.cols, [u, v, *rq_arrays],
                       {"rank": rank, "t_max": m.t_max}, scratch=rank, macs=m.macs)
    raise DkgenError(f"{prefix}: int8 code generation has no rule for matrix kind {m.kind}")


def _add_vector(lp: QLayerPlan, role: str, ctype: str, values: np.ndarray, arrays: list[CArray],
                descriptors: list[Descriptor]) -> None:
    arr = CArray(f"{lp.cname}_{role}", ctype, values)
    lp.vectors[role] = arr
    arrays.append(arr)
    descriptors.append(_array(arr))


def _add_requant(lp: QLayerPlan, role: str, rq: Requant | RequantStack | None, arrays: list[CArray],
                 descriptors: list[Descriptor]) -> None:
    """Descriptors of one requantisation: one, or one per part of a row stack; the layer
    plan records [(first row, member)]."""
    assert rq is not None
    parts = [(0, rq, f"{lp.cname}_{role}")] if isinstance(rq, Requant) else [
        (row, part, f"{lp.cname}_{role}_p{i}") for i, (row, part) in enumerate(rq.parts)]
    for _, part, member in parts:
        rq_arrays, fields = _rq_arrays(member, part)
        arrays.extend(rq_arrays)
        descriptors.append(Descriptor("requant", member, fields))
    lp.requants[role] = [(row, member) for row, _, member in parts]


# The int32 accumulators a layer forms its matrix products in, a block of rows at a time:
# 512 bytes instead of a recurrent layer's 4H entries or a decoder's vocabulary. Not a
# block of one row (of A): each block costs a few kernel calls, and blocks this size keep
# their cost small (docs/quantization.md).
BLOCK_ACC_ENTRIES = 128


def _block_plan(m: QMatrix, rq: Requant | RequantStack | None) -> dict[str, int] | None:
    """How a layer forms the product of matrix `m` a block at a time (a recurrent layer
    adding it into its gate sums, a linear layer requantising it to its output): in
    `units` of `unit_rows` rows (a row of A, m2 rows, for a Kronecker product; one row for
    the others), `per` units a block.  Its requantisation must go by the same units (outer
    index = unit); None when it does not, and then the whole product is formed first."""
    if not isinstance(rq, Requant):
        return None
    if isinstance(m, QKron):
        units, unit_rows = m.block_shape  # a block: a row of A
        if (rq.outer, rq.inner) != (units, unit_rows):
            return None
    elif isinstance(m, QDense | QDope | QLowRank) and (rq.outer, rq.inner) == (m.rows, 1):
        units, unit_rows = m.rows, 1
    else:
        return None
    return {"units": units, "unit_rows": unit_rows,
            "per": max(1, min(units, BLOCK_ACC_ENTRIES // unit_rows))}


def _plan_blocks(cm: CMatrix, m: QMatrix, rq: Requant | RequantStack | None) -> int | None:
    """Mark `cm` (and each part of a row stack) to be added by blocks; returns the int32
    accumulator entries that needs, or None (and marks nothing) if some part cannot."""
    if isinstance(m, QRowStack):
        if not isinstance(rq, RequantStack) or [r for r, _ in rq.parts] != list(m.offsets):
            return None
        plans = [_block_plan(part, part_rq) for part, (_, part_rq) in zip(m.parts, rq.parts, strict=True)]
        leaves = [part for _, part in cm.parts]
    else:
        plans, leaves = [_block_plan(m, rq)], [cm]
    if any(p is None for p in plans):
        return None
    for leaf, plan in zip(leaves, plans, strict=True):
        leaf.fields["block"] = plan
        if leaf.fields.get("dope_source"):
            # Where each block's sparse entries start, so that its walk needs no test of
            # the block's end (runtime/dkgen_dope_matvec_s8.h).
            dope, desc = leaf.fields["dope_source"]
            per_rows = plan["per"] * plan["unit_rows"]
            table = CArray(f"{desc.member}_block", "uint32_t",
                           dope.block_table(list(range(0, dope.rows, per_rows))))
            desc.fields["block"] = table.symbol
            cm.arrays.append(table)
    cm.fields["by_blocks"] = True
    return max(p["per"] * p["unit_rows"] for p in plans if p is not None)  # (all are)


OPTIMIZE = ("ram", "time")


def plan_int8(qmodel: QuantModel, name: str | None = None, *, optimize: str = "ram") -> QuantPlan:
    """Lower a quantised model to a C plan: buffers, arrays, descriptors.  optimize: "ram"
    forms each matrix product a block of rows at a time (at most BLOCK_ACC_ENTRIES int32
    accumulators), "time" whole (an accumulator as long as the layer's output; a few
    percent fewer instructions, docs/quantization.md)."""
    if optimize not in OPTIMIZE:
        raise DkgenError(f"unknown optimize goal '{optimize}'", field="--optimize", fix="use ram or time")
    cname = c_identifier(name or qmodel.name)
    n = len(qmodel.layers)
    if n == 0:
        raise DkgenError(f"{qmodel.name}: the model has no layers")
    arrays: list[CArray] = []
    descriptors: list[Descriptor] = []
    plans: list[QLayerPlan] = []
    state_init: dict[str, str] = {}
    state16: list[tuple[str, str, int]] = []
    state8: list[tuple[str, str, int]] = []
    acc = gates = t16 = lr = inner = out16 = act = rh = 0
    act_bufs = [Buffer("scratch", "act0"), Buffer("scratch", "act1")]
    next_act = 0
    inp = Buffer("input")
    for i, (layer, lname) in enumerate(zip(qmodel.layers, layer_cnames(qmodel.layers), strict=True)):
        last = i == n - 1
        lp = QLayerPlan(i, layer, lname, layer.op, inp, inp, layer.in_size, layer.out_size,
                        out_bits=layer.out_bits)
        rqs = ({"w_ih": layer.rq_ih, "w_hh": layer.rq_hh} if isinstance(layer, QLSTM | QGRU | QRNN)
               else {"weight": layer.rq} if isinstance(layer, QLinear) else {})
        for role, m in layer.matrices().items():
            cm = pack_qmatrix(f"{lname}_{role}", m, descriptors)
            lp.matrices[role] = cm
            block_acc = _plan_blocks(cm, m, rqs[role]) if role in rqs and optimize == "ram" else None
            arrays.extend(cm.arrays)
            acc = max(acc, cm.rows if block_acc is None else block_acc)
            t16 = max(t16, cm.scratch)
            lr = max([lr] + [q.scratch for q in cm.leaves() if q.kind == "low_rank"])  # its rank
            inner = max([inner] + [q.fields["inner_acc"] for q in cm.leaves() if q.kind == "kron_multi"])

        if isinstance(layer, QEmbedding):
            _add_vector(lp, "table", "int8_t", layer.table, arrays, descriptors)
        elif isinstance(layer, QLinear):
            if np.any(layer.bias):
                _add_vector(lp, "bias", "int32_t", layer.bias, arrays, descriptors)
            _add_requant(lp, "rq", layer.rq, arrays, descriptors)
        elif isinstance(layer, QLSTM | QGRU | QRNN):
            h = layer.hidden
            lp.hidden = h
            lp.cell = f"{lname}_cell"
            _add_requant(lp, "rq_ih", layer.rq_ih, arrays, descriptors)
            _add_requant(lp, "rq_hh", layer.rq_hh, arrays, descriptors)
            if isinstance(layer, QRNN):
                _add_vector(lp, "bias", "int16_t", layer.bias, arrays, descriptors)
                assert layer.h_rq is not None
                descriptors.append(Descriptor("rnn_cell", lp.cell, {
                    "mult": int(layer.h_rq.mult[0]), "hidden": h, "shift": int(layer.h_rq.shift[0])}))
                gates = max(gates, h)
            elif isinstance(layer, QLSTM):
                _add_vector(lp, "bias", "int16_t", layer.bias, arrays, descriptors)
                assert layer.h_rq is not None
                descriptors.append(Descriptor("lstm_cell", lp.cell, {
                    "mult": int(layer.h_rq.mult[0]), "hidden": h, "shift": int(layer.h_rq.shift[0]),
                    "cell_frac": layer.cell_frac}))
                state16.append(("int16_t", f"{lname}_c", h))
                lp.cell_state = Buffer("state", f"{lname}_c")
                gates = max(gates, 4 * h)
            else:
                _add_vector(lp, "b_ih", "int16_t", layer.b_ih, arrays, descriptors)
                _add_vector(lp, "b_hh", "int16_t", layer.b_hh, arrays, descriptors)
                assert layer.n_rq is not None
                descriptors.append(Descriptor("gru_cell", lp.cell, {
                    "mult": int(layer.n_rq.mult[0]), "hidden": h, "shift": int(layer.n_rq.shift[0])}))
                gates = max(gates, 6 * h)
                if not layer.linear_before_reset:
                    rh = max(rh, h)  # r * h, the second recurrent product's input
            state8.append(("int8_t", f"{lname}_h", h))
            for part, values in layer.initial_states().items():
                _add_vector(lp, f"{part}0", "int8_t" if part == "h" else "int16_t", values, arrays,
                            descriptors)
                state_init[f"{lname}_{part}"] = lp.vectors[f"{part}0"].symbol
            lp.out = Buffer("state", f"{lname}_h")
        elif isinstance(layer, QLogSoftmax):
            assert layer.d_rq is not None and layer.l_rq is not None
            lp.cell = f"{lname}_params"
            descriptors.append(Descriptor("log_softmax", lp.cell, {
                "beta": layer.beta, "d_mult": int(layer.d_rq.mult[0]), "d_shift": int(layer.d_rq.shift[0]),
                "l_mult": int(layer.l_rq.mult[0]), "l_shift": int(layer.l_rq.shift[0])}))
        elif isinstance(layer, QSoftmax):
            lp.beta = layer.beta
        elif isinstance(layer, QTableActivation):
            lp.act_mult, lp.act_shift = layer.mult, layer.shift
        elif isinstance(layer, QAffine):
            lp.cell = f"{lname}_params"
            for role, ctype, values in (("mult", "int32_t", layer.mult), ("shift", "int8_t", layer.shift),
                                        ("sign", "int8_t", layer.sign), ("bias", "int32_t", layer.bias)):
                arr = CArray(f"{lname}_{role}", ctype, values)
                lp.vectors[role] = arr
                arrays.append(arr)
            descriptors.append(Descriptor("affine", lp.cell, {
                "mult": lp.vectors["mult"].symbol, "shift": lp.vectors["shift"].symbol,
                "sign": lp.vectors["sign"].symbol, "bias": lp.vectors["bias"].symbol,
                "n": layer.size}))
        elif isinstance(layer, QRelu | QClip | QLeakyRelu):
            pass  # no weights; the bounds / alpha are arguments (lp.layer's)
        else:
            raise DkgenError(f"layer {layer.name}: int8 code generation has no rule for {layer.op}")
        if not isinstance(layer, QLSTM | QGRU | QRNN):
            if layer.out_bits == 16:
                if not last:
                    raise DkgenError(f"layer {layer.name}: an int16 output must be the model's last")
                lp.out = Buffer("scratch", "out16")
                out16 = layer.out_size
            else:
                lp.out, next_act = ping_pong(act_bufs, inp, next_act)
                act = max(act, layer.out_size)
        plans.append(lp)
        inp = lp.out
    scratch: list[tuple[str, str, int]] = []
    for ctype, member, size in (("int32_t", "acc", acc), ("int32_t", "gates", gates),
                                ("int32_t", "lr_acc", lr), ("int32_t", "inner_acc", inner),
                                ("int16_t", "t16", t16),
                                ("int16_t", "out16", out16), ("int8_t", "act0", act),
                                ("int8_t", "act1", act), ("int8_t", "rh", rh),
                                ("int8_t", "xq", qmodel.input.size if qmodel.input.kind == "vector" else 0)):
        if size:
            scratch.append((ctype, member, size))
    if not scratch:
        scratch.append(("int8_t", "unused", 1))
    state = state16 + state8 or [("int8_t", "unused_state", 1)]
    return QuantPlan(cname, qmodel, plans, arrays, descriptors, state, scratch, plans[-1].out,
                     state_init)


# --- rendering ------------------------------------------------------------------------


def quant_summary(qmodel: QuantModel) -> dict:
    """The scales and choices of a quantised model, as JSON-ready data (manifest, inspect)."""
    layers = []
    for layer in qmodel.layers:
        entry: dict[str, object] = {"name": layer.name, "op": layer.op, "in_scale": layer.in_scale,
                                    "out_scale": layer.out_scale, "out_bits": layer.out_bits}
        if isinstance(layer, QLSTM):
            entry["cell_frac_bits"] = layer.cell_frac
        mats = {}
        for role, m in layer.matrices().items():
            info: dict[str, object] = {"kind": m.kind, "acc_scale_per": m.acc_per}
            if isinstance(m, QKron):
                info.update(order=m.order, t_max=m.t_max, t_scale=m.t_scale,
                            a_scales=int(m.a_scale.size), b_scales=int(m.b_scale.size),
                            dope_shift=m.dope.shift if m.dope is not None else None)
            if isinstance(m, QDense):
                info["w_scales"] = int(m.w_scale.size)
            mats[role] = info
        if mats:
            entry["matrices"] = mats
        layers.append(entry)
    return {"scheme": "dkgen-int8-v1", "rounding": "half up",
            "input_scale": None if qmodel.input.kind == "token" else qmodel.input_scale,
            "output_scale": float(qmodel.output_scale), "output_bits": qmodel.output_bits,
            "layers": layers}


# The int8 library: template -> output path (the build files are the float library's).
INT8_TEMPLATES = {
    "lib/int8/model.h.j2": "include/{name}.h",
    "lib/int8/model.c.j2": "src/{name}.c",
    "lib/int8/model_weights.h.j2": "src/{name}_weights.h",
    "lib/int8/model_weights.c.j2": "src/{name}_weights.c",
    "lib/CMakeLists.txt.j2": "CMakeLists.txt",
    "lib/model.mk.j2": "{name}.mk",
}


def render_files_int8(plan: QuantPlan, *, source: str = "model") -> dict[str, bytes]:
    """All files of the int8 library as {relative path: bytes} (no manifest)."""
    return render_library(plan, INT8_TEMPLATES, "lib/int8/macros.j2", source=source,
                          extra={"qm": plan.qmodel})


def _as_quant_model(model: Model | QuantModel, calib_inputs: np.ndarray | None,
                    options: QuantOptions | None, source: str | None) -> QuantModel:
    if isinstance(model, QuantModel):
        if calib_inputs is not None:
            raise DkgenError("a QuantModel is already calibrated; pass calib_inputs=None")
        return model
    if calib_inputs is None:
        raise DkgenError("int8 needs calibration inputs", field="--calib",
                         fix="pass an .npz of representative input sequences (array x)")
    return quantize_model(model, calib_inputs, options=options)


def generate_int8(model: Model | QuantModel, calib_inputs: np.ndarray | None,
                  out_dir: str | os.PathLike[str], *, name: str | None = None, force: bool = False,
                  source: str | None = None, source_sha256: str | None = None,
                  options: QuantOptions | None = None,
                  check: Callable[[GeneratedLibrary], None] | None = None,
                  optimize: str = "ram") -> GeneratedLibrary:
    """Quantise `model` on `calib_inputs` (unless it is a QuantModel already) and generate
    its int8 C library into `out_dir`.  `lib.plan.qmodel` is the quantised model, whose
    `QuantReferenceExecutor` the library matches bit for bit (either `optimize` goal of
    `plan_int8`)."""
    qmodel = _as_quant_model(model, calib_inputs, options, source)
    try:
        plan = plan_int8(qmodel, name, optimize=optimize)
    except ValueError as exc:
        raise DkgenError(str(exc), path=source, field="model") from None
    src = Path(source or qmodel.name).name
    files = render_files_int8(plan, source=src)
    manifest = build_manifest(plan, files, src, source_sha256, dtype="int8")
    manifest["quantization"] = quant_summary(qmodel)
    manifest["optimize"] = optimize
    return write_library(plan, files, manifest, out_dir, force=force, check=check)


# --- golden vectors and the int8 runner ------------------------------------------------


@dataclass
class Int8Golden:
    """Inputs, the integer reference's dequantised outputs, and every layer's integers."""

    inputs: np.ndarray  # (batch, time[, features]) float32, or int32 token ids
    outputs: np.ndarray  # (batch, time, out) float32
    traces: list[np.ndarray]  # per layer: (batch, time, size) integers
    trace_scales: list[float] = field(default_factory=list)  # per layer: its output scale

    @property
    def float_traces(self) -> list[np.ndarray]:
        """Each layer's outputs dequantised exactly as the library's DKGEN_TRACE_HOOK
        sees them ((float)q * scale in float32): the `traces` of a float GoldenSet, so
        the float harness's --debug comparison works with atol = 0."""
        return [dequantize(t, np.float32(s)) for t, s in zip(self.traces, self.trace_scales, strict=True)]

    @property
    def sequences(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[1])


def golden_int8(qmodel: QuantModel, inputs: np.ndarray) -> Int8Golden:
    """Golden vectors of `qmodel` on `inputs` from the numpy integer reference."""
    ref = QuantReferenceExecutor(qmodel)
    outputs, traces = ref.run(inputs, trace=True)
    if qmodel.input.kind == "token":
        inputs = np.asarray(inputs).astype(np.int32)
    else:
        inputs = np.asarray(inputs).astype(np.float32)
    return Int8Golden(inputs, outputs, [traces[layer.name] for layer in qmodel.layers],
                      [float(layer.out_scale) for layer in qmodel.layers])


def write_runner_int8(lib: GeneratedLibrary, golden: Int8Golden, out_dir: Path, *,
                      print_argmax: bool = False, trace_layers: bool = True) -> Path:
    """Render the int8 runner and its golden header into `out_dir`; return runner.c.

    Build it with the library's sources, `include_dirs=[*lib.include_dirs, out_dir]` and
    `defines=RUNNER_DEFINES`.  It prints the float runner's `DKGEN_RESULT` line (outputs
    compared bit for bit) and, when a layer's integers differ from the reference,
    `DKGEN_LAYER_FIRST layer=<i> seq=<n> step=<t> index=<j> got=<v> want=<w>`.
    """
    env = template_env()
    name = lib.name
    in_type = "int32_t" if golden.inputs.dtype.kind in "iu" else "float"
    sizes = [int(t.shape[2]) for t in golden.traces]
    offsets = np.concatenate([[0], np.cumsum([t.size for t in golden.traces])])[:-1]
    flat = np.concatenate([t.reshape(-1) for t in golden.traces]) if trace_layers else np.zeros(1)
    ctx = {
        "name": name, "NAME": name.upper(), "version": __version__,
        "sequences": golden.sequences, "steps": golden.steps,
        "print_argmax": print_argmax, "trace": trace_layers,
        "layers": len(golden.traces),
        "inputs": CArray("golden_inputs", in_type, golden.inputs),
        "outputs": CArray("golden_outputs", "float", golden.outputs),
        "trace_values": CArray("golden_trace", "int16_t", flat),
        "trace_offsets": [int(o) for o in offsets],
        "trace_sizes": sizes,
        "layer_names": [lp.layer.name for lp in lib.plan.layers],
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}_golden.h").write_text(env.get_template("harness/int8_golden.h.j2").render(ctx))
    runner = out_dir / "runner.c"
    runner.write_text(env.get_template("harness/int8_runner.c.j2").render(ctx))
    return runner


_LAYER_FIRST = re.compile(r"^DKGEN_LAYER_FIRST layer=(\d+) seq=(\d+) step=(\d+) index=(\d+) "
                          r"got=(-?\d+) want=(-?\d+)\s*$", re.M)
_LAYER_FAILS = re.compile(r"^DKGEN_LAYER_FAILS (\d+)\s*$", re.M)


def parse_layer_mismatch(stdout: str, layer_names: list[str] | None = None) -> dict | None:
    """The first layer-level mismatch an int8 runner reported, or None."""
    m = _LAYER_FIRST.search(stdout)
    if not m:
        return None
    layer, seq, step, index, got, want = (int(g) for g in m.groups())
    fails = _LAYER_FAILS.search(stdout)
    out = {"layer": layer, "sequence": seq, "step": step, "index": index, "got": got, "want": want,
           "mismatches": int(fails.group(1)) if fails else None}
    if layer_names is not None and 0 <= layer < len(layer_names):
        out["layer_name"] = layer_names[layer]
    return out
