"""int8 code generation: `QuantModel` -> a C99 library with the same API as the float one.

The generated `<name>_step(state, x, y)` takes float inputs and writes float outputs:
it quantises x to int8 (dkgen_quantize_f32_s8), runs every layer in integers, and
dequantises the last layer's integers with one float32 multiplication each.  Those
float operations are exactly the ones numpy does in `dkgen.quant.reference`, so the
outputs equal the integer reference's bit for bit (compare with atol = 0).
`<name>_step_q(state, xq, yq)` is the integer core alone, for int8 pipelines.

Layout, planning of buffers and the manifest follow `dkgen.codegen` (float32); buffers
are typed (int32 accumulators, int16 intermediates, int8 activations).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dkgen import __version__
from dkgen.codegen.pack import c_literal
from dkgen.codegen.plan import c_identifier
from dkgen.codegen.render import (
    GeneratedLibrary,
    build_manifest,
    runtime_closure,
    template_env,
    write_tree,
)
from dkgen.errors import DkgenError
from dkgen.ir.graph import Model
from dkgen.quant.arith import dequantize
from dkgen.quant.model import (
    QGRU,
    QLSTM,
    QDense,
    QDope,
    QEmbedding,
    QKron,
    QLayer,
    QLinear,
    QLowRank,
    QMatrix,
    QRowStack,
    QSoftmax,
    QuantModel,
    Requant,
    RequantStack,
)
from dkgen.quant.quantize import QuantOptions, quantize_model
from dkgen.quant.reference import QuantReferenceExecutor
from dkgen.resources import runtime_dir

_CTYPES = {
    "int8_t": (np.int8, 1),
    "uint8_t": (np.uint8, 1),
    "int16_t": (np.int16, 2),
    "uint16_t": (np.uint16, 2),
    "int32_t": (np.int32, 4),
    "float": (np.float32, 4),
}

# Build the int8 runner with this define so the model calls its per-layer trace hooks.
RUNNER_DEFINES: dict[str, str | None] = {"DKGEN_TRACE_HOOKS": None}


@dataclass
class QArray:
    """One `static const` array of the weights file."""

    symbol: str
    ctype: str
    values: np.ndarray

    def __post_init__(self) -> None:
        dtype, _ = _CTYPES[self.ctype]
        v = np.asarray(self.values).reshape(-1)
        if self.ctype != "float":
            info = np.iinfo(dtype)
            if v.size and (v.min() < info.min or v.max() > info.max):
                raise ValueError(f"{self.symbol}: values do not fit {self.ctype}")
        self.values = np.ascontiguousarray(v, dtype=dtype)

    @property
    def length(self) -> int:
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        return self.length * _CTYPES[self.ctype][1]

    def literal_rows(self, per_line: int = 16) -> list[str]:
        ctype = self.ctype if self.ctype in ("float", "int32_t") else "int"
        lits = [c_literal(v, ctype) + ("u" if self.ctype.startswith("uint") else "")
                for v in self.values.tolist()]
        return [", ".join(lits[i:i + per_line]) for i in range(0, len(lits), per_line)]


@dataclass
class Descriptor:
    """A member of the weights struct: its C type, name and initialiser."""

    ctype: str
    member: str
    init: str


@dataclass
class QCMatrix:
    """How one quantised matrix is multiplied in C (field names as `dkgen.codegen.pack.CMatrix`
    where the manifest reads them)."""

    member: str
    kind: str  # dense | kron | csr | low_rank
    rows: int
    cols: int
    arrays: list[QArray] = field(default_factory=list)
    fields: dict[str, object] = field(default_factory=dict)
    t16: int = 0  # int16 scratch entries
    lr: int = 0  # int32 scratch entries (low-rank)
    macs: int = 0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)


@dataclass
class QLayerPlan:
    index: int
    layer: QLayer
    cname: str
    op: str
    inp: str  # C expression of the input buffer
    out: str  # C expression of the output buffer
    in_size: int
    out_size: int
    out_bits: int
    matrices: dict[str, QCMatrix] = field(default_factory=dict)
    vectors: dict[str, QArray] = field(default_factory=dict)
    descriptors: dict[str, str] = field(default_factory=dict)  # role -> member
    requants: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # role -> [(row, member)]
    hidden: int = 0

    @property
    def macs(self) -> int:
        return sum(m.macs for m in self.matrices.values())

    @property
    def trace_scale(self) -> str:
        """The layer's output scale as a float literal (what a trace dequantises with)."""
        return c_literal(float(np.float32(self.layer.out_scale)), "float")


