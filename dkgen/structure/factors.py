"""Choosing Kronecker factor shapes for a (rows, cols) matrix.

`W = A ⊗ B` with A (m1, n1) and B (m2, n2) needs m1*m2 == rows and n1*n2 == cols; a
product of k factors `A1 ⊗ ... ⊗ Ak` needs the m's to multiply to rows and the n's to
cols.  Two factors are the default everywhere; `order` asks for more.  A third factor
lowers the smallest Kronecker product a matrix can have (an 800x200 matrix: 800 values
with two factors, 164 with three), which leaves more of a budget to the dope.  The
rule, used everywhere a shape is not given explicitly (stated for two factors; with k,
"the two factors" reads "all k"):

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

from dkgen.ir.weights import MAX_FACTORS, kron_macs

# ((m1, n1), (m2, n2), ...): two factors or more.
FactorShapes = tuple[tuple[int, int], ...]
# What decides between splits of equal size (module docstring).
FACTOR_RULES = ("rank", "macs")
# More factors than this would make factors of one or two entries on every real layer (and
# the C kernels take at most this many).
MAX_ORDER = MAX_FACTORS


@dataclass(frozen=True)
class FactorOption:
    """One split of a matrix into Kronecker factors, with what it costs and can express."""

    factors: FactorShapes
    values: int  # m1*n1 + m2*n2 (+ ...), stored
    macs: int  # of one matrix-vector product, the cheapest order
    rank: int  # at most rank(A) * rank(B) (* ...)


def _divisor_pairs(n: int) -> list[tuple[int, int]]:
    if n < 1:
        raise ValueError(f"matrix dimensions must be positive, got {n}")
    return [(d, n // d) for d in range(1, n + 1) if n % d == 0]


def _splits(n: int, parts: int) -> list[tuple[int, ...]]:
    """Every ordered way to write n as a product of `parts` positive integers."""
    if parts == 1:
        return [(n,)]
    return [(d, *rest) for d, q in _divisor_pairs(n) for rest in _splits(q, parts - 1)]


def check_order(order: int) -> int:
    if not 2 <= int(order) <= MAX_ORDER:
        raise ValueError(f"a Kronecker product has 2 to {MAX_ORDER} factors, got {order}")
    return int(order)


def _aspect(m: int, n: int) -> float:
    return abs(math.log(m / n))


def check_rule(rule: str) -> str:
    if rule not in FACTOR_RULES:
        raise ValueError(f"factor rule must be one of {', '.join(FACTOR_RULES)}, got {rule!r}")
    return rule


def _candidates(rows: int, cols: int, rule: str = "rank",
                order: int = 2) -> list[tuple[tuple, FactorShapes]]:
    check_rule(rule)
    check_order(order)
    out = []
    for ms in _splits(rows, order):
        for ns in _splits(cols, order):
            factors = tuple(zip(ms, ns, strict=True))
            params = [m * n for m, n in factors]
            if order > 2 and min(params) == 1:
                continue  # a 1x1 factor: a product of fewer factors, listed under its order
            # Rounding the aspect term keeps float noise from breaking exact ties.
            tie = (max(params) - min(params), round(sum(_aspect(m, n) for m, n in factors), 9),
                   *ms[:-1], *ns[:-1])
            if rule == "macs":
                if 1 in (*ms, *ns) and rows > 1 and cols > 1:
                    continue  # a vector factor: the product's rank is the others' at most
                tie = (kron_macs(*factors), *tie)
            out.append(((sum(params), *tie), factors))
    if not out:
        raise ValueError(f"a {rows}x{cols} matrix has no product of {order} factors without a 1x1 "
                         f"one; use fewer factors")
    out.sort(key=lambda kv: kv[0])
    return out


def _rank_bound(factors: FactorShapes) -> int:
    return math.prod(min(m, n) for m, n in factors)


def factor_options(rows: int, cols: int, max_values: float | None = None,
                   order: int = 2) -> list[FactorOption]:
    """Every split of a (rows, cols) matrix storing at most `max_values` values: most values
    first, then fewest multiply-accumulates, then the higher rank bound.

    Splits of equal size differ a lot in both: for 800x200 and 800 values, (20,20)⊗(40,10)
    costs 12,000 MACs a product and may reach rank 200, (200,2)⊗(4,100) costs 2,400 and
    reaches at most rank 8. `factor_shapes` prefers rank (square factors); where the dope
    carries the model, a cheap split is as accurate and faster (docs/training.md).
    """
    out = []
    for _, factors in _candidates(rows, cols, order=order):
        values = kron_param_count(factors)
        if max_values is None or values <= max_values:
            out.append(FactorOption(factors, values, kron_macs(*factors), _rank_bound(factors)))
    out.sort(key=lambda o: (-o.values, o.macs, -o.rank, o.factors))
    return out


def kron_param_count(factors: FactorShapes) -> int:
    return sum(m * n for m, n in factors)


def check_factors(rows: int, cols: int, factors: FactorShapes) -> FactorShapes:
    """Validate explicit factor shapes against the matrix shape; return them as int tuples."""
    try:
        shapes = tuple((int(m), int(n)) for m, n in factors)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"factors must be ((m1, n1), (m2, n2), ...), got {factors!r}") from exc
    if not 2 <= len(shapes) <= MAX_ORDER:
        raise ValueError(f"a Kronecker product has 2 to {MAX_ORDER} factors, got {len(shapes)}")
    ms, ns = [m for m, _ in shapes], [n for _, n in shapes]
    if min(ms + ns) < 1 or math.prod(ms) != rows or math.prod(ns) != cols:
        text = " ⊗ ".join(f"({m}, {n})" for m, n in shapes)
        raise ValueError(f"factor shapes {text} give a {math.prod(ms)}x{math.prod(ns)} matrix, "
                         f"not {rows}x{cols}")
    return shapes


def factor_shapes(rows: int, cols: int, ratio: float | None = None,
                  dope_share: float = 0.25, rule: str = "rank", order: int = 2) -> FactorShapes:
    """Kronecker factor shapes ((m1, n1), (m2, n2), ...) for a (rows, cols) matrix.

    See the module docstring for the rule.  `ratio` is a target compression ratio (dense
    entries / stored values) for the whole doped matrix; `dope_share` the part of that
    budget kept free for the dope; `rule` ("rank" or "macs") what decides between splits
    of equal size; `order` the number of factors.
    """
    candidates = _candidates(rows, cols, rule, order)
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
            f"product {' ⊗ '.join(map(str, best))} stores {kron_param_count(best)} values, over the "
            f"{kron_budget:.0f} the ratio allows")
    most = max(key[0] for key, _ in fitting)
    return next(f for key, f in fitting if key[0] == most)


def dkp_plan(rows: int, cols: int, ratio: float, factors: FactorShapes | None = None,
             dope_share: float = 0.25, rule: str = "rank",
             order: int = 2) -> tuple[FactorShapes, int]:
    """Factor shapes and dope entry count that meet a target compression ratio.

    The dope gets whatever the Kronecker factors leave of rows*cols / ratio values.
    """
    if factors is None:
        factors = factor_shapes(rows, cols, ratio, dope_share, rule, order)
    else:
        factors = check_factors(rows, cols, factors)
    budget = int(math.floor(rows * cols / ratio))
    nnz = budget - kron_param_count(factors)
    if nnz < 0:
        raise ValueError(
            f"factors {factors} store {kron_param_count(factors)} values, over the {budget} "
            f"a {ratio:g}x compression of {rows}x{cols} allows")
    return factors, min(nnz, rows * cols)
