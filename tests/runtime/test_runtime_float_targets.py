"""The float32 kernels on Cortex-M targets under QEMU, against float64 references.

The host tests (test_runtime_kernels.py) run the portable arithmetic of an x86-64 build;
on a Cortex-M with an FPU the same C compiles to fused multiply-adds (DKGEN_MACF) and the
4 x 4 register blocks of dkgen_gemm_f32.h see different register allocation, and on the M0
everything is soft float. One program per target runs the Kronecker, dense and CSR kernels
on shapes that reach every block remainder, and sigmoid / tanh over their range; the test
holds each result to the tolerance the host tests use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kernel_cases import CasesProgram, run_cases

pytestmark = pytest.mark.qemu

SOURCES = ["dkgen_kron_matvec_f32.c", "dkgen_dense_matvec_f32.c", "dkgen_csr_matvec_f32.c",
           "dkgen_activation_f32.c", "dkgen_lstm_cell_f32.c"]
TARGETS = ["cortex-m0", "cortex-m4", "cortex-m7", "cortex-m55"]
RTOL = 1e-5

KRON_DIMS = [(1, 1, 1, 1), (2, 3, 4, 5), (5, 4, 3, 2), (8, 4, 32, 2), (16, 8, 16, 8), (4, 4, 4, 4),
             (7, 9, 5, 3), (9, 2, 6, 11), (1, 6, 1, 7), (6, 1, 7, 1), (3, 13, 9, 4)]
DENSE = [(1, 1), (3, 5), (4, 8), (10, 64), (7, 33), (13, 2), (0, 3), (4, 0)]


def _hex(v) -> str:
    return f"{float(np.float32(v)).hex()}f"


class Program(CasesProgram):
    """expected: (float64 reference, magnitude the tolerance scales with) per case."""

    def __init__(self) -> None:
        super().__init__(SOURCES, [("float", "out", 512), ("float", "scratch", 512)],
                         show_float_bits=True)

    def array(self, values, ctype: str = "float") -> str:
        name = f"d{len(self.decls)}"
        flat = np.asarray(values).ravel()
        body = ", ".join(_hex(v) if ctype == "float" else str(int(v)) for v in flat) or "0"
        self.decls.append(f"static const {ctype} {name}[{max(1, flat.size)}] = {{{body}}};")
        return name

    def case(self, n: int, init: str | None, call: str, ref, mag) -> None:
        k = len(self.expected)
        pre = f"memcpy(out, {init}, sizeof({init}));" if init else ""
        show = f"for (i = 0u; i < {n}u; i++) {{ show(out[i]); }}" if n else ""
        self.calls.append(f'    {{ {pre} {call}; printf("R {k}"); {show} printf("\\n"); }}')
        self.expected.append((np.asarray(ref, np.float64).ravel(), np.asarray(mag, np.float64).ravel()))


def build_program(seed: int = 7) -> Program:
    rng = np.random.default_rng(seed)
    prog = Program()

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    for m1, n1, m2, n2 in KRON_DIMS:
        for order in (0, 1):
            a, b, x, y0 = randn(m1, n1), randn(m2, n2), randn(n1 * n2), randn(m1 * m2)
            w = np.kron(a.astype(np.float64), b.astype(np.float64))
            na, nb, nx, ny = prog.array(a), prog.array(b), prog.array(x), prog.array(y0)
            prog.case(m1 * m2, ny,
                      f"{{ const dkgen_kron_f32_t k = {{ {na}, {nb}, {m1}u, {n1}u, {m2}u, {n2}u, {order}u }}; "
                      f"dkgen_kron_matvec_f32(&k, {nx}, out, scratch); }}",
                      y0 + w @ x, np.abs(y0) + np.abs(w) @ np.abs(x.astype(np.float64)))
    for rows, cols in DENSE:
        w, x, y0 = randn(rows, cols), randn(cols), randn(rows)
        nw, nx, ny = prog.array(w), prog.array(x), prog.array(y0)
        w64 = w.astype(np.float64)
        prog.case(rows, ny, f"dkgen_dense_matvec_f32({nw}, {rows}u, {cols}u, {nx}, out)",
                  y0 + w64 @ x, np.abs(y0) + np.abs(w64) @ np.abs(x.astype(np.float64)))
    for rows, cols, density in [(40, 9, 0.05), (17, 23, 0.3), (5, 5, 1.0), (30, 8, 0.0), (64, 64, 0.01)]:
        s = randn(rows, cols) * (rng.random((rows, cols)) < density)
        s[-1, :] = 0.0
        r, c = np.nonzero(s)
        row_ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=rows))])
        x, y0 = randn(cols), randn(rows)
        s64 = s.astype(np.float64)
        for width in (16, 32):
            rp = prog.array(row_ptr, "uint16_t" if width == 16 else "uint32_t")
            ptrs = f"{rp}, NULL" if width == 16 else f"NULL, {rp}"
            nc, nv = prog.array(c, "uint16_t"), prog.array(s[r, c])
            nx, ny = prog.array(x), prog.array(y0)
            prog.case(rows, ny, f"{{ const dkgen_csr_f32_t m = {{ {ptrs}, {nc}, {nv}, {rows}u }}; "
                                f"dkgen_csr_matvec_f32(&m, {nx}, out); }}",
                      y0 + s64 @ x, np.abs(y0) + np.abs(s64) @ np.abs(x.astype(np.float64)))
    grid = np.concatenate([np.linspace(-20, 20, 401), [0.0, -0.0, 1e-30, -1e-30, 0.34999, 0.35, 0.35001,
                                                         -86.9, -87.5, 87.5, 1e30, -1e30]]).astype(np.float32)
    ng = prog.array(grid)
    g64 = grid.astype(np.float64)
    sig = np.where(g64 >= 0, 1 / (1 + np.exp(-np.abs(g64))), np.exp(-np.abs(g64)) / (1 + np.exp(-np.abs(g64))))
    prog.case(grid.size, None, f"for (i = 0u; i < {grid.size}u; i++) {{ out[i] = dkgen_sigmoid_f32({ng}[i]); }}",
              sig, np.abs(sig))
    prog.case(grid.size, None, f"for (i = 0u; i < {grid.size}u; i++) {{ out[i] = dkgen_tanh_f32({ng}[i]); }}",
              np.tanh(g64), np.abs(np.tanh(g64)))
    return prog


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple[Program, Path]:
    prog = build_program()
    src = tmp_path_factory.mktemp("float_targets") / "float_kernels.c"
    src.write_text(prog.source())
    return prog, src


@pytest.mark.parametrize("target", TARGETS)
def test_float_kernels_on_target(program, tmp_path, target):
    prog, src = program
    fields = run_cases(prog, src, target, tmp_path / "build", timeout_s=300)
    got = {k: np.array([int(v, 16) for v in f], dtype=np.uint32).view(np.float32)
           for k, f in fields.items()}
    for k, (ref, mag) in enumerate(prog.expected):
        err = np.abs(got[k].astype(np.float64) - ref)
        assert np.all(err <= RTOL * mag + 1e-30), (target, k, prog.calls[k][:200], float(np.max(err - RTOL * mag)))