@dataclass
class QuantPlan:
    name: str
    qmodel: QuantModel
    layers: list[QLayerPlan]
    arrays: list[QArray]
    descriptors: list[Descriptor]
    state_members: list[tuple[str, str, int]]  # (ctype, member, entries)
    scratch_members: list[tuple[str, str, int]]
    final: str  # C expression of the last layer's output

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
        size = sum(_CTYPES[t][1] * n for t, _, n in members)
        align = max((_CTYPES[t][1] for t, _, _ in members), default=1)
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
    def mat_scratch_used(self) -> bool:
        return any(m.t16 for lp in self.layers for m in lp.matrices.values())

    @property
    def kernels(self) -> set[str]:
        used = {"dkgen_vector_s8", "dkgen_convert_s8"}
        for lp in self.layers:
            mats = [p for m in lp.matrices.values()
                    for p in ([q for _, q in m.fields["parts"]] if m.kind == "row_stack" else [m])]
            for m in mats:
                if m.kind == "dense":
                    used.add("dkgen_dense_matvec_s8")
                elif m.kind == "kron":
                    used.add("dkgen_kron_matvec_s8")
                    if m.fields.get("dope"):
                        used.add("dkgen_dope_matvec_s8")
                elif m.kind == "csr":
                    used.add("dkgen_dope_matvec_s8")
                elif m.kind == "low_rank":
                    used |= {"dkgen_dense_matvec_s8", "dkgen_dense_matvec_s8s16", "dkgen_requant_s16"}
            if lp.op == "linear":
                used.add("dkgen_requant_s16" if lp.out_bits == 16 else "dkgen_requant_s8")
            if lp.op in ("lstm", "gru"):
                used |= {f"dkgen_{lp.op}_cell_s16", "dkgen_requant_add_s32"}
            if lp.op == "softmax":
                used.add("dkgen_softmax_s8")
        return used


# --- packing --------------------------------------------------------------------------


def _rq_arrays(prefix: str, rq: Requant) -> tuple[list[QArray], str]:
    mult = QArray(f"{prefix}_mult", "int32_t", rq.mult)
    shift = QArray(f"{prefix}_shift", "int8_t", rq.shift)
    init = f"{{ {mult.symbol}, {shift.symbol}, {rq.outer}u, {rq.inner}u, {rq.per_code}u }}"
    return [mult, shift], init


def _dope_arrays(prefix: str, dope: QDope) -> tuple[list[QArray], str]:
    steps, vals, bits = dope.encode()
    step = QArray(f"{prefix}_step", "uint8_t" if bits == 8 else "uint16_t", steps)
    val = QArray(f"{prefix}_val", "int8_t", vals)
    s8 = step.symbol if bits == 8 else "NULL"
    s16 = step.symbol if bits == 16 else "NULL"
    init = f"{{ {s8}, {s16}, {val.symbol}, {step.length}u, {dope.cols}u, {dope.shift}u }}"
    return [step, val], init


