"""The integer arithmetic of dkgen's int8 scheme, in numpy: the definition the C follows.

Every function here is exact integer (or exact IEEE float32) arithmetic, so the runtime
kernels in `runtime/dkgen_*_s8.c` / `*_s16.c` can match it bit for bit on any target.

One rounding rule is used everywhere a value is narrowed: **round half up** (towards
+infinity), i.e. `floor(v + 1/2)`.  On integers that is `(v + 2**(r-1)) >> r` with an
arithmetic right shift.  See docs/quantization.md for the formulas.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Gate pre-activations of LSTM/GRU are Q3.12 (real = q / 4096, range [-8, 8)); sigmoid and
# tanh outputs are Q0.15 (real = q / 32768).
GATE_FRAC = 12
ACT_FRAC = 15

MIN_SHIFT, MAX_SHIFT = 1, 62


def sat(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(v, lo, hi)


def sat8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, INT8_MIN, INT8_MAX)


def sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, INT16_MIN, INT16_MAX)


def sat32(v: np.ndarray) -> np.ndarray:
    return np.clip(v, INT32_MIN, INT32_MAX)


def rshift_round(v: np.ndarray, r: int | np.ndarray) -> np.ndarray:
    """floor(v / 2**r + 1/2) for r >= 1, on int64 (the C: `(v + (1 << (r-1))) >> r`)."""
    v = np.asarray(v, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    return np.right_shift(v + np.left_shift(np.int64(1), r - 1), r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(m, r) with real ~= m * 2**-r, m in [2**30, 2**31) (Q31 mantissa), r in [1, 62].

    A multiplier too small for r <= 62 loses mantissa bits (and is 0 below 2**-62); one of
    2**30 or more cannot be represented and raises ValueError (no sane scale produces one).
    """
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantisation multiplier {real!r} is not a finite non-negative number")
    if real == 0.0:
        return 0, MIN_SHIFT
    frac, exp = math.frexp(real)  # real = frac * 2**exp, frac in [0.5, 1)
    m = round(frac * 2**31)
    if m == 2**31:
        m //= 2
        exp += 1
    r = 31 - exp
    if r < MIN_SHIFT:
        raise ValueError(f"requantisation multiplier {real:g} is too large (at most 2**30)")
    if r > MAX_SHIFT:
        m = int(rshift_round(np.int64(m), r - MAX_SHIFT))
        r = MAX_SHIFT
    return int(m), int(r)


def requantize(acc: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """floor(acc * mult / 2**shift + 1/2), saturated to int32; int64 result.

    acc is any int32 value, mult < 2**31, so the product is exact in int64 (the C widens
    to int64 before multiplying).
    """
    prod = np.asarray(acc, dtype=np.int64) * np.asarray(mult, dtype=np.int64)
    return sat32(rshift_round(prod, shift))


def quantize_input(x: np.ndarray, inv_scale: np.float32) -> np.ndarray:
    """float32 inputs -> int8: q = sat8(floor(x * inv_scale + 1/2)), all in float32.

    The product is one IEEE float32 multiplication.  The rounding is done exactly: with
    t = trunc(v) (exact for |v| < 2**23) the remainder v - t is exact too, so no second
    float rounding happens.  NaN maps to 0.  The C (dkgen_quantize_f32_s8) does the same
    operations in the same order.
    """
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        v = (x * np.float32(inv_scale)).astype(np.float32)
        big = v >= np.float32(127.0)
        small = v <= np.float32(-128.0)
        nan = np.isnan(v)
        safe = np.where(big | small | nan, np.float32(0.0), v).astype(np.float32)
        t = np.trunc(safe).astype(np.float32)
        rem = (safe - t).astype(np.float32)
        q = t.astype(np.int64)
        q = q + ((safe >= 0) & (rem >= np.float32(0.5)))
        q = q - ((safe < 0) & (rem < np.float32(-0.5)))
    q = np.where(big, INT8_MAX, q)
    q = np.where(small, INT8_MIN, q)
    q = np.where(nan, 0, q)
    return q.astype(np.int64)


def dequantize(q: np.ndarray, scale: np.float32) -> np.ndarray:
    """y = float32(q) * scale, one exact conversion and one float32 multiplication."""
    return (np.asarray(q).astype(np.float32) * np.float32(scale)).astype(np.float32)


def to_q(values: np.ndarray, frac_bits: int, lo: int, hi: int) -> np.ndarray:
    """Real values to fixed point with `frac_bits` fraction bits, round half up, saturated."""
    return np.clip(np.floor(np.asarray(values, np.float64) * 2.0**frac_bits + 0.5), lo, hi).astype(np.int64)


def quantize_symmetric(values: np.ndarray, scale: np.ndarray | float, qmax: int = 127) -> np.ndarray:
    """round-half-up(values / scale), saturated to [-qmax, qmax] (weights: symmetric)."""
    scale = np.asarray(scale, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(scale > 0, np.asarray(values, np.float64) / np.where(scale > 0, scale, 1.0), 0.0)
    return np.clip(np.floor(v + 0.5), -qmax, qmax).astype(np.int64)
