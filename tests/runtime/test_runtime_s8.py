"""The int8 runtime kernels against the numpy integer reference (dkgen.quant), bit for bit.

The driver (kernel_driver_s8.c) is built with the strict flags plus AddressSanitizer and
UndefinedBehaviorSanitizer, so an out-of-bounds access or a signed overflow in a kernel
fails the test even when the numbers happen to agree.  Shapes and values come from
hypothesis (including 0- and 1-sized dimensions and the extremes of every integer type);
sigmoid and tanh are checked exhaustively over all 65536 inputs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dkgen.quant import arith, lut
from dkgen.quant.model import (
    LEAKY_ALPHA_MAX,
    LEAKY_FRAC,
    PER_INNER,
    PER_OUTER,
    PER_TENSOR,
    QDope,
    QKron,
    QKronMulti,
    Requant,
)
from dkgen.quant.reference import (
    affine_q,
    gru_cell_q,
    gru_reset_q,
    gru_update_q,
    leaky_relu_q,
    log_softmax_q,
    lstm_cell_q,
    rnn_cell_q,
    softmax_q,
)

HERE = Path(__file__).resolve().parent
RUNTIME = HERE.parents[1] / "runtime"
S8_SOURCES = sorted(p for p in RUNTIME.glob("*.c")
                    if p.stem.endswith(("_s8", "_s16", "_s32", "_s8s16")))
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Driver:
    def __init__(self, exe: Path) -> None:
        self.exe = exe
        self.env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0",
                        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")

    def run(self, kernel: str, sizes: list[int], *arrays: np.ndarray) -> bytes:
        parts = [np.asarray(sizes, dtype="<i8").astype("<u4").tobytes()]
        parts += [np.ascontiguousarray(a).tobytes() for a in arrays]
        proc = subprocess.run([str(self.exe), kernel], input=b"".join(parts), capture_output=True,
                              timeout=60, env=self.env)
        assert proc.returncode == 0, f"{kernel} {sizes}: exit {proc.returncode}: {proc.stderr.decode()}"
        return proc.stdout


@pytest.fixture(scope="module")
def s8(cbuild, tmp_path_factory) -> Driver:
    out = tmp_path_factory.mktemp("driver_s8") / "kernel_driver_s8"
    cbuild.compile_or_fail([cbuild.toolchain("gcc")[0], *cbuild.strict_flags, *cbuild.extra_flags,
                            "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            f"-I{RUNTIME}", str(HERE / "kernel_driver_s8.c"),
                            *(str(p) for p in S8_SOURCES), "-o", str(out)])
    return Driver(out)


def i8(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int8)


def i16(a) -> np.ndarray:
    return np.asarray(a, dtype="<i2")


def i32(a) -> np.ndarray:
    return np.asarray(a, dtype="<i4")


def int_arrays(rng: np.random.Generator, lo: int, hi: int, size, extreme: float = 0.2) -> np.ndarray:
    """Uniform integers with a share of them at the ends of the range."""
    v = rng.integers(lo, hi + 1, size=size, dtype=np.int64)
    pick = rng.random(size) < extreme
    return np.where(pick, rng.choice([lo, hi], size=size), v)


def random_requant(rng: np.random.Generator, per: str, outer: int, inner: int) -> Requant:
    n = {PER_TENSOR: 1, PER_OUTER: outer, PER_INNER: inner}[per]
    real = np.exp(rng.uniform(np.log(1e-12), np.log(2.0**29), size=n))
    return Requant.from_real(real, per, outer, inner)


# --- activations and tables ------------------------------------------------------------


def test_tables_in_the_c_files_are_the_functions():
    made, read = lut.make_tables(), lut.tables()
    for name in ("sigmoid", "tanh", "exp2", "log2"):
        assert np.array_equal(made[name], read[name]), name


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_activation_exhaustive(s8, fn):
    q = np.arange(-32768, 32768, dtype=np.int64)
    got = np.frombuffer(s8.run(fn, [q.size], i16(q)), dtype="<i2").astype(np.int64)
    ref = lut.sigmoid_q15(q) if fn == "sigmoid" else lut.tanh_q15(q)
    assert np.array_equal(got, ref)
    x = q / 4096.0
    exact = 1.0 / (1.0 + np.exp(-x)) if fn == "sigmoid" else np.tanh(x)
    assert np.abs(got / 32768.0 - exact).max() < 4 / 32768.0
    assert np.all(np.diff(got) >= 0)


# --- requantisation --------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), outer=st.integers(1, 9), inner=st.integers(1, 9),
       per=st.sampled_from([PER_TENSOR, PER_OUTER, PER_INNER]))
def test_requant_kernels(s8, seed, outer, inner, per):
    rng = np.random.default_rng(seed)
    rq = random_requant(rng, per, outer, inner)
    acc = int_arrays(rng, arith.INT32_MIN, arith.INT32_MAX, outer * inner, extreme=0.3)
    head = [outer, inner, rq.per_code, rq.mult.size]
    ref = rq.apply(acc)
    got8 = np.frombuffer(s8.run("requant8", head, i32(rq.mult), i8(rq.shift), i32(acc)), np.int8)
    assert np.array_equal(got8, arith.sat8(ref))
    lo, hi = sorted(int(v) for v in rng.integers(-32768, 32768, size=2))
    got16 = np.frombuffer(s8.run("requant16", [*head, lo, hi], i32(rq.mult), i8(rq.shift), i32(acc)), "<i2")
    assert np.array_equal(got16, np.clip(ref, lo, hi))
    out = int_arrays(rng, arith.INT32_MIN, arith.INT32_MAX, outer * inner, extreme=0.3)
    gota = np.frombuffer(s8.run("requantadd", head, i32(rq.mult), i8(rq.shift), i32(acc), i32(out)), "<i4")
    assert np.array_equal(gota, arith.sat32(out + ref))


def test_quantize_multiplier_is_close_and_in_range():
    rng = np.random.default_rng(1)
    for real in np.exp(rng.uniform(np.log(1e-15), np.log(2.0**29), size=500)):
        m, r = arith.quantize_multiplier(float(real))
        assert 1 <= r <= 62 and 0 <= m < 2**31
        if r < 62:
            assert m >= 2**30 and abs(m * 2.0**-r / real - 1) < 2**-30
    with pytest.raises(ValueError):
        arith.quantize_multiplier(2.0**31)


# --- matrix products -------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 12), cols=st.integers(0, 40),
       wide=st.booleans())
def test_dense(s8, seed, rows, cols, wide):
    rng = np.random.default_rng(seed)
    w = int_arrays(rng, -128, 127, (rows, cols))
    x = int_arrays(rng, -32768, 32767, cols) if wide else int_arrays(rng, -128, 127, cols)
    acc0 = rng.integers(-2**20, 2**20, size=rows)
    got = s8.run("dense16" if wide else "dense", [rows, cols], i8(w), i16(x) if wide else i8(x), i32(acc0))
    assert np.array_equal(np.frombuffer(got, "<i4"), acc0 + w @ x)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), dims=st.tuples(*[st.integers(1, 9)] * 4),
       order=st.sampled_from([0, 1]), per_row=st.booleans(), t_max=st.sampled_from([1, 255, 32767]))
def test_kron(s8, seed, dims, order, per_row, t_max):
    rng = np.random.default_rng(seed)
    m1, n1, m2, n2 = dims
    a, b = int_arrays(rng, -127, 127, (m1, n1)), int_arrays(rng, -127, 127, (m2, n2))
    first_rows = m1 if order == 1 else m2
    rq = random_requant(rng, PER_OUTER if per_row else PER_TENSOR, first_rows, 1)
    k = QKron(m1 * m2, n1 * n2, a=a, b=b, order=order, t_rq=rq, t_max=t_max)
    x = int_arrays(rng, -128, 127, (1, n1 * n2))
    acc0 = rng.integers(-2**20, 2**20, size=m1 * m2)
    raw = s8.run("kron", [m1, n1, m2, n2, order, int(per_row), t_max, rq.mult.size],
                 i8(a), i8(b), i32(rq.mult), i8(rq.shift), i8(x), i32(acc0))
    scratch = int(np.frombuffer(raw[:4], "<u4")[0])
    assert scratch == 2 * (m1 * n2 if order == 1 else n1 * m2)
    assert np.array_equal(np.frombuffer(raw[4:], "<i4"), acc0 + k.acc(x)[0])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), dims=st.tuples(*[st.integers(1, 7)] * 6),
       order=st.sampled_from([0, 1]), per_row=st.booleans(), t_per=st.sampled_from([PER_TENSOR, PER_OUTER, PER_INNER]),
       t_max=st.sampled_from([1, 255, 32767]), outer=st.sampled_from([0, 1]))
def test_kron_multi(s8, seed, dims, order, per_row, t_per, t_max, outer):
    """F ⊗ (F1 ⊗ F2) (outer order XBT: the inner product on every slice of x) or
    (F1 ⊗ F2) ⊗ F (AX: on every column): its sums requantised into the outer intermediate
    (every way of choosing their multipliers), then F's pass."""
    rng = np.random.default_rng(seed)
    mf, nf, m1, n1, m2, n2 = dims
    f = int_arrays(rng, -127, 127, (mf, nf))
    ia, ib = int_arrays(rng, -127, 127, (m1, n1)), int_arrays(rng, -127, 127, (m2, n2))
    in_rq = random_requant(rng, PER_OUTER if per_row else PER_TENSOR, m1 if order == 1 else m2, 1)
    inner = QKron(m1 * m2, n1 * n2, a=ia, b=ib, order=order, t_rq=in_rq, t_max=32767)
    t_rq = random_requant(rng, t_per, m1, m2)
    empty = np.zeros((0, 0), np.int64)
    k = QKronMulti(mf * m1 * m2, nf * n1 * n2, a=empty if outer else f, b=f if outer else empty,
                   order=outer, t_rq=t_rq, t_max=t_max, inner=inner)
    x = int_arrays(rng, -128, 127, (1, nf * n1 * n2))
    acc0 = rng.integers(-2**20, 2**20, size=mf * m1 * m2)
    per_code = {PER_TENSOR: 0, PER_OUTER: 1, PER_INNER: 2}[t_per]
    raw = s8.run("kron_multi", [mf, nf, m1, n1, m2, n2, order, int(per_row), 32767, in_rq.mult.size,
                                per_code, t_rq.mult.size, t_max, outer],
                 i8(f), i8(ia), i8(ib), i32(in_rq.mult), i8(in_rq.shift), i32(t_rq.mult), i8(t_rq.shift),
                 i8(x), i32(acc0))
    scratch = int(np.frombuffer(raw[:4], "<u4")[0])
    assert scratch == 2 * k.scratch
    assert np.array_equal(np.frombuffer(raw[4:], "<i4"), acc0 + k.acc(x)[0])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 20), cols=st.integers(1, 300),
       density=st.floats(0.0, 0.3), shift=st.integers(0, 12))
