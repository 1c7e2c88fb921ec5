"""The automatic Kronecker factor-shape rule and the DKP budget plan."""

from __future__ import annotations

import itertools

import pytest

from dkgen.nn.factors import check_factors, dkp_plan, factor_shapes, kron_param_count


@pytest.mark.parametrize("rows,cols", [(256, 64), (256, 8), (40, 10), (7, 5), (1, 1), (1, 9),
                                       (12, 1), (30, 42), (96, 96)])
def test_default_rule_minimises_stored_parameters(rows: int, cols: int) -> None:
    (m1, n1), (m2, n2) = factor_shapes(rows, cols)
    assert m1 * m2 == rows and n1 * n2 == cols
    best = min(a * c + (rows // a) * (cols // c)
               for a, c in itertools.product(range(1, rows + 1), range(1, cols + 1))
               if rows % a == 0 and cols % c == 0)
    assert m1 * n1 + m2 * n2 == best


def test_default_rule_prefers_balanced_square_factors() -> None:
    assert factor_shapes(256, 64) == ((16, 8), (16, 8))
    assert factor_shapes(64, 64) == ((8, 8), (8, 8))
    # Deterministic: the same answer every time.
    assert factor_shapes(256, 8) == factor_shapes(256, 8)


def test_ratio_rule_fits_budget_and_leaves_room_for_the_dope() -> None:
    for rows, cols, ratio in [(256, 64, 20), (256, 8, 10), (512, 128, 25), (100, 100, 8)]:
        factors, nnz = dkp_plan(rows, cols, ratio)
        kron = kron_param_count(factors)
        assert kron <= 0.75 * rows * cols / ratio
        assert nnz >= 0 and kron + nnz <= rows * cols / ratio
        assert (rows * cols) / (kron + nnz) >= ratio


def test_unreachable_ratio_and_bad_shapes_are_errors() -> None:
    with pytest.raises(ValueError, match="cannot be compressed"):
        factor_shapes(7, 5, ratio=10)
    with pytest.raises(ValueError, match="give a"):
        check_factors(8, 8, ((2, 2), (2, 2)))
    with pytest.raises(ValueError):
        check_factors(8, 8, (2, 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="store"):
        dkp_plan(16, 16, 16, factors=((4, 4), (4, 4)))