def pack_qmatrix(prefix: str, m: QMatrix, descriptors: list[Descriptor]) -> QCMatrix:
    """The arrays and descriptors of one quantised matrix."""
    if max(m.rows, m.cols) >= 65536:
        raise DkgenError(f"{prefix}: matrices are limited to 65535 rows and columns")
    if isinstance(m, QRowStack):
        parts = [(row, pack_qmatrix(f"{prefix}_p{i}", part, descriptors))
                 for i, (row, part) in enumerate(zip(m.offsets, m.parts, strict=True))]
        return QCMatrix(prefix, "row_stack", m.rows, m.cols, [a for _, p in parts for a in p.arrays],
                        {"parts": parts}, t16=max(p.t16 for _, p in parts),
                        lr=max(p.lr for _, p in parts), macs=m.macs)
    if isinstance(m, QDense):
        arr = QArray(prefix, "int8_t", m.w)
        descriptors.append(Descriptor("const int8_t *", prefix, arr.symbol))
        return QCMatrix(prefix, "dense", m.rows, m.cols, [arr], {}, macs=m.macs)
    if isinstance(m, QKron):
        assert m.t_rq is not None
        (m1, n1), (m2, n2) = m.a.shape, m.b.shape
        a, b = QArray(f"{prefix}_a", "int8_t", m.a), QArray(f"{prefix}_b", "int8_t", m.b)
        rq_arrays, _ = _rq_arrays(f"{prefix}_t", m.t_rq)
        per_row = 1 if m.t_rq.per != "tensor" else 0
        init = (f"{{ {a.symbol}, {b.symbol}, {rq_arrays[0].symbol}, {rq_arrays[1].symbol}, "
                f"{m1}u, {n1}u, {m2}u, {n2}u, {m.t_max}, {m.order}u, {per_row}u }}")
        descriptors.append(Descriptor("dkgen_kron_s8_t", prefix, init))
        arrays = [a, b, *rq_arrays]
        fields: dict[str, object] = {"dope": None}
        if m.dope is not None and m.dope.nnz:
            d_arrays, d_init = _dope_arrays(f"{prefix}_dope", m.dope)
            arrays += d_arrays
            descriptors.append(Descriptor("dkgen_dope_s8_t", f"{prefix}_dope", d_init))
            fields["dope"] = f"{prefix}_dope"
        return QCMatrix(prefix, "kron", m.rows, m.cols, arrays, fields, t16=m.scratch, macs=m.macs)
    if isinstance(m, QDope):
        arrays, init = _dope_arrays(prefix, m)
        descriptors.append(Descriptor("dkgen_dope_s8_t", prefix, init))
        return QCMatrix(prefix, "csr", m.rows, m.cols, arrays, {}, macs=m.macs)
    if isinstance(m, QLowRank):
        assert m.t_rq is not None
        u, v = QArray(f"{prefix}_u", "int8_t", m.u), QArray(f"{prefix}_v", "int8_t", m.v)
        rq_arrays, rq_init = _rq_arrays(f"{prefix}_t", m.t_rq)
        descriptors += [Descriptor("const int8_t *", f"{prefix}_u", u.symbol),
                        Descriptor("const int8_t *", f"{prefix}_v", v.symbol),
                        Descriptor("dkgen_requant_t", f"{prefix}_t", rq_init)]
        rank = int(m.v.shape[0])
        return QCMatrix(prefix, "low_rank", m.rows, m.cols, [u, v, *rq_arrays],
                        {"rank": rank, "t_max": m.t_max}, t16=rank, lr=rank, macs=m.macs)
    raise DkgenError(f"{prefix}: int8 code generation has no rule for matrix kind {m.kind}")


def _add_vector(lp: QLayerPlan, role: str, ctype: str, values: np.ndarray, arrays: list[QArray],
                descriptors: list[Descriptor]) -> None:
    arr = QArray(f"{lp.cname}_{role}", ctype, values)
    lp.vectors[role] = arr
    arrays.append(arr)
    descriptors.append(Descriptor(f"const {ctype} *", arr.symbol, arr.symbol))


def _add_requant(lp: QLayerPlan, role: str, rq: Requant | RequantStack | None, arrays: list[QArray],
                 descriptors: list[Descriptor]) -> None:
    """Descriptors of one requantisation: one, or one per part of a row stack; the layer
    plan records [(first row, member)]."""
    assert rq is not None
    parts = [(0, rq, f"{lp.cname}_{role}")] if isinstance(rq, Requant) else [
        (row, part, f"{lp.cname}_{role}_p{i}") for i, (row, part) in enumerate(rq.parts)]
    for _, part, member in parts:
        rq_arrays, init = _rq_arrays(member, part)
        arrays.extend(rq_arrays)
        descriptors.append(Descriptor("dkgen_requant_t", member, init))
    lp.requants[role] = [(row, member) for row, _, member in parts]