def test_dope(s8, seed, rows, cols, density, shift):
    rng = np.random.default_rng(seed)
    nnz = int(density * rows * cols)
    index = np.sort(rng.choice(rows * cols, size=nnz, replace=False)).astype(np.int64)
    d = QDope(rows, cols, index=index, val=int_arrays(rng, -127, 127, nnz), shift=shift)
    steps, vals, bits = d.encode()
    x = int_arrays(rng, -128, 127, (1, cols))
    acc0 = rng.integers(-2**20, 2**20, size=rows)
    step = steps.astype(np.uint8 if bits == 8 else "<u2")
    got = s8.run("dope", [steps.size, cols, shift, bits, rows], step, i8(vals), i8(x), i32(acc0))
    assert np.array_equal(np.frombuffer(got, "<i4"), acc0 + d.acc(x)[0])


def test_dope_long_gaps_use_fillers(s8):
    d = QDope(3, 1000, index=np.array([0, 2999]), val=np.array([5, -7]), shift=2)
    steps, vals, bits = d.encode()
    assert bits == 16 and steps.tolist() == [0, 2999]
    index = np.array([*range(1, 11), 599])
    d8 = QDope(2, 300, index=index, val=np.array([1] * 10 + [-7]), shift=0)
    steps8, vals8, bits8 = d8.encode()
    assert bits8 == 8 and steps8.tolist() == [1] + [1] * 9 + [255, 255, 79]
    assert vals8.tolist() == [1] * 10 + [0, 0, -7]
    x = np.arange(300) % 256 - 128
    got = s8.run("dope", [steps8.size, 300, 0, 8, 2], steps8.astype(np.uint8), i8(vals8), i8(x),
                 i32([0, 0]))
    assert np.frombuffer(got, "<i4").tolist() == [int(x[1:11].sum()), -7 * int(x[299])]


