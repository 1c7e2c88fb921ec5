"""Choosing Kronecker factor shapes for a (rows, cols) matrix.

`W = A ⊗ B` with A (m1, n1) and B (m2, n2) needs m1*m2 == rows and n1*n2 == cols.  The
rule, used everywhere a shape is not given explicitly:

* Without a target ratio: over every divisor split of rows and of cols, minimise the
  stored parameters m1*n1 + m2*n2 (the most compressive Kronecker product).  Ties go to the
  split whose two factors hold the most equal parameter counts, then to the squarest
  factors (smallest sum of |log(m/n)|), then to the smaller (m1, n1).  For a 256x64 LSTM
  recurrent matrix this gives (16, 8) ⊗ (16, 8): 256 parameters instead of 16384.
* With a target compression ratio r: the parameter budget is rows*cols / r; the Kronecker
  part may use at most (1 - dope_share) of it, and the split with the most parameters
  within that share is chosen (more factor capacity for the same budget), with the same
  tie-breaks.  What is left of the budget is the dope's (`dkp_plan`).  If even the most
  compressive split does not fit, the ratio is unreachable and a ValueError says so.

`rule` says what decides between splits that store the same number of values: "rank" (the
default, the tie-breaks above: squarer factors, whose product may reach a higher rank) or
"macs" (fewest multiply-accumulates of a matrix-vector product first, then those
tie-breaks; splits with a row or column vector as a factor are left out, since such a
product's rank is at most the other factor's).  "macs" suits a doped matrix whose dope carries most of the budget: on PTB at
25x with 800 Kronecker values and a 3.5% dope, (100,4)⊗(8,50) trained as well as
(20,20)⊗(40,10) and runs 22% faster as int8 C on a Cortex-M4 (docs/training.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dkgen.ir.weights import kron_macs

FactorShapes = tuple[tuple[int, int], tuple[int, int]]
# What decides between splits of equal size (module docstring).
FACTOR_RULES = ("rank", "macs")


@dataclass(frozen=True)
class FactorOption:
    """One split of a matrix into Kronecker factors, with what it costs and can express."""

    factors: FactorShapes
    values: int  # m1*n1 + m2*n2, stored
    macs: int  # of one matrix-vector product, the cheaper order
    rank: int  # at most rank(A) * rank(B)


def _divisor_pairs(n: int) -> list[tuple[int, int]]:
    if n < 1:
        raise ValueError(f"matrix dimensions must be positive, got {n}")
    return [(d, n // d) for d in range(1, n + 1) if n % d == 0]


def _aspect(m: int, n: int) -> float:
    return abs(math.log(m / n))


def check_rule(rule: str) -> str:
    if rule not in FACTOR_RULES:
        raise ValueError(f"factor rule must be one of {', '.join(FACTOR_RULES)}, got {rule!r}")
    return rule


def _candidates(rows: int, cols: int, rule: str = "rank") -> list[tuple[tuple, FactorShapes]]:
    check_rule(rule)
    out = []
    for m1, m2 in _divisor_pairs(rows):
        for n1, n2 in _divisor_pairs(cols):
            p1, p2 = m1 * n1, m2 * n2
            # Rounding the aspect term keeps float noise from breaking exact ties.
            tie = (abs(p1 - p2), round(_aspect(m1, n1) + _aspect(m2, n2), 9), m1, n1)
            if rule == "macs":
                if 1 in (m1, n1, m2, n2) and rows > 1 and cols > 1:
                    continue  # a vector factor: rank A ⊗ B is the other factor's at most
                tie = (kron_macs((m1, n1), (m2, n2)), *tie)
            out.append(((p1 + p2, *tie), ((m1, n1), (m2, n2))))
    out.sort(key=lambda kv: kv[0])
    return out


def factor_options(rows: int, cols: int, max_values: float | None = None) -> list[FactorOption]:
    """Every split of a (rows, cols) matrix storing at most `max_values` values: most values
    first, then fewest multiply-accumulates, then the higher rank bound.

    Splits of equal size differ a lot in both: for 800x200 and 800 values, (20,20)⊗(40,10)
    costs 12,000 MACs a product and may reach rank 200, (200,2)⊗(4,100) costs 2,400 and
    reaches at most rank 8. `factor_shapes` prefers rank (square factors); where the dope
    carries the model, a cheap split is as accurate and faster (docs/training.md).
    """
    out = []
    for _, ((m1, n1), (m2, n2)) in _candidates(rows, cols):
        values = m1 * n1 + m2 * n2
        if max_values is None or values <= max_values:
            out.append(FactorOption(((m1, n1), (m2, n2)), values, kron_macs((m1, n1), (m2, n2)),
                                    min(m1, n1) * min(m2, n2)))
    out.sort(key=lambda o: (-o.values, o.macs, -o.rank, o.factors))
    return out


def kron_param_count(factors: FactorShapes) -> int:
    (m1, n1), (m2, n2) = factors
    return m1 * n1 + m2 * n2


def check_factors(rows: int, cols: int, factors: FactorShapes) -> FactorShapes:
    """Validate explicit factor shapes against the matrix shape; return them as int tuples."""
    try:
        (m1, n1), (m2, n2) = factors
        m1, n1, m2, n2 = int(m1), int(n1), int(m2), int(n2)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"factors must be ((m1, n1), (m2, n2)), got {factors!r}") from exc
    if min(m1, n1, m2, n2) < 1 or m1 * m2 != rows or n1 * n2 != cols:
        raise ValueError(
            f"factor shapes ({m1}, {n1}) ⊗ ({m2}, {n2}) give a {m1 * m2}x{n1 * n2} matrix, "
            f"not {rows}x{cols}")
    return (m1, n1), (m2, n2)


def factor_shapes(rows: int, cols: int, ratio: float | None = None,
                  dope_share: float = 0.25, rule: str = "rank") -> FactorShapes:
    """Kronecker factor shapes ((m1, n1), (m2, n2)) for a (rows, cols) matrix.

    See the module docstring for the rule.  `ratio` is a target compression ratio (dense
    entries / stored values) for the whole doped matrix; `dope_share` the part of that
    budget kept free for the dope; `rule` ("rank" or "macs") what decides between splits
    of equal size.
    """
    candidates = _candidates(rows, cols, rule)
    if ratio is None:
        return candidates[0][1]
    if ratio <= 0:
        raise ValueError(f"compression ratio must be positive, got {ratio}")
    if not 0.0 <= dope_share < 1.0:
        raise ValueError(f"dope_share must lie in [0, 1), got {dope_share}")
    kron_budget = (1.0 - dope_share) * rows * cols / ratio
    fitting = [(key, f) for key, f in candidates if key[0] <= kron_budget]
    if not fitting:
        best = candidates[0][1]
        raise ValueError(
            f"a {rows}x{cols} matrix cannot be compressed {ratio:g}x: its smallest Kronecker "
            f"product {best[0]} ⊗ {best[1]} stores {kron_param_count(best)} values, over the "
            f"{kron_budget:.0f} the ratio allows")
    most = max(key[0] for key, _ in fitting)
    return next(f for key, f in fitting if key[0] == most)


def dkp_plan(rows: int, cols: int, ratio: float, factors: FactorShapes | None = None,
             dope_share: float = 0.25, rule: str = "rank") -> tuple[FactorShapes, int]:
    """Factor shapes and dope entry count that meet a target compression ratio.

    The dope gets whatever the Kronecker factors leave of rows*cols / ratio values.
    """
    if factors is None:
        factors = factor_shapes(rows, cols, ratio, dope_share, rule)
    else:
        factors = check_factors(rows, cols, factors)
    budget = int(math.floor(rows * cols / ratio))
    nnz = budget - kron_param_count(factors)
    if nnz < 0:
        raise ValueError(
            f"factors {factors} store {kron_param_count(factors)} values, over the {budget} "
            f"a {ratio:g}x compression of {rows}x{cols} allows")
    return factors, min(nnz, rows * cols)