def plan_int8(qmodel: QuantModel, name: str | None = None) -> QuantPlan:
    """Lower a quantised model to a C plan: buffers, arrays, descriptors."""
    cname = c_identifier(name or qmodel.name)
    n = len(qmodel.layers)
    if n == 0:
        raise DkgenError(f"{qmodel.name}: the model has no layers")
    arrays: list[QArray] = []
    descriptors: list[Descriptor] = []
    plans: list[QLayerPlan] = []
    state16: list[tuple[str, str, int]] = []
    state8: list[tuple[str, str, int]] = []
    acc = gates = t16 = lr = out16 = act = 0
    act_bufs = ["s->scratch.act0", "s->scratch.act1"]
    next_act = 0
    inp = "xq"
    seen: set[str] = set()
    for i, layer in enumerate(qmodel.layers):
        lname = c_identifier(f"l{i}_{layer.name}")
        while lname in seen:
            lname += "_"
        seen.add(lname)
        last = i == n - 1
        lp = QLayerPlan(i, layer, lname, layer.op, inp, inp, layer.in_size, layer.out_size, layer.out_bits)
        for role, m in layer.matrices().items():
            cm = pack_qmatrix(f"{lname}_{role}", m, descriptors)
            lp.matrices[role] = cm
            arrays.extend(cm.arrays)
            acc = max(acc, cm.rows)
            t16 = max(t16, cm.t16)
            lr = max(lr, cm.lr)

        if isinstance(layer, QEmbedding):
            _add_vector(lp, "table", "int8_t", layer.table, arrays, descriptors)
        elif isinstance(layer, QLinear):
            if np.any(layer.bias):
                _add_vector(lp, "bias", "int32_t", layer.bias, arrays, descriptors)
            _add_requant(lp, "rq", layer.rq, arrays, descriptors)
        elif isinstance(layer, QLSTM | QGRU):
            h = layer.hidden
            lp.hidden = h
            _add_requant(lp, "rq_ih", layer.rq_ih, arrays, descriptors)
            _add_requant(lp, "rq_hh", layer.rq_hh, arrays, descriptors)
            if isinstance(layer, QLSTM):
                _add_vector(lp, "bias", "int16_t", layer.bias, arrays, descriptors)
                assert layer.h_rq is not None
                init = (f"{{ {c_literal(int(layer.h_rq.mult[0]), 'int32_t')}, {h}u, "
                        f"{int(layer.h_rq.shift[0])}, {layer.cell_frac}u }}")
                descriptors.append(Descriptor("dkgen_lstm_s16_t", f"{lname}_cell", init))
                state16.append(("int16_t", f"{lname}_c", h))
                gates = max(gates, 4 * h)
            else:
                _add_vector(lp, "b_ih", "int16_t", layer.b_ih, arrays, descriptors)
                _add_vector(lp, "b_hh", "int16_t", layer.b_hh, arrays, descriptors)
                assert layer.n_rq is not None
                init = (f"{{ {c_literal(int(layer.n_rq.mult[0]), 'int32_t')}, {h}u, "
                        f"{int(layer.n_rq.shift[0])} }}")
                descriptors.append(Descriptor("dkgen_gru_s16_t", f"{lname}_cell", init))
                gates = max(gates, 6 * h)
            lp.descriptors["cell"] = f"{lname}_cell"
            state8.append(("int8_t", f"{lname}_h", h))
            lp.out = f"s->rnn.{lname}_h"
        elif isinstance(layer, QSoftmax):
            lp.descriptors["beta"] = str(layer.beta)
        else:
            raise DkgenError(f"layer {layer.name}: int8 code generation has no rule for {layer.op}")
        if not isinstance(layer, QLSTM | QGRU):
            if layer.out_bits == 16:
                if not last:
                    raise DkgenError(f"layer {layer.name}: an int16 output must be the model's last")
                lp.out = "s->scratch.out16"
                out16 = layer.out_size
            else:
                if inp == act_bufs[next_act]:
                    next_act ^= 1
                lp.out = act_bufs[next_act]
                next_act ^= 1
                act = max(act, layer.out_size)
        plans.append(lp)
        inp = lp.out
    scratch: list[tuple[str, str, int]] = []
    for ctype, member, size in (("int32_t", "acc", acc), ("int32_t", "gates", gates),
                                ("int32_t", "lr_acc", lr), ("int16_t", "t16", t16),
                                ("int16_t", "out16", out16), ("int8_t", "act0", act),
                                ("int8_t", "act1", act),
                                ("int8_t", "xq", qmodel.input.size if qmodel.input.kind == "vector" else 0)):
        if size:
            scratch.append((ctype, member, size))
    if not scratch:
        scratch.append(("int8_t", "unused", 1))
    state = state16 + state8 or [("int8_t", "unused_state", 1)]
    return QuantPlan(cname, qmodel, plans, arrays, descriptors, state, scratch, plans[-1].out)


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