# --- recurrent cells, softmax ------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), hidden=st.integers(1, 40), wide=st.booleans())
def test_rnn_cell(s8, seed, hidden, wide):
    rng = np.random.default_rng(seed)
    gates = int_arrays(rng, -60000, 60000, hidden)  # beyond int16: saturates
    h = int_arrays(rng, -128, 127, hidden)  # overwritten: the cell reads gates alone
    # tanh (Q0.15) to h units: 127 / 2^15 for a layer whose h reaches 1, finer ones below,
    # and (wide) multipliers that saturate h.
    real = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.2)))) if wide else 127 / 32768 / rng.uniform(0.05, 1)
    m, r = arith.quantize_multiplier(real)
    got = np.frombuffer(s8.run("rnn", [hidden, m, r], i32(gates), i8(h)), np.int8)
    ref = rnn_cell_q(gates, m, r)
    assert np.array_equal(got, ref)
    if not wide:  # the cell is tanh: within an int8 unit of the exact function
        exact = np.tanh(np.clip(gates, -32768, 32767) / 4096.0) * 32768 * real
        assert np.abs(ref - np.clip(exact, -128, 127)).max() <= 1.0


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), hidden=st.integers(1, 20), cell_frac=st.integers(0, 15))
def test_lstm_cell(s8, seed, hidden, cell_frac):
    rng = np.random.default_rng(seed)
    gates = int_arrays(rng, -60000, 60000, 4 * hidden)  # beyond int16: saturates
    c = int_arrays(rng, -32768, 32767, hidden)
    h = int_arrays(rng, -128, 127, hidden)
    m, r = arith.quantize_multiplier(float(np.exp(rng.uniform(-40, -10))))
    raw = s8.run("lstm", [hidden, cell_frac, m, r], i32(gates), i16(c), i8(h))
    h_ref, c_ref = lstm_cell_q(gates, c, cell_frac, m, r)
    assert np.array_equal(np.frombuffer(raw[:2 * hidden], "<i2"), c_ref)
    assert np.array_equal(np.frombuffer(raw[2 * hidden:], np.int8), h_ref)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), hidden=st.integers(1, 20))
