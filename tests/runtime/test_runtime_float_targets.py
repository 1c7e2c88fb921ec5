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
from kernel_cases import CasesProgram, Output, run_cases

pytestmark = pytest.mark.qemu

SOURCES = ["dkgen_kron_matvec_f32.c", "dkgen_dense_matvec_f32.c", "dkgen_csr_matvec_f32.c",
           "dkgen_activation_f32.c", "dkgen_lstm_cell_f32.c"]
TARGETS = ["cortex-m0", "cortex-m4", "cortex-m7", "cortex-m55"]
RTOL = 1e-5

KRON_DIMS = [(1, 1, 1, 1), (2, 3, 4, 5), (5, 4, 3, 2), (8, 4, 32, 2), (16, 8, 16, 8), (4, 4, 4, 4),
             (7, 9, 5, 3), (9, 2, 6, 11), (1, 6, 1, 7), (6, 1, 7, 1), (3, 13, 9, 4)]
DENSE = [(1, 1), (3, 5), (4, 8), (10, 64), (7, 33), (13, 2), (0, 3), (4, 0)]


def build_program(seed: int = 7) -> CasesProgram:
    """expected: (float64 reference, magnitude the tolerance scales with) per case."""
    rng = np.random.default_rng(seed)
    prog = CasesProgram("runtime/float_kernels.c.j2", SOURCES,
                        [("float", "out", 512), ("float", "scratch", 512)], show_float_bits=True)

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def f64(v):
        return np.asarray(v, np.float64)

    for m1, n1, m2, n2 in KRON_DIMS:
        for order in (0, 1):
            a, b, x, y0 = randn(m1, n1), randn(m2, n2), randn(n1 * n2), randn(m1 * m2)
            w = np.kron(f64(a), f64(b))
            kron = {"a": prog.array("float", a), "b": prog.array("float", b), "m1": m1, "n1": n1,
                    "m2": m2, "n2": n2, "order": order}
            prog.case("kron", (y0 + w @ x, np.abs(y0) + np.abs(w) @ np.abs(f64(x))),
                      [Output("float", m1 * m2, prog.array("float", y0))],
                      kron=kron, x=prog.array("float", x))
    for rows, cols in DENSE:
        w, x, y0 = randn(rows, cols), randn(cols), randn(rows)
        w64 = f64(w)
        prog.case("dense", (y0 + w64 @ x, np.abs(y0) + np.abs(w64) @ np.abs(f64(x))),
                  [Output("float", rows, prog.array("float", y0))],
                  w=prog.array("float", w), rows=rows, cols=cols, x=prog.array("float", x))
    for rows, cols, density in [(40, 9, 0.05), (17, 23, 0.3), (5, 5, 1.0), (30, 8, 0.0), (64, 64, 0.01)]:
        s = randn(rows, cols) * (rng.random((rows, cols)) < density)
        s[-1, :] = 0.0
        r, c = np.nonzero(s)
        row_ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=rows))])
        x, y0 = randn(cols), randn(rows)
        s64 = f64(s)
        for width in (16, 32):
            rp = prog.array("uint16_t" if width == 16 else "uint32_t", row_ptr)
            csr = {"row_ptr16": rp if width == 16 else None, "row_ptr32": rp if width == 32 else None,
                   "col": prog.array("uint16_t", c), "val": prog.array("float", s[r, c]), "rows": rows}
            prog.case("csr", (y0 + s64 @ x, np.abs(y0) + np.abs(s64) @ np.abs(f64(x))),
                      [Output("float", rows, prog.array("float", y0))],
                      csr=csr, x=prog.array("float", x))
    grid = np.concatenate([np.linspace(-20, 20, 401), [0.0, -0.0, 1e-30, -1e-30, 0.34999, 0.35, 0.35001,
                                                         -86.9, -87.5, 87.5, 1e30, -1e30]]).astype(np.float32)
    ng = prog.array("float", grid)
    g64 = f64(grid)
    sig = np.where(g64 >= 0, 1 / (1 + np.exp(-np.abs(g64))), np.exp(-np.abs(g64)) / (1 + np.exp(-np.abs(g64))))
    prog.case("sigmoid", (sig, np.abs(sig)), [Output("float", grid.size)], x=ng, n=grid.size)
    prog.case("tanh", (np.tanh(g64), np.abs(np.tanh(g64))), [Output("float", grid.size)], x=ng, n=grid.size)
    for case in prog.cases:
        case.expected = tuple(np.asarray(e, np.float64).ravel() for e in case.expected)
    return prog


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple[CasesProgram, Path]:
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
        assert np.all(err <= RTOL * mag + 1e-30), (target, prog.describe(k), float(np.max(err - RTOL * mag)))