def render_files_int8(plan: QuantPlan, *, source: str = "model") -> dict[str, bytes]:
    """All files of the int8 library as {relative path: bytes} (no manifest)."""
    env = template_env()
    name = plan.name
    qm = plan.qmodel
    stems = runtime_closure(plan.kernels)
    rt = runtime_dir()
    files: dict[str, bytes] = {}
    runtime_files = [f"{s}{x}" for s in stems for x in (".h", ".c") if (rt / f"{s}{x}").exists()]
    for f in runtime_files:
        files[f"runtime/{f}"] = (rt / f).read_bytes()
    c_sources = [f"src/{name}.c", f"src/{name}_weights.c"] + [
        f"runtime/{f}" for f in runtime_files if f.endswith(".c")]
    ctx = {
        "name": name,
        "NAME": name.upper(),
        "plan": plan,
        "qm": qm,
        "version": __version__,
        "source": source,
        "macs": plan.macs,
        "kernel_headers": [s for s in stems if s != "dkgen_common" and (rt / f"{s}.h").exists()],
        "c_sources": c_sources,
        "input_inv_scale": c_literal(float(qm.input_inv_scale), "float"),
        "output_scale": c_literal(float(qm.output_scale), "float"),
        "out_ctype": "int16_t" if qm.output_bits == 16 else "int8_t",
        "out_suffix": "s16" if qm.output_bits == 16 else "s8",
        "macros": env.get_template("lib/int8/macros.j2").module,
    }
    for tpl, out in (("lib/int8/model.h.j2", f"include/{name}.h"), ("lib/int8/model.c.j2", f"src/{name}.c"),
                     ("lib/int8/model_weights.h.j2", f"src/{name}_weights.h"),
                     ("lib/int8/model_weights.c.j2", f"src/{name}_weights.c"),
                     ("lib/CMakeLists.txt.j2", "CMakeLists.txt"), ("lib/model.mk.j2", f"{name}.mk")):
        files[out] = env.get_template(tpl).render(ctx).encode()
    return files


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
                  check: Callable[[GeneratedLibrary], None] | None = None) -> GeneratedLibrary:
    """Quantise `model` on `calib_inputs` (unless it is a QuantModel already) and generate
    its int8 C library into `out_dir`.  `lib.plan.qmodel` is the quantised model, whose
    `QuantReferenceExecutor` the library matches bit for bit."""
    qmodel = _as_quant_model(model, calib_inputs, options, source)
    try:
        plan = plan_int8(qmodel, name)
    except ValueError as exc:
        raise DkgenError(str(exc), path=source, field="model") from None
    src = source or qmodel.name
    files = render_files_int8(plan, source=Path(src).name)
    manifest = build_manifest(plan, files, Path(src).name, source_sha256, dtype="int8")  # type: ignore[arg-type]
    manifest["quantization"] = quant_summary(qmodel)
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    hook = None if check is None else (
        lambda tmp: check(GeneratedLibrary(tmp, plan.name, plan, manifest)))  # type: ignore[arg-type]
    write_tree(files, Path(out_dir), force=force, check=hook)
    return GeneratedLibrary(Path(out_dir), plan.name, plan, manifest)  # type: ignore[arg-type]


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
    plan = lib.plan
    in_type = "int32_t" if golden.inputs.dtype.kind in "iu" else "float"
    sizes = [int(t.shape[2]) for t in golden.traces]
    offsets = np.concatenate([[0], np.cumsum([t.size for t in golden.traces])])[:-1]
    flat = np.concatenate([t.reshape(-1) for t in golden.traces]) if trace_layers else np.zeros(1)
    ctx = {
        "name": name, "NAME": name.upper(), "version": __version__,
        "sequences": golden.sequences, "steps": golden.steps,
        "print_argmax": print_argmax, "trace": trace_layers,
        "layers": len(golden.traces),
        "inputs": QArray("golden_inputs", in_type, golden.inputs),
        "outputs": QArray("golden_outputs", "float", golden.outputs),
        "trace_values": QArray("golden_trace", "int16_t", flat),
        "trace_offsets": [int(o) for o in offsets],
        "trace_sizes": sizes,
        "layer_names": [lp.layer.name for lp in plan.layers],  # type: ignore[attr-defined]
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