def test_gru_cell(s8, seed, hidden):
    rng = np.random.default_rng(seed)
    gx = int_arrays(rng, arith.INT32_MIN, arith.INT32_MAX, 3 * hidden, extreme=0.1)
    gx = np.where(rng.random(gx.size) < 0.7, gx % 80000 - 40000, gx)
    gh = int_arrays(rng, -70000, 70000, 3 * hidden)
    h = int_arrays(rng, -128, 127, hidden)
    m, r = arith.quantize_multiplier(float(np.exp(rng.uniform(-40, -10))))
    raw = s8.run("gru", [hidden, m, r], i32(gx), i32(gh), i8(h))
    assert np.array_equal(np.frombuffer(raw, np.int8), gru_cell_q(gx, gh, h, m, r))


# linear_before_reset=0: dkgen_gru_reset_s16, then (outside the kernels) gh = Rb + R (r * h),
# then dkgen_gru_update_s16.

# Q3.12 pre-activation parts at and around every edge: int16's (where the sum saturates),
# int32's (where a 32-bit sum would overflow), 0 and +-1 (the sums 0 give sigmoid = 16384,
# so r * h >> 15 lands exactly on a half for odd h and rounding decides it).
Q312_EDGES = [arith.INT32_MIN, -70000, -32769, -32768, -32767, -1, 0, 1, 32767, 32768, 70000,
              arith.INT32_MAX]
H_EDGES = [-128, -127, -1, 0, 1, 127]


def q312_parts(rng: np.random.Generator, n: int) -> np.ndarray:
    """int32 pre-activation parts: mostly within about +-10 in Q3.12 (past int16's edge, so
    sums saturate), some at int32's ends."""
    v = int_arrays(rng, arith.INT32_MIN, arith.INT32_MAX, n, extreme=0.1)
    return np.where(rng.random(n) < 0.8, v % 80000 - 40000, v)


def random_n_rq(rng: np.random.Generator) -> tuple[int, int]:
    """(n_mult, n_shift): mostly shifts > 32 (the kernels' 32-bit requantisation), some
    multipliers near 1 (shift <= 32, the 64-bit form, and a saturated int8 result)."""
    log_real = rng.uniform(-40, -10) if rng.random() < 0.75 else rng.uniform(-3, -0.5)
    return arith.quantize_multiplier(float(np.exp(log_real)))


