"""Every int8 matrix and requantisation kernel, on every code path, against the numpy
integer reference, bit for bit, under QEMU.

The model-level tests (test_quant_targets.py) cover the paths with the shapes a few models
happen to have; the optimised kernels branch on shape (row chunks of 8, 4 and 1-3 entries,
whole rows of 4, 8 or up to 16 held in registers, pairs of rows, runs of 4 lanes and their
tails, shifts above and below 32), so this file sends one program with many awkward shapes
through each path: SIMD32 (DSP) on the M4 and M7 and, with DKGEN_NO_MVE, the M55; Helium on
the M55; portable C on the M0 and, with DKGEN_PORTABLE, the M4. The program prints every
output; the test compares each with the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kernel_cases import CasesProgram, Output, run_cases

from dkgen.quant import arith, lut
from dkgen.quant.model import PER_INNER, PER_OUTER, PER_TENSOR, QDope, QKron, Requant
from dkgen.quant.reference import gru_cell_q, gru_reset_q, gru_update_q, lstm_cell_q

pytestmark = pytest.mark.qemu

SOURCES = ["dkgen_kron_matvec_s8.c", "dkgen_dense_matvec_s8.c", "dkgen_dense_matvec_s8s16.c",
           "dkgen_dope_matvec_s8.c", "dkgen_requant_s8.c", "dkgen_requant_s16.c",
           "dkgen_requant_add_s32.c", "dkgen_activation_s16.c", "dkgen_lstm_cell_s16.c",
           "dkgen_gru_cell_s16.c", "dkgen_gru_reset_s16.c", "dkgen_gru_update_s16.c"]
PATHS = [("cortex-m4", None), ("cortex-m4", "DKGEN_PORTABLE"), ("cortex-m7", None),
         ("cortex-m55", None), ("cortex-m55", "DKGEN_NO_MVE"), ("cortex-m0", None)]

# (m1, n1, m2, n2): contraction lengths 1-20 on both sides, odd row counts, the digits
# example's two shapes (8x4 (x) 32x2 and 16x8 (x) 16x8) and 1-sized factors; rows of B of
# 8+1..3 and 4+1..3 entries (the last paired group fused with the tail).
KRON_DIMS = [(1, 1, 1, 1), (2, 3, 4, 5), (5, 4, 3, 2), (8, 4, 32, 2), (16, 8, 16, 8), (3, 8, 5, 8),
             (7, 4, 9, 4), (4, 16, 6, 16), (6, 12, 5, 12), (3, 9, 7, 9), (2, 20, 3, 17), (9, 7, 2, 6),
             (1, 5, 24, 1), (24, 1, 1, 6), (5, 3, 8, 1), (4, 32, 4, 9), (11, 13, 2, 3), (2, 2, 13, 11),
             (3, 5, 4, 7), (2, 3, 3, 10), (2, 3, 4, 13)]


def _ints(rng, lo, hi, size, extreme=0.2):
    v = rng.integers(lo, hi + 1, size=size, dtype=np.int64)
    return np.where(rng.random(size) < extreme, rng.choice([lo, hi], size=size), v)


PER_CODES = {PER_TENSOR: 0, PER_OUTER: 1, PER_INNER: 2}


def _requant(rng, per, outer, inner, lo=1e-6, hi=4.0):
    n = {PER_TENSOR: 1, PER_OUTER: outer, PER_INNER: inner}[per]
    # mostly the usual small multipliers (shift > 32); the larger ones give shifts <= 32
    return Requant.from_real(np.exp(rng.uniform(np.log(lo), np.log(hi), size=n)), per, outer, inner)


def _program() -> CasesProgram:
    return CasesProgram("quant/kernel_paths.c.j2", SOURCES,
                        [("int32_t", "out_buf", 512), ("int16_t", "scratch", 512)])


def _requant_struct(prog: CasesProgram, rq: Requant, outer: int, inner: int, per: str) -> dict:
    return {"kind": "requant", "fields": {
        "mult": prog.array("int32_t", rq.mult), "shift": prog.array("int8_t", rq.shift),
        "outer": outer, "inner": inner, "per": PER_CODES[per]}}


def build_program(seed: int = 20260101) -> CasesProgram:
    rng = np.random.default_rng(seed)
    prog = _program()
    for dims in KRON_DIMS:
        m1, n1, m2, n2 = dims
        for order in (0, 1):
            for per_row, t_max in ((False, 32767), (True, 255), (True, 32767)):
                a, b = _ints(rng, -127, 127, (m1, n1)), _ints(rng, -127, 127, (m2, n2))
                first = m1 if order == 1 else m2
                hi = 4.0 if rng.random() < 0.3 else 0.05
                rq = _requant(rng, PER_OUTER if per_row else PER_TENSOR, first, 1, hi=hi)
                k = QKron(m1 * m2, n1 * n2, a=a, b=b, order=order, t_rq=rq, t_max=t_max)
                x = _ints(rng, -128, 127, (1, n1 * n2))
                acc0 = rng.integers(-2**20, 2**20, size=m1 * m2)
                kron = {"kind": "kron", "fields": {
                    "a": prog.array("int8_t", a), "b": prog.array("int8_t", b),
                    "t_mult": prog.array("int32_t", rq.mult), "t_shift": prog.array("int8_t", rq.shift),
                    "m1": m1, "n1": n1, "m2": m2, "n2": n2, "t_max": t_max, "order": order,
                    "per_row": int(per_row)}}
                nx = prog.array("int8_t", x)
                prog.case("kron", acc0 + k.acc(x)[0],
                          [Output("int32_t", m1 * m2, prog.array("int32_t", acc0))], kron=kron, x=nx)
                # the same product a block of rows of A at a time, the blocks taken last first
                prog.case("kron_blocks", acc0 + k.acc(x)[0],
                          [Output("int32_t", m1 * m2, prog.array("int32_t", acc0))], kron=kron, x=nx,
                          m1=m1, m2=m2, per=1 + (m1 + order) % 3)
    for rows, cols in [(0, 5), (1, 1), (2, 3), (3, 4), (5, 7), (4, 8), (7, 15), (6, 16), (9, 17),
                       (2, 33), (3, 40), (10, 64), (5, 0)]:
        w = _ints(rng, -128, 127, (rows, cols))
        x8, x16 = _ints(rng, -128, 127, cols), _ints(rng, -32768, 32767, cols)
        acc0 = rng.integers(-2**20, 2**20, size=rows)
        nw, n8, n16, na = (prog.array("int8_t", w), prog.array("int8_t", x8), prog.array("int16_t", x16),
                           prog.array("int32_t", acc0))
        prog.case("dense_s8", acc0 + w @ x8, [Output("int32_t", rows, na)],
                  w=nw, rows=rows, cols=cols, x=n8)
        prog.case("dense_s8s16", acc0 + w @ x16, [Output("int32_t", rows, na)],
                  w=nw, rows=rows, cols=cols, x=n16)
    for rows, cols, density, shift in [(3, 8, 0.3, 0), (17, 5, 0.1, 3), (4, 300, 0.02, 7), (9, 9, 0.9, 1),
                                       (2, 1000, 0.004, 2), (6, 1, 0.5, 0)]:
        nnz = max(1, int(density * rows * cols))
        index = np.sort(rng.choice(rows * cols, size=nnz, replace=False))
        d = QDope(rows, cols, index=index, val=_ints(rng, -127, 127, nnz), shift=shift)
        steps, vals, bits = d.encode()
        x = _ints(rng, -128, 127, (1, cols))
        acc0 = rng.integers(-2**20, 2**20, size=rows)
        ns = prog.array("uint8_t" if bits == 8 else "uint16_t", steps)
        fields = {"step8": ns if bits == 8 else None, "step16": None if bits == 8 else ns,
                  "val": prog.array("int8_t", vals), "block": None, "count": steps.size,
                  "cols": cols, "shift": shift}
        nx = prog.array("int8_t", x)
        prog.case("dope", acc0 + d.acc(x)[0], [Output("int32_t", rows, prog.array("int32_t", acc0))],
                  dope={"kind": "dope", "fields": fields}, x=nx)
        # block by block from the generator's table, the last block first: single rows, odd
        # blocks with a short last one, one block longer than the matrix
        for block in sorted({1, 2, 3, rows + 4}):
            table = prog.array("uint32_t", d.block_table(list(range(0, rows, block))))
            prog.case("dope_blocks", acc0 + d.acc(x)[0],
                      [Output("int32_t", rows, prog.array("int32_t", acc0))],
                      dope={"kind": "dope", "fields": {**fields, "block": table}}, x=nx,
                      rows=rows, block=block)
    for outer, inner in [(1, 1), (1, 7), (3, 5), (2, 9), (4, 16), (1, 64), (5, 3)]:
        for per in (PER_TENSOR, PER_OUTER, PER_INNER):
            rq = _requant(rng, per, outer, inner, lo=1e-9, hi=2.0**20)
            acc = _ints(rng, arith.INT32_MIN, arith.INT32_MAX, outer * inner, extreme=0.3)
            old = _ints(rng, arith.INT32_MIN, arith.INT32_MAX, outer * inner, extreme=0.3)
            requant = _requant_struct(prog, rq, outer, inner, per)
            nacc, nold = prog.array("int32_t", acc), prog.array("int32_t", old)
            ref = rq.apply(acc)
            n = outer * inner
            prog.case("requant_s8", arith.sat8(ref), [Output("int8_t", n)], requant=requant, acc=nacc)
            prog.case("requant_s16", np.clip(ref, -300, 20000), [Output("int16_t", n)],
                      requant=requant, acc=nacc, lo=-300, hi=20000)
            prog.case("requant_add_s32", arith.sat32(old + arith.sat32(ref)),
                      [Output("int32_t", n, nold)], requant=requant, acc=nacc)
            prog.case("requant_add_s32_block", arith.sat32(old + arith.sat32(ref)),
                      [Output("int32_t", n, nold)], requant=requant, acc=nacc, outer=outer, inner=inner)
            prog.case("requant_s8_block", arith.sat8(ref), [Output("int8_t", n)], requant=requant,
                      acc=nacc, outer=outer, inner=inner)
            prog.case("requant_s16_block", np.clip(ref, -300, 20000), [Output("int16_t", n)],
                      requant=requant, acc=nacc, outer=outer, inner=inner, lo=-300, hi=20000)
    for hidden, cell_frac in [(1, 12), (3, 0), (4, 15), (7, 11), (16, 13), (17, 9), (33, 14), (64, 11)]:
        for big_shift in (True, False):
            gates = _ints(rng, -60000, 60000, 4 * hidden)  # beyond int16: saturates
            c = _ints(rng, -32768, 32767, hidden)
            h = _ints(rng, -128, 127, hidden)
            real = np.exp(rng.uniform(-40, -10)) if big_shift else np.exp(rng.uniform(-1, 1))
            m, r = arith.quantize_multiplier(float(real))
            ng, nc, nh = prog.array("int32_t", gates), prog.array("int16_t", c), prog.array("int8_t", h)
            h_ref, c_ref = lstm_cell_q(gates, c, cell_frac, m, r)
            lstm = {"kind": "lstm_cell", "fields": {"mult": m, "hidden": hidden, "shift": r,
                                                    "cell_frac": cell_frac}}
            prog.case("lstm_cell", np.concatenate([c_ref, h_ref]),
                      [Output("int16_t", hidden, nc), Output("int8_t", hidden, nh)],
                      cell=lstm, gates=ng)
            gx = _ints(rng, arith.INT32_MIN, arith.INT32_MAX, 3 * hidden, extreme=0.1)
            gx = np.where(rng.random(gx.size) < 0.7, gx % 80000 - 40000, gx)
            gh = _ints(rng, -70000, 70000, 3 * hidden)
            gru = {"kind": "gru_cell", "fields": {"mult": m, "hidden": hidden, "shift": r}}
            ngx, ngh = prog.array("int32_t", gx), prog.array("int32_t", gh)
            prog.case("gru_cell", gru_cell_q(gx, gh, h, m, r), [Output("int8_t", hidden, nh)],
                      cell=gru, gx=ngx, gh=ngh)
            # linear_before_reset=0, its two halves: reset writes z over gx's z block (the
            # rest of gx must stay) and r * h to rh; update reads that z (Q0.15)
            z_ref, rh_ref = gru_reset_q(gx, gh, h)
            prog.case("gru_reset", np.concatenate([z_ref, gx[hidden:], rh_ref]),
                      [Output("int32_t", 3 * hidden, ngx), Output("int8_t", hidden)],
                      hidden=hidden, gh=ngh, h=nh)
            z = _ints(rng, 0, 32767, hidden)
            gxu = np.concatenate([z, gx[hidden:]])
            prog.case("gru_update", gru_update_q(z, gxu, gh, h, m, r), [Output("int8_t", hidden, nh)],
                      cell=gru, gx=prog.array("int32_t", gxu), gh=ngh)
    q = np.concatenate([np.arange(-32768, 32768, 79), [-40000, 40000, arith.INT32_MIN, arith.INT32_MAX, 32767,
                                                       -32768, 0, 1, -1]])
    nq = prog.array("int32_t", q)
    sat = np.clip(q, -32768, 32767)
    prog.case("sigmoid", lut.sigmoid_q15(sat), [Output("int16_t", q.size)], x=nq, n=q.size)
    prog.case("tanh", lut.tanh_q15(sat), [Output("int16_t", q.size)], x=nq, n=q.size)
    for c in prog.cases:
        c.expected = np.asarray(c.expected, dtype=np.int64).ravel()
    return prog


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple[CasesProgram, Path]:
    prog = build_program()
    src = tmp_path_factory.mktemp("kernel_paths") / "kernel_paths.c"
    src.write_text(prog.source())
    return prog, src


@pytest.mark.parametrize("target,define", PATHS, ids=[f"{t}-{d or 'default'}" for t, d in PATHS])
def test_every_path_is_bit_exact(program, tmp_path, target, define):
    prog, src = program
    fields = run_cases(prog, src, target, tmp_path / "build",
                       defines={define: None} if define else None, timeout_s=120)
    got = {k: [int(v) for v in f] for k, f in fields.items()}
    bad = [k for k, want in enumerate(prog.expected) if got[k] != want.tolist()]
    assert not bad, (f"{len(bad)} of {len(prog.expected)} cases differ on {target} {define}: "
                     + "; ".join(prog.describe(k) for k in bad[:4]))
