"""Each runtime kernel, compiled on the host with the strict flags, against numpy.

The references are computed in float64 from the same float32 inputs. Sums are
checked against a bound that scales with sum |terms| (the size of float32 rounding
error in a dot product), so results that cancel to near zero are judged fairly.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

RTOL = 1e-5


def rng_for(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def f32(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def assert_sum_close(got: np.ndarray, ref: np.ndarray, magnitude: np.ndarray) -> None:
    """|got - ref| <= RTOL * magnitude, where magnitude = sum of |terms| per element."""
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    bound = RTOL * magnitude + 1e-30
    worst = int(np.argmax(err / bound)) if err.size else 0
    assert np.all(err <= bound), (
        f"element {worst}: got {got.flat[worst]!r}, want {ref.flat[worst]!r}, "
        f"err {err.flat[worst]:.3g} > bound {bound.flat[worst]:.3g}"
    )


def sums_differ(got: np.ndarray, ref: np.ndarray, magnitude: np.ndarray) -> bool:
    return bool(np.any(np.abs(got.astype(np.float64) - ref) > RTOL * magnitude + 1e-30))


# --- dense -------------------------------------------------------------------------


def dense_case(rng: np.random.Generator, rows: int, cols: int):
    w = randn(rng, rows, cols)
    x = randn(rng, cols)
    y0 = randn(rng, rows)
    w64, x64 = w.astype(np.float64), x.astype(np.float64)
    ref = y0 + w64 @ x64
    mag = np.abs(y0) + np.abs(w64) @ np.abs(x64)
    return (w, x, y0), ref, mag


def run_dense(drv, w, x, y0) -> np.ndarray:
    rows, cols = w.shape
    return f32(drv.run("dense", [rows, cols], w, x, y0))


DENSE_SHAPES = [(1, 1), (1, 7), (7, 1), (3, 5), (5, 3), (16, 16), (33, 17), (64, 200)]


@pytest.mark.parametrize("rows,cols", DENSE_SHAPES)
def test_dense_matvec_accumulates_wx(driver, rows, cols):
    (w, x, y0), ref, mag = dense_case(rng_for("dense", rows, cols), rows, cols)
    assert_sum_close(run_dense(driver, w, x, y0), ref, mag)


def test_dense_matvec_empty_shapes_leave_y_alone(driver):
    y0 = np.arange(5, dtype=np.float32)
    assert (
        run_dense(driver, np.zeros((5, 0), np.float32), np.zeros(0, np.float32), y0).tolist()
        == y0.tolist()
    )
    assert (
        run_dense(
            driver, np.zeros((0, 5), np.float32), np.ones(5, np.float32), np.zeros(0, np.float32)
        ).size
        == 0
    )


# --- Kronecker ---------------------------------------------------------------------


def kron_case(rng: np.random.Generator, m1: int, n1: int, m2: int, n2: int):
    a = randn(rng, m1, n1)
    b = randn(rng, m2, n2)
    x = randn(rng, n1 * n2)
    y0 = randn(rng, m1 * m2)
    # The oracle materialises W; the kernel must not need to.
    w64 = np.kron(a.astype(np.float64), b.astype(np.float64))
    assert w64.shape == (m1 * m2, n1 * n2)
    ref = y0 + w64 @ x.astype(np.float64)
    mag = np.abs(y0) + np.abs(w64) @ np.abs(x.astype(np.float64))
    return (a, b, x, y0), ref, mag


def run_kron(drv, a, b, x, y0, order: int) -> tuple[int, np.ndarray]:
    (m1, n1), (m2, n2) = a.shape, b.shape
    out = drv.run("kron", [m1, n1, m2, n2, order], a, b, x, y0)
    scratch_bytes = int(np.frombuffer(out[:4], dtype="<u4")[0])
    return scratch_bytes, f32(out[4:])


def expected_scratch_bytes(m1: int, n1: int, m2: int, n2: int, order: int) -> int:
    return 4 * (m1 * n2 if order == 1 else n1 * m2)


KRON_SHAPES = [
    (1, 1, 1, 1),
    (1, 1, 3, 5),  # A is a scalar
    (3, 5, 1, 1),  # B is a scalar
    (1, 4, 4, 1),  # row (x) column
    (4, 1, 1, 4),  # column (x) row
    (1, 6, 1, 7),  # W is a single row
    (6, 1, 7, 1),  # W is a single column
    (2, 3, 4, 5),
    (5, 4, 3, 2),
    (7, 3, 1, 9),
    (3, 11, 13, 2),
    (16, 16, 16, 16),
    (8, 25, 32, 10),  # a 256 x 250 LSTM-sized block
]
_shape_rng = np.random.default_rng(20010889)
KRON_SHAPES += [tuple(int(v) for v in _shape_rng.integers(1, 13, size=4)) for _ in range(8)]


# --- Kronecker products of three or four factors ---------------------------------------

KRON_MULTI_SHAPES = [
    ((2, 3), (4, 1), (6, 2)),
    ((1, 1), (3, 5), (2, 2)),
    ((3, 2), (1, 4), (2, 3), (2, 2)),
    ((10, 5), (10, 5), (8, 8)),  # an 800 x 200 LSTM gate matrix at its smallest
]


def run_kron_multi(drv, factors, x, y0, passes) -> tuple[int, np.ndarray]:
    sizes = [len(factors), *(d for f in factors for d in f.shape), *passes]
    out = drv.run("kron_multi", sizes, *factors, x, y0)
    return int(np.frombuffer(out[:4], dtype="<u4")[0]), f32(out[4:])


@pytest.mark.parametrize("shapes", KRON_MULTI_SHAPES, ids=lambda s: "-".join(f"{m}x{n}" for m, n in s))
def test_kron_multi_matvec_matches_materialised_kron_in_every_pass_order(driver, shapes):
    """Every order of the passes gives the product (the generator picks the cheapest),
    within the scratch that dkgen.codegen.pack plans for it."""
    import itertools

    from dkgen.codegen.pack import kron_multi_passes

    rng = rng_for("kron_multi", shapes)
    factors = [randn(rng, m, n) for m, n in shapes]
    w64 = factors[0].astype(np.float64)
    for f in factors[1:]:
        w64 = np.kron(w64, f.astype(np.float64))
    x, y0 = randn(rng, w64.shape[1]), randn(rng, w64.shape[0])
    ref = y0 + w64 @ x.astype(np.float64)
    mag = np.abs(y0) + np.abs(w64) @ np.abs(x.astype(np.float64))
    best, _, planned = kron_multi_passes(shapes)
    for passes in itertools.permutations(range(len(shapes))):
        scratch_bytes, got = run_kron_multi(driver, factors, x, y0, passes)
        assert_sum_close(got, ref, mag)
        if passes == best:
            assert scratch_bytes == 4 * planned


@pytest.mark.parametrize("order", [0, 1], ids=["XBT", "AX"])
@pytest.mark.parametrize("shape", KRON_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_kron_matvec_matches_materialised_kron(driver, shape, order):
    (a, b, x, y0), ref, mag = kron_case(rng_for("kron", shape), *shape)
    scratch_bytes, got = run_kron(driver, a, b, x, y0, order)
    # The driver also checks the kernel stays inside those bytes and never reads
    # scratch before writing it (it is NaN-filled).
    assert scratch_bytes == expected_scratch_bytes(*shape, order)
    assert_sum_close(got, ref, mag)


def test_kron_unknown_order_means_xbt(driver):
    shape = (3, 4, 5, 2)
    (a, b, x, y0), ref, mag = kron_case(rng_for("kron-order", shape), *shape)
    scratch_bytes, got = run_kron(driver, a, b, x, y0, order=7)
    assert scratch_bytes == expected_scratch_bytes(*shape, 0)
    assert_sum_close(got, ref, mag)


def test_kron_orders_agree_on_structured_factors(driver):
    # Identity factors make W a permutation-free block matrix whose product is exact.
    a = np.eye(3, dtype=np.float32)
    b = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    x = np.arange(9, dtype=np.float32)
    y0 = np.zeros(6, np.float32)
    want = (np.kron(a, b) @ x).astype(np.float32)
    for order in (0, 1):
        assert run_kron(driver, a, b, x, y0, order)[1].tolist() == want.tolist()


# --- CSR ---------------------------------------------------------------------------


def csr_from_dense(s: np.ndarray):
    rows_idx, cols_idx = np.nonzero(s)
    row_ptr = np.zeros(s.shape[0] + 1, dtype=np.int64)
    np.add.at(row_ptr, rows_idx + 1, 1)
    return np.cumsum(row_ptr), cols_idx, s[rows_idx, cols_idx].astype(np.float32)


def run_csr(drv, row_ptr, col, val, x, y0, width: int) -> np.ndarray:
    rows = len(y0)
    ptr_dtype = {16: np.uint16, 32: np.uint32}[width]
    assert int(row_ptr[-1]) <= np.iinfo(ptr_dtype).max
    out = drv.run(
        "csr",
        [rows, len(val), width, len(x)],
        np.asarray(row_ptr, dtype=ptr_dtype),
        np.asarray(col, dtype=np.uint16),
        np.asarray(val, dtype=np.float32),
        x,
        y0,
    )
    return f32(out)


CSR_CASES = [
    # rows, cols, density
    (1, 1, 1.0),
    (1, 40, 0.3),
    (40, 1, 0.3),
    (17, 23, 0.05),  # many empty rows
    (64, 64, 0.005),  # a dope: far fewer entries than rows
    (30, 50, 0.0),  # nothing at all
    (50, 30, 1.0),  # fully dense
]


@pytest.mark.parametrize("width", [16, 32])
@pytest.mark.parametrize("rows,cols,density", CSR_CASES)
def test_csr_matvec_matches_dense(driver, rows, cols, density, width):
    rng = rng_for("csr", rows, cols, density)
    s = randn(rng, rows, cols) * (rng.random((rows, cols)) < density)
    s[-1, :] = 0.0  # a trailing empty row
    row_ptr, col, val = csr_from_dense(s)
    x = randn(rng, cols)
    y0 = randn(rng, rows)
    s64 = s.astype(np.float64)
    ref = y0 + s64 @ x
    mag = np.abs(y0) + np.abs(s64) @ np.abs(x.astype(np.float64))
    assert_sum_close(run_csr(driver, row_ptr, col, val, x, y0, width), ref, mag)


def test_csr_matvec_extreme_indices(driver):
    # 65535 rows (the most a uint16_t holds), column 65535 used, 16-bit pointers.
    rows, cols = 65535, 65536
    rng = rng_for("csr-extreme")
    entries = {(0, 0): 1.5, (0, cols - 1): -2.0, (rows // 2, 7): 0.25, (rows - 1, cols - 1): 3.0}
    counts = np.zeros(rows + 1, dtype=np.int64)
    for r, _ in entries:
        counts[r + 1] += 1
    row_ptr = np.cumsum(counts)
    ordered = sorted(entries.items())
    col = [c for (_, c), _v in ordered]
    val = np.array([v for _, v in ordered], dtype=np.float32)
    x = randn(rng, cols)
    y0 = randn(rng, rows)
    ref = y0.astype(np.float64)
    for (r, c), v in entries.items():
        ref[r] += v * float(x[c])
    for width in (16, 32):
        got = run_csr(driver, row_ptr, col, val, x, y0, width)
        assert_sum_close(got, ref, np.abs(ref) + 10.0)


def test_csr_matvec_many_entries_need_32_bit_pointers(driver):
    rows, cols = 300, 300
    rng = rng_for("csr-wide")
    s = randn(rng, rows, cols) * (rng.random((rows, cols)) < 0.8)
    row_ptr, col, val = csr_from_dense(s)
    assert row_ptr[-1] > 65535
    x = randn(rng, cols)
    y0 = randn(rng, rows)
    s64 = s.astype(np.float64)
    ref = y0 + s64 @ x
    mag = np.abs(y0) + np.abs(s64) @ np.abs(x.astype(np.float64))
    assert_sum_close(run_csr(driver, row_ptr, col, val, x, y0, 32), ref, mag)


def test_csr_matvec_duplicate_columns_add_up(driver):
    row_ptr = np.array([0, 3, 3], dtype=np.uint16)
    col = np.array([1, 1, 0], dtype=np.uint16)
    val = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    x = np.array([10.0, 100.0], dtype=np.float32)
    y0 = np.array([0.5, -0.5], dtype=np.float32)
    got = run_csr(driver, row_ptr, col, val, x, y0, 16)
    assert got.tolist() == [340.5, -0.5]


def test_csr_matvec_without_row_pointers_does_nothing(driver):
    y0 = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    out = driver.run("csr", [3, 0, 0, 2], np.zeros(2, np.float32), y0)
    assert f32(out).tolist() == y0.tolist()


# --- activations -------------------------------------------------------------------

SPECIALS = np.array(
    [
        0.0,
        -0.0,
        1e-8,
        -1e-8,
        1.0,
        -1.0,
        15.0,
        -15.0,
        30.0,
        -30.0,
        87.0,
        -87.0,
        88.8,
        -88.8,
        89.0,
        -89.0,
        104.0,
        -104.0,
        200.0,
        -200.0,
        1e4,
        -1e4,
        3.4e38,
        -3.4e38,
        np.inf,
        -np.inf,
    ],
    dtype=np.float32,
)


def sigmoid64(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def run_sigmoid(drv, x: np.ndarray) -> tuple[np.ndarray, int]:
    out = drv.run("sigmoid", [len(x)], x)
    return f32(out[:-4]), int(np.frombuffer(out[-4:], dtype="<u4")[0])


def test_sigmoid_accurate_over_its_range(driver):
    x = np.linspace(-80.0, 80.0, 4001, dtype=np.float32)
    got, flags = run_sigmoid(driver, x)
    assert flags == 0
    ref = sigmoid64(x)
    # Relative accuracy holds even far into the negative tail (no 1 - e cancellation).
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0.0)
    assert np.all(np.diff(got) >= 0.0)


def test_sigmoid_extreme_inputs_saturate_without_overflow(driver):
    got, flags = run_sigmoid(driver, SPECIALS)
    assert flags == 0, "sigmoid raised a floating-point overflow or invalid exception"
    assert np.all(np.isfinite(got))
    assert np.all((got >= 0.0) & (got <= 1.0))
    by_x = dict(zip(SPECIALS.tolist(), got.tolist(), strict=True))
    assert by_x[0.0] == 0.5
    assert by_x[np.inf] == 1.0 and by_x[1e4] == 1.0 and by_x[200.0] == 1.0
    assert by_x[-np.inf] == 0.0 and by_x[-1e4] == 0.0 and by_x[-200.0] == 0.0
    normal = np.abs(SPECIALS) < 87.0
    np.testing.assert_allclose(got[normal], sigmoid64(SPECIALS[normal]), rtol=RTOL, atol=0.0)


def test_tanh(driver):
    x = np.concatenate([np.linspace(-20.0, 20.0, 2001, dtype=np.float32), SPECIALS])
    got = f32(driver.run("tanh", [len(x)], x))
    np.testing.assert_allclose(got, np.tanh(x.astype(np.float64)), rtol=RTOL, atol=1e-30)


def softmax64(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - np.max(x))
    return e / e.sum()


SOFTMAX_INPUTS = {
    "one": np.array([3.0], np.float32),
    "two": np.array([-1.0, 1.0], np.float32),
    "equal": np.full(7, 2.5, np.float32),
    "random100": randn(rng_for("softmax", 100), 100, scale=4.0),
    "random1000": randn(rng_for("softmax", 1000), 1000, scale=10.0),
    "huge": np.array([1e4, 1e4 - 1.0, -1e4, 3e38], np.float32),
    "neg_inf": np.array([-np.inf, 0.0, 1.0, -np.inf], np.float32),
}


@pytest.mark.parametrize("inplace", [0, 1], ids=["separate", "inplace"])
@pytest.mark.parametrize("name", sorted(SOFTMAX_INPUTS))
def test_softmax(driver, name, inplace):
    x = SOFTMAX_INPUTS[name]
    got = f32(driver.run("softmax", [len(x), inplace], x))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, softmax64(x), rtol=RTOL, atol=1e-7)
    assert abs(float(got.astype(np.float64).sum()) - 1.0) < 1e-5


def test_softmax_empty_is_a_no_op(driver):
    assert driver.run("softmax", [0, 0]) == b""


ARGMAX_INPUTS = {
    "one": [5.0],
    "tie_first_wins": [1.0, 3.0, 3.0, 2.0],
    "all_equal": [7.0] * 9,
    "negatives": [-5.0, -1.0, -3.0, -1.0],
    "last": [0.0, 1.0, 2.0, 9.0],
    "neg_inf": [-np.inf, -np.inf, -1e30],
    "random": randn(rng_for("argmax"), 1000).tolist(),
}


@pytest.mark.parametrize("name", sorted(ARGMAX_INPUTS))
def test_argmax_first_max_wins(driver, name):
    x = np.array(ARGMAX_INPUTS[name], dtype=np.float32)
    got = int(np.frombuffer(driver.run("argmax", [len(x)], x), dtype="<u4")[0])
    assert got == int(np.argmax(x))


def test_argmax_empty_is_zero(driver):
    assert np.frombuffer(driver.run("argmax", [0]), dtype="<u4").tolist() == [0]


# --- vector helpers ----------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 1000])
def test_vector_ops(driver, n):
    rng = rng_for("vector", n)
    a = randn(rng, n)
    y = randn(rng, n)
    assert f32(driver.run("copy", [n], a, y)).tolist() == a.tolist()
    # Float32 addition is correctly rounded in both, so the result is exact.
    assert f32(driver.run("add", [n], a, y)).tolist() == (y + a).tolist()
    assert f32(driver.run("zero", [n], y)).tolist() == [0.0] * n


# --- recurrent cells ---------------------------------------------------------------


def lstm_ref(gates: np.ndarray, h: np.ndarray, c: np.ndarray):
    g = gates.astype(np.float64).reshape(4, -1)  # ONNX order i, o, f, c
    i, o, f = sigmoid64(g[0]), sigmoid64(g[1]), sigmoid64(g[2])
    c_new = f * c + i * np.tanh(g[3])
    return o * np.tanh(c_new), c_new


def gru_ref(gx: np.ndarray, gh: np.ndarray, h: np.ndarray):
    gx64 = gx.astype(np.float64).reshape(3, -1)  # ONNX order z, r, h
    gh64 = gh.astype(np.float64).reshape(3, -1)
    z = sigmoid64(gx64[0] + gh64[0])
    r = sigmoid64(gx64[1] + gh64[1])
    n = np.tanh(gx64[2] + r * gh64[2])
    return (1.0 - z) * n + z * h


def gru_reset_ref(gx: np.ndarray, gh: np.ndarray, h: np.ndarray) -> np.ndarray:
    """What dkgen_gru_reset_f32 leaves in gx (linear_before_reset=0): z, r*h, gx_h."""
    hidden = len(h)
    pre = gx.astype(np.float64) + gh.astype(np.float64)
    return np.concatenate(
        [
            sigmoid64(pre[:hidden]),
            sigmoid64(pre[hidden : 2 * hidden]) * h,
            gx[2 * hidden :].astype(np.float64),
        ]
    )


def gru_update_ref(gx: np.ndarray, gh: np.ndarray, h: np.ndarray) -> np.ndarray:
    """dkgen_gru_update_f32: gx as the reset kernel left it, gh = R (r*h) + Rb."""
    hidden = len(h)
    z = gx[:hidden].astype(np.float64)
    n = np.tanh(gx[2 * hidden :].astype(np.float64) + gh[2 * hidden :])
    return (1.0 - z) * n + z * h


def run_lstm(drv, gates, h, c):
    out = f32(drv.run("lstm", [len(h)], gates, h, c))
    return out[: len(h)], out[len(h) :]


def run_gru(drv, gx, gh, h):
    return f32(drv.run("gru", [len(h)], gx, gh, h))


@pytest.mark.parametrize("hidden", [1, 3, 16, 50])
def test_lstm_cell(driver, hidden):
    rng = rng_for("lstm", hidden)
    gates = randn(rng, 4 * hidden, scale=3.0)
    h = randn(rng, hidden)
    c = randn(rng, hidden, scale=2.0)
    got_h, got_c = run_lstm(driver, gates, h, c)
    want_h, want_c = lstm_ref(gates, h, c)
    np.testing.assert_allclose(got_c, want_c, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(got_h, want_h, rtol=RTOL, atol=1e-6)


def test_lstm_cell_gate_order_is_i_o_f_c(driver):
    # Saturated gates pick out each block: i=1, o=1, f=0, c~=tanh(big)=1 -> c=1.
    gates = np.array([50.0, 50.0, -50.0, 50.0], dtype=np.float32)
    got_h, got_c = run_lstm(driver, gates, np.zeros(1, np.float32), np.full(1, 7.0, np.float32))
    assert got_c.tolist() == [1.0]
    np.testing.assert_allclose(got_h, [np.tanh(1.0)], rtol=1e-6)
    # Now forget nothing (f=1) and add nothing (i=0): c is kept, o=0 zeroes h.
    gates = np.array([-50.0, -50.0, 50.0, 50.0], dtype=np.float32)
    got_h, got_c = run_lstm(driver, gates, np.zeros(1, np.float32), np.full(1, 7.0, np.float32))
    assert got_c.tolist() == [7.0]
    assert abs(float(got_h[0])) < 1e-20


@pytest.mark.parametrize("hidden", [1, 3, 16, 50])
def test_gru_cell(driver, hidden):
    rng = rng_for("gru", hidden)
    gx = randn(rng, 3 * hidden, scale=3.0)
    gh = randn(rng, 3 * hidden, scale=3.0)
    h = randn(rng, hidden)
    np.testing.assert_allclose(run_gru(driver, gx, gh, h), gru_ref(gx, gh, h), rtol=RTOL, atol=1e-6)


def test_gru_cell_gate_order_is_z_r_h(driver):
    # z=0 keeps nothing of the old h; r=1 lets gh_h in: h = tanh(gx_h + gh_h).
    gx = np.array([-50.0, 50.0, 0.5], dtype=np.float32)
    gh = np.array([0.0, 0.0, 0.25], dtype=np.float32)
    got = run_gru(driver, gx, gh, np.full(1, 9.0, np.float32))
    np.testing.assert_allclose(got, [np.tanh(0.75)], rtol=1e-6)
    # r=0 drops the whole recurrent term R_h h + Rb_h (linear_before_reset=1).
    gx = np.array([-50.0, -50.0, 0.5], dtype=np.float32)
    gh = np.array([0.0, 0.0, 100.0], dtype=np.float32)
    got = run_gru(driver, gx, gh, np.full(1, 9.0, np.float32))
    np.testing.assert_allclose(got, [np.tanh(0.5)], rtol=1e-6)
    # z=1 keeps the old h whatever the candidate is.
    gx = np.array([50.0, 0.0, 0.5], dtype=np.float32)
    assert run_gru(driver, gx, gh, np.full(1, 9.0, np.float32)).tolist() == [9.0]


# --- sanitizer run and the deliberately wrong build ---------------------------------


def test_awkward_cases_under_address_and_ub_sanitizers(sanitized_driver):
    """Every array the driver hands over is malloc'd at its exact size, so any
    out-of-bounds read or write by a kernel aborts the run."""
    drv = sanitized_driver
    for rows, cols in [(1, 1), (7, 1), (1, 7), (33, 17)]:
        (w, x, y0), ref, mag = dense_case(rng_for("asan-dense", rows, cols), rows, cols)
        assert_sum_close(run_dense(drv, w, x, y0), ref, mag)
    for shape in [
        (1, 1, 1, 1),
        (1, 1, 3, 5),
        (3, 5, 1, 1),
        (1, 4, 4, 1),
        (4, 1, 1, 4),
        (2, 3, 4, 5),
        (7, 3, 1, 9),
        (3, 11, 13, 2),
    ]:
        (a, b, x, y0), ref, mag = kron_case(rng_for("asan-kron", shape), *shape)
        for order in (0, 1):
            scratch_bytes, got = run_kron(drv, a, b, x, y0, order)
            assert scratch_bytes == expected_scratch_bytes(*shape, order)
            assert_sum_close(got, ref, mag)
    rng = rng_for("asan-csr")
    s = randn(rng, 20, 9) * (rng.random((20, 9)) < 0.2)
    s[0, :] = 0.0
    s[-1, -1] = 1.0
    row_ptr, col, val = csr_from_dense(s)
    x, y0 = randn(rng, 9), randn(rng, 20)
    for width in (16, 32):
        got = run_csr(drv, row_ptr, col, val, x, y0, width)
        assert_sum_close(
            got,
            y0 + s.astype(np.float64) @ x,
            np.abs(y0) + np.abs(s.astype(np.float64)) @ np.abs(x),
        )
    x = SOFTMAX_INPUTS["random100"]
    np.testing.assert_allclose(
        f32(drv.run("softmax", [len(x), 1], x)), softmax64(x), rtol=RTOL, atol=1e-7
    )
    assert run_sigmoid(drv, SPECIALS)[1] == 0
    gates, h, c = randn(rng, 12, scale=3.0), randn(rng, 3), randn(rng, 3)
    np.testing.assert_allclose(
        run_lstm(drv, gates, h, c)[0], lstm_ref(gates, h, c)[0], rtol=RTOL, atol=1e-6
    )
    gx, gh = randn(rng, 9, scale=3.0), randn(rng, 9, scale=3.0)
    np.testing.assert_allclose(run_gru(drv, gx, gh, h), gru_ref(gx, gh, h), rtol=RTOL, atol=1e-6)
    # linear_before_reset=0, both halves, at hidden 1 and sizes no block width divides.
    # (The int8 pair dkgen_gru_reset_s16 / dkgen_gru_update_s16 runs in kernel_driver_s8,
    # which test_runtime_s8.py always builds with these sanitizers, at the same sizes.)
    for hidden in (1, 7, 17):
        gx, gh = randn(rng, 3 * hidden, scale=3.0), randn(rng, 3 * hidden, scale=3.0)
        gx[-1], gh[0] = 1e4, -1e4  # saturated candidate and z
        h_old = randn(rng, hidden)
        after = f32(drv.run("gru_reset", [hidden], gx, gh, h_old))
        np.testing.assert_allclose(after, gru_reset_ref(gx, gh, h_old), rtol=RTOL, atol=1e-6)
        assert after[2 * hidden :].tolist() == gx[2 * hidden :].tolist()
        # The update reads neither r*h nor gh's z and r blocks: NaN there changes nothing.
        gh2 = randn(rng, 3 * hidden, scale=3.0)
        gh2[: 2 * hidden] = np.nan
        gx2 = after.copy()
        gx2[hidden : 2 * hidden] = np.nan
        got = f32(drv.run("gru_update", [hidden], gx2, gh2, h_old))
        np.testing.assert_allclose(got, gru_update_ref(after, gh2, h_old), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("rows,cols", [(1, 1), (4, 9), (33, 17)])
def test_wrong_kernel_build_breaks_dense(wrong_driver, driver, rows, cols):
    (w, x, y0), ref, mag = dense_case(rng_for("wrong-dense", rows, cols), rows, cols)
    assert not sums_differ(run_dense(driver, w, x, y0), ref, mag)
    assert sums_differ(run_dense(wrong_driver, w, x, y0), ref, mag)


@pytest.mark.parametrize("order", [0, 1], ids=["XBT", "AX"])
@pytest.mark.parametrize(
    "shape", [(1, 1, 1, 1), (2, 3, 4, 5), (8, 25, 32, 10)], ids=lambda s: "x".join(map(str, s))
)
def test_wrong_kernel_build_breaks_kron(wrong_driver, driver, shape, order):
    (a, b, x, y0), ref, mag = kron_case(rng_for("wrong-kron", shape), *shape)
    assert not sums_differ(run_kron(driver, a, b, x, y0, order)[1], ref, mag)
    assert sums_differ(run_kron(wrong_driver, a, b, x, y0, order)[1], ref, mag)


def test_wrong_kernel_build_leaves_other_kernels_alone(wrong_driver):
    row_ptr = np.array([0, 2, 3], dtype=np.uint16)
    got = run_csr(
        wrong_driver,
        row_ptr,
        np.array([0, 1, 1], np.uint16),
        np.array([1.0, 2.0, 3.0], np.float32),
        np.array([1.0, 10.0], np.float32),
        np.zeros(2, np.float32),
        16,
    )
    assert got.tolist() == [21.0, 30.0]