def run_gru_reset(s8: Driver, gx: np.ndarray, gh: np.ndarray, h: np.ndarray,
                  rh_before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hidden = h.size
    raw = s8.run("gru_reset", [hidden], i32(gx), i32(gh), i8(h), i8(rh_before))
    assert len(raw) == 13 * hidden
    return np.frombuffer(raw[:12 * hidden], "<i4"), np.frombuffer(raw[12 * hidden:], np.int8)


def check_gru_reset(s8: Driver, rng: np.random.Generator, gx: np.ndarray, gh: np.ndarray,
                    h: np.ndarray) -> None:
    """Against gru_reset_q bit for bit: z in gx[0:H], gx[H:3H] as it was, rh overwritten
    whatever it held before (two different fillings give the same)."""
    hidden = h.size
    z_ref, rh_ref = gru_reset_q(gx, gh, h)
    for rh_before in (np.full(hidden, -128), int_arrays(rng, -128, 127, hidden)):
        gx_after, rh = run_gru_reset(s8, gx, gh, h, rh_before)
        assert np.array_equal(gx_after[:hidden], z_ref)
        assert np.array_equal(gx_after[hidden:], gx[hidden:]), "gx[H:3H] changed"
        assert np.array_equal(rh, rh_ref)


def check_gru_update(s8: Driver, rng: np.random.Generator, z: np.ndarray, gx_h: np.ndarray,
                     gh_h: np.ndarray, h: np.ndarray, n_mult: int, n_shift: int) -> None:
    """Against gru_update_q bit for bit, with z in gx[0:H] and gx[H:2H], gh[0:2H] (which
    the kernel must not read) filled with different garbage each run."""
    hidden = h.size
    fillings = [np.zeros(3 * hidden, np.int64),
                int_arrays(rng, arith.INT32_MIN, arith.INT32_MAX, 3 * hidden, extreme=0.3),
                np.full(3 * hidden, arith.INT32_MAX), np.full(3 * hidden, arith.INT32_MIN)]
    ref = None
    for fill in fillings:
        gx = np.concatenate([z, fill[:hidden], gx_h])
        gh = np.concatenate([fill[hidden:], gh_h])
        if ref is None:
            ref = gru_update_q(z, gx, gh, h, n_mult, n_shift)
        raw = s8.run("gru_update", [hidden, n_mult, n_shift], i32(gx), i32(gh), i8(h))
        assert np.array_equal(np.frombuffer(raw, np.int8), ref), f"gx[H:2H], gh[0:2H] = {fill[:4]}..."


@SETTINGS
@example(seed=1, hidden=1)
@example(seed=2, hidden=17)
@example(seed=3, hidden=37)
@given(seed=st.integers(0, 2**32 - 1), hidden=st.integers(1, 20))
def test_gru_reset(s8, seed, hidden):
    rng = np.random.default_rng(seed)
    gx = q312_parts(rng, 3 * hidden)
    gh = int_arrays(rng, -70000, 70000, 3 * hidden)
    h = int_arrays(rng, -128, 127, hidden, extreme=0.3)
    check_gru_reset(s8, rng, gx, gh, h)


def test_gru_reset_at_the_edges(s8):
    # Every pair of edge values as (gx_r, gh_r), each with every edge of h, then three
    # units with r = sigmoid(0) = 1/2 and odd h (ties); the z block takes the same pairs
    # in random order. 867 units: not a multiple of 4.
    rng = np.random.default_rng(11)
    pairs = np.array([(a, b) for a in Q312_EDGES for b in Q312_EDGES])
    units = np.array([(a, b, hv) for a, b in pairs for hv in H_EDGES])
    hidden = len(units) + 3
    gx_r = np.concatenate([units[:, 0], [0, 0, 0]])
    gh_r = np.concatenate([units[:, 1], [0, 0, 0]])
    h = np.concatenate([units[:, 2], [-3, 5, 7]])
    zp = pairs[rng.integers(0, len(pairs), size=hidden)]
    gx = np.concatenate([zp[:, 0], gx_r, q312_parts(rng, hidden)])
    gh = np.concatenate([zp[:, 1], gh_r, q312_parts(rng, hidden)])
    assert hidden % 4 != 0
    check_gru_reset(s8, rng, gx, gh, h)
    # The ties really are there (rounding half up, not down):
    _, rh = gru_reset_q(gx, gh, h)
    assert rh[-3:].tolist() == [-1, 3, 4]


@SETTINGS
@example(seed=1, hidden=1)
@example(seed=2, hidden=17)
@example(seed=3, hidden=37)
@given(seed=st.integers(0, 2**32 - 1), hidden=st.integers(1, 20))
def test_gru_update(s8, seed, hidden):
    rng = np.random.default_rng(seed)
    # z as the reset kernel leaves it (sigmoid's outputs), with Q0.15's own ends too
    z = lut.sigmoid_q15(arith.sat16(q312_parts(rng, hidden)))
    z = np.where(rng.random(hidden) < 0.15, rng.choice([0, 32767], size=hidden), z)
    gx_h = q312_parts(rng, hidden)
    gh_h = int_arrays(rng, -70000, 70000, hidden)
    h = int_arrays(rng, -128, 127, hidden, extreme=0.3)
    check_gru_update(s8, rng, z, gx_h, gh_h, h, *random_n_rq(rng))


# n_mult * 2^-n_shift on both sides of the kernels' 32-bit requantisation (n_shift > 32):
# 2^-1, 2^-2 (shifts 31, 32), 2^-3 (33), a Q0.30 -> int8 scale, and one with a long shift
N_REALS = [2.0**-1, 2.0**-2, 2.0**-3, 127 * 2.0**-30, 1.37 * 2.0**-24, 2.0**-40]


@pytest.mark.parametrize("n_real", N_REALS, ids=lambda v: f"{v:.3g}")
def test_gru_update_at_the_edges(s8, n_real):
    rng = np.random.default_rng(12)
    z_edges = [0, 1, 11, 16384, 32757, 32766, 32767]
    units = np.array([(zv, a, b, hv) for zv in z_edges for a in Q312_EDGES for b in Q312_EDGES[::3]
                      for hv in H_EDGES])
    hidden = len(units) + 1
    z = np.concatenate([units[:, 0], [16384]])
    gx_h = np.concatenate([units[:, 1], [0]])
    gh_h = np.concatenate([units[:, 2], [0]])
    h = np.concatenate([units[:, 3], [-1]])
    assert hidden % 4 != 0
    check_gru_update(s8, rng, z, gx_h, gh_h, h, *arith.quantize_multiplier(n_real))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), scale=st.floats(1e-4, 50.0))
