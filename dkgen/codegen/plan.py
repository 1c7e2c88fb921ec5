"""Memory planning and lowering: IR model -> what each layer does in C, and where.

The plan decides, for each layer, which buffers it reads and writes, the kernels it
calls and the bytes of state and scratch the whole model needs.  Sizes are final here, so
the generated header can state them as macros.

Buffers (all floats, all inside the caller's `<name>_state_t`):
- recurrent state, one member per LSTM/GRU/RNN layer (h, then c for an LSTM);
- a scratch arena: two activation buffers used in turn by non-recurrent layers, a gate
  buffer (LSTM: 4H pre-activations; RNN: H; GRU: 3H for the input part and 3H for the recurrent
  part), and the matrix-vector products' own scratch (the Kronecker intermediate).
The model input `x` and output `y` belong to the caller.  The last layer writes `y`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dkgen.codegen.pack import CArray, CMatrix, pack_matrix
from dkgen.ir.graph import (
    ACTIVATIONS,
    GRU,
    LSTM,
    RECURRENT,
    RNN,
    Affine,
    Embedding,
    Layer,
    Linear,
    Model,
)
from dkgen.ir.weights import DenseWeight

FLOAT_BYTES = 4


_C_KEYWORDS = frozenset(
    ["auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while"])


def check_c_name(name: str) -> str:
    """`name` if it can prefix every generated C symbol; a DkgenError naming --name if not."""
    from dkgen.errors import DkgenError

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", name) or name.lower() in _C_KEYWORDS:
        raise DkgenError(f"'{name}' is not usable as a C name", field="--name",
                         fix="use letters, digits and underscores, starting with a letter (at most 41)")
    return name


def c_identifier(text: str) -> str:
    """A lowercase C identifier made from `text` (letters, digits, underscores)."""
    ident = re.sub(r"[^0-9a-zA-Z_]", "_", text).strip("_").lower() or "model"
    if ident[0].isdigit():
        ident = "m_" + ident
    return re.sub(r"_+", "_", ident)


class _Named(Protocol):
    name: str


def layer_cnames(layers: Sequence[_Named]) -> list[str]:
    """A distinct C identifier for each layer of a chain (float or int8): l<i>_<name>."""
    names: list[str] = []
    for i, layer in enumerate(layers):
        lname = c_identifier(f"l{i}_{layer.name}")
        while lname in names:
            lname += "_"
        names.append(lname)
    return names


@dataclass(frozen=True)
class Buffer:
    """Where a vector lives: the caller's input/output, a state member or the scratch.

    The float library's scratch is one float arena (`offset` in floats, no `member`); the
    int8 library's is a struct of typed arrays (`member`, and `offset` entries into it).
    """

    where: str  # "input" | "output" | "state" | "scratch" | "token"
    member: str = ""  # state or scratch member name
    offset: int = 0  # scratch offset, entries


def ping_pong(bufs: Sequence[Buffer], inp: Buffer, turn: int) -> tuple[Buffer, int]:
    """The activation buffer a layer reading `inp` writes: `bufs[turn]`, or the other one if
    that is its input.  Returns it and the next turn."""
    if inp == bufs[turn]:
        turn ^= 1
    return bufs[turn], turn ^ 1


@dataclass
class LayerPlan:
    index: int
    layer: Layer
    cname: str
    op: str
    inp: Buffer
    out: Buffer
    in_size: int
    out_size: int
    matrices: dict[str, CMatrix] = field(default_factory=dict)
    vectors: dict[str, CArray] = field(default_factory=dict)
    hidden: int = 0
    state_members: list[tuple[str, int]] = field(default_factory=list)
    gates: Buffer | None = None
    gates_h: Buffer | None = None  # GRU: recurrent-part pre-activations

    @property
    def linear_before_reset(self) -> bool:
        """GRU: False takes a second recurrent product, R (r*h) (the layer's own flag; the
        int8 plan's QGRU carries it too)."""
        return getattr(self.layer, "linear_before_reset", True)

    @property
    def macs(self) -> int:
        macs = sum(m.macs for m in self.matrices.values())
        if not self.linear_before_reset:
            macs += self.matrices["w_hh"].macs  # the second product, R (r * h)
        return macs


@dataclass
class ModelPlan:
    name: str
    model: Model
    layers: list[LayerPlan]
    state_members: list[tuple[str, int]]
    scratch_floats: int
    mat_scratch: Buffer
    arrays: list[CArray]
    # State members that start from a constant (ONNX initial_h / initial_c): member -> the
    # weights member holding it; the others start from zeros.
    state_init: dict[str, str] = field(default_factory=dict)

    @property
    def state_floats(self) -> int:
        return sum(n for _, n in self.state_members)

    @property
    def state_bytes(self) -> int:
        return self.state_floats * FLOAT_BYTES

    @property
    def scratch_bytes(self) -> int:
        return self.scratch_floats * FLOAT_BYTES

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    @property
    def input_size(self) -> int:
        return self.model.input_size

    @property
    def mat_scratch_used(self) -> bool:
        return any(m.scratch for lp in self.layers for m in lp.matrices.values())

    @property
    def macs(self) -> int:
        return sum(lp.macs for lp in self.layers)

    @property
    def output_size(self) -> int:
        return self.model.output_size

    @property
    def kernels(self) -> set[str]:
        """Runtime kernels the generated code calls (names of runtime file stems)."""
        used = {"dkgen_vector_f32"}
        for lp in self.layers:
            for m in (q for top in lp.matrices.values() for q in top.leaves()):
                if m.kind in ("dense", "low_rank"):
                    used.add("dkgen_dense_matvec_f32")
                elif m.kind in ("kron", "kron_multi"):
                    used.add(f"dkgen_{m.kind}_matvec_f32")
                    if m.fields.get("dope"):
                        used.add("dkgen_csr_matvec_f32")
                elif m.kind == "csr":
                    used.add("dkgen_csr_matvec_f32")
            if lp.op == "lstm" or lp.op == "gru" and lp.linear_before_reset:
                used.add(f"dkgen_{lp.op}_cell_f32")
            elif lp.op == "gru":
                used |= {"dkgen_gru_reset_f32", "dkgen_gru_update_f32"}
            if lp.op in ("lstm", "gru"):
                used.add("dkgen_activation_f32")
            if lp.op == "affine":
                used.add("dkgen_affine_f32")
            if lp.op == "log_softmax":
                used.add("dkgen_log_softmax_f32")
            if lp.op == "rnn":
                used.add("dkgen_activation_vec_f32")  # h = tanh(gates)
            if lp.op == "softmax":
                used.add("dkgen_activation_f32")
            if lp.op in ACTIVATIONS:
                used.add("dkgen_activation_vec_f32")
        return used


def plan_model(model: Model, name: str | None = None) -> ModelPlan:
    """Lower a float model to a C plan."""
    cname = c_identifier(name or model.name)
    n = len(model.layers)
    act_size = max([layer.out_size for layer in model.layers if layer.state_size == 0] + [1])
    gate_size = max([rnn.gates * rnn.hidden_size * (2 if isinstance(rnn, GRU) else 1)
                     for rnn in model.layers if isinstance(rnn, RECURRENT)] + [0])
    act = [Buffer("scratch", offset=0), Buffer("scratch", offset=act_size)]
    gates_at = 2 * act_size
    mat_scratch_at = gates_at + gate_size

    plans: list[LayerPlan] = []
    arrays: list[CArray] = []
    state_members: list[tuple[str, int]] = []
    state_init: dict[str, str] = {}
    inp = Buffer("token" if model.input.kind == "token" else "input")
    next_act = 0
    mat_scratch = 0
    for i, (layer, lname) in enumerate(zip(model.layers, layer_cnames(model.layers), strict=True)):
        last = i == n - 1
        lp = LayerPlan(i, layer, lname, layer.op, inp, inp, layer.in_size, layer.out_size)
        for role, weight in layer.weights().items():
            if isinstance(layer, Embedding) and not isinstance(weight, DenseWeight):
                raise ValueError(f"{layer.name}: only dense embedding tables are supported")
            m = pack_matrix(f"{lname}_{role}", weight)
            lp.matrices[role] = m
            arrays += m.arrays
            mat_scratch = max(mat_scratch, m.scratch)
        if isinstance(layer, RECURRENT):
            h = layer.hidden_size
            lp.hidden = h
            lp.state_members = [(f"{lname}_h", h)]
            if isinstance(layer, LSTM | RNN):
                if isinstance(layer, LSTM):
                    lp.state_members.append((f"{lname}_c", h))
                # The two biases always appear summed; storing the sum saves flash and adds.
                lp.vectors["bias"] = CArray(f"{lname}_bias", "float",
                                            layer.b_ih.astype(np.float32) + layer.b_hh.astype(np.float32))
                lp.gates = Buffer("scratch", offset=gates_at)
            else:
                lp.vectors["b_ih"] = CArray(f"{lname}_b_ih", "float", layer.b_ih)
                lp.vectors["b_hh"] = CArray(f"{lname}_b_hh", "float", layer.b_hh)
                lp.gates = Buffer("scratch", offset=gates_at)
                lp.gates_h = Buffer("scratch", offset=gates_at + 3 * h)
            state_members += lp.state_members
            for part, values in layer.initial_states().items():
                lp.vectors[f"{part}0"] = CArray(f"{lname}_{part}0", "float", values)
                state_init[f"{lname}_{part}"] = lp.vectors[f"{part}0"].symbol
            lp.out = Buffer("state", member=f"{lname}_h")
        else:
            if isinstance(layer, Linear):
                lp.vectors["bias"] = CArray(f"{lname}_bias", "float", layer.bias)
            elif isinstance(layer, Affine):
                lp.vectors["mul"] = CArray(f"{lname}_mul", "float", layer.mul)
                lp.vectors["add"] = CArray(f"{lname}_add", "float", layer.add)
            if last:
                lp.out = Buffer("output")
            else:
                lp.out, next_act = ping_pong(act, inp, next_act)
        arrays += list(lp.vectors.values())
        plans.append(lp)
        inp = lp.out
    scratch_floats = mat_scratch_at + mat_scratch
    return ModelPlan(cname, model, plans, state_members, max(scratch_floats, 1),
                     Buffer("scratch", offset=mat_scratch_at), arrays, state_init)
