"""Sigmoid, tanh and exp in fixed point, by tables with linear interpolation.

The tables live in one place, the runtime C files (between the markers
`DKGEN_LUT_BEGIN name` / `DKGEN_LUT_END`); this module reads them from there so that the
numpy reference and the C use the very same numbers.  `make_tables()` recomputes them
from the functions (tests check that the files hold exactly these values).

sigmoid, tanh (`dkgen_activation_s16.c`): entry k is f(-8 + k/32) in Q0.15 (round half up,
saturated).  For an input q (Q3.12):
    u = q + 32768, i = u >> 7, w = u & 127,
    f(q) = T[i] + (((T[i+1] - T[i]) * w + 64) >> 7).
exp2 (`dkgen_exp_q15.h`): entry k is 2**(-k/256) in Q0.15; see `exp_neg_q15`.
log2 (`dkgen_log_softmax_s8.c`): entry j is log2(1 + j/256) in Q16; see `log2_q16`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from dkgen.resources import runtime_dir

LUT_SIZE = 513
EXP2_SIZE = 257
LOG2_SIZE = 257
LUT_FILES = {"sigmoid": "dkgen_activation_s16.c", "tanh": "dkgen_activation_s16.c",
             "exp2": "dkgen_exp_q15.h", "log2": "dkgen_log_softmax_s8.c"}
_SIZES = {"sigmoid": LUT_SIZE, "tanh": LUT_SIZE, "exp2": EXP2_SIZE, "log2": LOG2_SIZE}
_BLOCK = re.compile(r"DKGEN_LUT_BEGIN (\w+)\s*\*/(.*?)/\*\s*DKGEN_LUT_END", re.S)


def make_tables() -> dict[str, np.ndarray]:
    """The tables computed from the functions, as int64 arrays (sizes in `_SIZES`)."""
    x = -8.0 + np.arange(LUT_SIZE, dtype=np.float64) / 32.0
    sig = 0.5 * (np.tanh(0.5 * x) + 1.0)
    return {
        "sigmoid": np.clip(np.floor(sig * 32768.0 + 0.5), 0, 32767).astype(np.int64),
        "tanh": np.clip(np.floor(np.tanh(x) * 32768.0 + 0.5), -32767, 32767).astype(np.int64),
        "exp2": np.floor(32768.0 * 2.0 ** (-np.arange(EXP2_SIZE) / 256.0) + 0.5).astype(np.int64),
        "log2": np.floor(65536.0 * np.log2(1.0 + np.arange(LOG2_SIZE) / 256.0) + 0.5).astype(np.int64),
    }


def format_table(values: np.ndarray, per_line: int = 12) -> str:
    """C initialiser rows for a table, as they appear in the runtime file."""
    items = [str(int(v)) for v in values]
    return "\n".join("    " + ", ".join(items[i:i + per_line]) + ","
                     for i in range(0, len(items), per_line))


@lru_cache(maxsize=1)
def tables() -> dict[str, np.ndarray]:
    """The tables as the runtime C files hold them."""
    found: dict[str, np.ndarray] = {}
    for file in sorted(set(LUT_FILES.values())):
        for name, body in _BLOCK.findall((runtime_dir() / file).read_text()):
            values = np.array([int(v) for v in re.findall(r"-?\d+", body)], dtype=np.int64)
            if LUT_FILES.get(name) != file or values.size != _SIZES[name]:
                raise RuntimeError(f"{file}: unexpected table {name} of {values.size} entries")
            found[name] = values
    if set(found) != set(LUT_FILES):
        raise RuntimeError(f"runtime tables: expected {sorted(LUT_FILES)}, found {sorted(found)}")
    return found


def _interp(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    u = np.asarray(q, dtype=np.int64) + 32768
    i = u >> 7
    w = u & 127
    lo = table[i]
    hi = table[i + 1]  # i <= 511: the table has 513 entries
    return lo + (((hi - lo) * w + 64) >> 7)


def sigmoid_q15(q12: np.ndarray) -> np.ndarray:
    """sigmoid of Q3.12 int16 values, Q0.15 in [0, 32767]."""
    return _interp(tables()["sigmoid"], q12)


def tanh_q15(q12: np.ndarray) -> np.ndarray:
    """tanh of Q3.12 int16 values, Q0.15 in [-32767, 32767]."""
    return _interp(tables()["tanh"], q12)


def exp_beta(scale: float) -> int:
    """beta = round(scale * log2(e) * 2**16), the softmax kernel's parameter."""
    beta = int(np.floor(scale * 1.4426950408889634 * 65536.0 + 0.5))
    if not 0 <= beta < 2**23:
        raise ValueError(f"softmax input scale {scale:g} is out of range")
    return beta


def exp_neg_q15(d: np.ndarray, beta: int) -> np.ndarray:
    """exp(-d * scale) in Q0.15 for integer d >= 0 (d <= 255), as the C computes it:
    k = d * beta, v = 2**-((k & 0xFFFF) / 2**16) by the exp2 table, then v >> (k >> 16)
    rounded half up (0 once k >> 16 exceeds 15)."""
    k = np.asarray(d, dtype=np.int64) * int(beta)
    ip = k >> 16
    fp = k & 0xFFFF
    i, w = fp >> 8, fp & 255
    t = tables()["exp2"]
    v = t[i] + (((t[i + 1] - t[i]) * w + 128) >> 8)
    shifted = (v + np.left_shift(1, np.maximum(ip, 1) - 1)) >> np.maximum(ip, 1)
    return np.where(ip > 15, 0, np.where(ip == 0, v, shifted))


def log2_q16(s: np.ndarray) -> np.ndarray:
    """log2(s) in Q16 for integers 1 <= s < 2**32, as the C computes it: k = floor(log2 s),
    the 16 bits below the leading one as the fraction, its top 8 bits indexing the log2
    table and the low 8 interpolating: (k << 16) + T[i] + ((T[i+1] - T[i]) * w + 128) >> 8."""
    s = np.asarray(s, dtype=np.int64)
    k = np.floor(np.log2(s)).astype(np.int64)
    k = np.where(np.left_shift(np.int64(1), k) > s, k - 1, k)  # exact for any float rounding
    k = np.where(np.left_shift(np.int64(1), k + 1) <= s, k + 1, k)
    m = np.left_shift(s, 31 - k) & 0xFFFFFFFF  # the leading one at bit 31
    f = (m >> 15) & 0xFFFF
    i, w = f >> 8, f & 255
    t = tables()["log2"]
    return np.left_shift(k, 16) + t[i] + (((t[i + 1] - t[i]) * w + 128) >> 8)