def test_softmax(s8, seed, n, scale):
    rng = np.random.default_rng(seed)
    x = int_arrays(rng, -128, 127, n)
    beta = lut.exp_beta(scale)
    got = np.frombuffer(s8.run("softmax", [n, beta], i8(x)), "<i2")
    ref = softmax_q(x, beta)
    assert np.array_equal(got, ref)
    exact = np.exp((x - x.max()) * scale)
    assert np.abs(got / 32768.0 - exact / exact.sum()).max() < 2e-3


ALL_S8 = np.arange(-128, 128)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_affine(s8, seed, n):
    rng = np.random.default_rng(seed)
    x = int_arrays(rng, -128, 127, n)
    # Multipliers from 2^-20 to 2^6: shifts on both sides of 32, and outputs that saturate.
    real = np.exp2(rng.uniform(-20, 6, size=n))
    pairs = [arith.quantize_multiplier(float(r)) for r in real]
    mult = np.array([p[0] for p in pairs], np.int64)
    shift = np.array([p[1] for p in pairs], np.int64)
    sign = rng.choice([-1, 1], size=n)
    bias = int_arrays(rng, -(2**31 - 129), 2**31 - 129, n, extreme=0.1) // rng.choice([1, 2**8, 2**20], size=n)
    got = np.frombuffer(s8.run("affine", [n], i32(mult), i8(shift), i8(sign), i32(bias), i8(x)), np.int8)
    ref = affine_q(x, mult, shift, sign, bias)
    assert np.array_equal(got, ref)
    exact = np.clip(np.floor((bias + sign * x) * real + 0.5), -128, 127)
    assert np.abs(ref - exact).max() <= 1


@pytest.mark.parametrize("lo,hi", [(0, 127), (0, 6), (-128, 127), (-20, 35), (-1, -1), (-128, -128),
                                   (127, 127), (-50, 0)])
def test_clip_every_input(s8, lo, hi):
    got = np.frombuffer(s8.run("clip", [ALL_S8.size, lo, hi], i8(ALL_S8)), np.int8)
    assert np.array_equal(got, np.clip(ALL_S8, lo, hi))


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.2, 0.5, 1.0, 0.0, -0.25, 3.0, LEAKY_ALPHA_MAX,
                                   -LEAKY_ALPHA_MAX, 1e-6])
def test_leaky_relu_every_input(s8, alpha):
    mult = int(np.round(alpha * 2.0**LEAKY_FRAC))
    got = np.frombuffer(s8.run("leaky", [ALL_S8.size, mult], i8(ALL_S8)), np.int8)
    ref = leaky_relu_q(ALL_S8, mult)
    assert np.array_equal(got, ref)
    assert np.array_equal(ref[ALL_S8 >= 0], ALL_S8[ALL_S8 >= 0])
    # Below zero: alpha * x rounded to the nearest int8, saturated.
    exact = np.clip(alpha * ALL_S8[ALL_S8 < 0], -128, 127)
    assert np.abs(ref[ALL_S8 < 0] - exact).max() <= 0.5 + 1e-3 * abs(alpha) * 128


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), scale=st.floats(1e-3, 0.5))
@example(seed=0, n=1, scale=0.1)  # one class: log 1 = 0
@example(seed=1, n=5000, scale=0.5)  # a vocabulary: the sum far above 2^16
def test_log_softmax(s8, seed, n, scale):
    rng = np.random.default_rng(seed)
    x = int_arrays(rng, -128, 127, n)
    out_scale = (255 * scale + np.log(n)) / 32767  # what dkgen.quant.quantize chooses
    beta = lut.exp_beta(scale)
    dm, ds = arith.quantize_multiplier(scale / out_scale)
    lm, ls = arith.quantize_multiplier(np.log(2.0) / 65536 / out_scale)
    got = np.frombuffer(s8.run("logsoftmax", [n, beta, dm, ds, lm, ls], i8(x)), "<i2")
    ref = log_softmax_q(x, beta, (dm, ds), (lm, ls))
    assert np.array_equal(got, ref)
    shifted = (x - x.max()) * scale
    exact = shifted - np.log(np.exp(shifted).sum())
    assert ref.max() <= 0 and ref.min() > -32768  # never saturates
    # The table sum is within 2e-3 relative of the exact one, so its log within 2e-3.
    assert np.abs(ref * out_scale - exact).max() < 2e-3 + 2 * out_scale


def test_log2_table_against_numpy():
    s = np.unique(np.concatenate([np.arange(1, 70000), np.geomspace(1, 2**32 - 1, 5000).astype(np.int64),
                                  [2**31 - 1, 2**31, 2**32 - 1]]))
    got = lut.log2_q16(s) / 65536.0
    # The 16 fraction bits kept (the rest truncated) and the interpolation: 3 Q16 units.
    assert np.abs(got - np.log2(s)).max() < 3 / 65536


# --- the float boundary --------------------------------------------------------------------


def test_quantize_and_dequantize_bit_exact(s8):
    rng = np.random.default_rng(7)
    inv = np.float32(37.25)
    halves = (np.arange(-260, 260) + 0.5) / inv
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-45, -1e-45,
                127.5 / inv, -128.5 / inv, 126.5 / inv, -127.5 / inv, 0.5 / inv, -0.5 / inv]
    x = np.concatenate([rng.normal(scale=3.0, size=2000), halves, specials,
                        np.nextafter(halves, np.inf), np.nextafter(halves, -np.inf)]).astype(np.float32)
    got = np.frombuffer(s8.run("quantize", [x.size, int(inv.view(np.uint32))], x.astype("<f4")), np.int8)
    assert np.array_equal(got, arith.quantize_input(x, inv))
    scale = np.float32(0.0123)
    for kind, q in (("dequant8", i8(np.arange(-128, 128))), ("dequant16", i16(np.arange(-32768, 32768, 7)))):
        y = np.frombuffer(s8.run(kind, [q.size, int(scale.view(np.uint32))], q), "<f4")
        assert np.array_equal(y.view(np.uint32), arith.dequantize(q, scale).view(np.uint32))
