"""Kronecker products of three or four factors, numpy side: the factor rule, the pass
order and its cost, the nearest product (exact on a product, a local optimum otherwise),
the post-training fit, and the IR weight."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dkgen.ir.weights import KronWeight, SparseDope, kron_chain, kron_macs, kron_pass_order
from dkgen.structure.factors import check_factors, dkp_plan, factor_options, factor_shapes
from dkgen.structure.fit import fit_weight
from dkgen.structure.nkp import nearest_kron

RNG = np.random.default_rng(7)


def test_a_third_factor_lowers_the_smallest_product():
    """An 800x200 gate matrix: two factors store at least 800 values, three 164."""
    assert factor_options(800, 200)[-1].values == 800
    smallest = factor_options(800, 200, order=3)[-1]
    assert smallest.values == 164 == sum(m * n for m, n in factor_shapes(800, 200, order=3))
    assert all(len(o.factors) == 3 and min(m * n for m, n in o.factors) > 1
               for o in factor_options(96, 40, order=3))
    factors, nnz = dkp_plan(800, 200, 25, ((10, 5), (10, 5), (8, 8)))
    assert nnz == 6400 - 164
    assert dkp_plan(800, 200, 25, order=3)[0] == factor_shapes(800, 200, 25, order=3)


def test_bad_factor_lists_are_refused():
    with pytest.raises(ValueError, match="give a 80x40 matrix"):
        check_factors(800, 200, ((10, 5), (8, 8)))
    with pytest.raises(ValueError, match="2 to 4 factors"):
        check_factors(32, 32, ((2, 2),) * 5)
    with pytest.raises(ValueError, match="2 to 4 factors"):
        factor_shapes(8, 8, order=5)
    with pytest.raises(ValueError, match="no product of 3 factors"):
        factor_shapes(7, 5, order=3)  # prime sizes: a third factor would be 1x1


@pytest.mark.parametrize("shapes", [((3, 5), (4, 2)), ((7, 1), (2, 9)), ((1, 6), (5, 5))])
def test_two_factor_cost_is_the_cheaper_order_of_vec_b_x_at(shapes):
    (m1, n1), (m2, n2) = shapes
    assert kron_macs(*shapes) == min(n1 * n2 * m2 + m1 * n1 * m2, m1 * n1 * n2 + m1 * n2 * m2)


def test_pass_order_is_the_cheapest_and_its_cost_is_counted_pass_by_pass():
    shapes = ((10, 2), (3, 7), (1, 5))
    def cost(order):
        dims, macs = [n for _, n in shapes], 0
        for i in order:
            macs += math.prod(dims) * shapes[i][0]
            dims[i] = shapes[i][0]
        return macs
    order, macs = kron_pass_order(*shapes)
    assert macs == cost(order) == min(cost(p) for p in itertools.permutations(range(3)))
    assert macs < cost((0, 1, 2))  # the order matters here


@pytest.mark.parametrize("shapes", [((2, 3), (4, 1), (3, 5)), ((3, 2), (2, 2), (1, 3), (4, 2))])
def test_nearest_product_recovers_an_exact_one(shapes):
    factors = [RNG.normal(size=s) for s in shapes]
    w = kron_chain(factors)
    fitted = nearest_kron(w, shapes)
    np.testing.assert_allclose(kron_chain(fitted), w, rtol=1e-9, atol=1e-9)
    norms = [np.linalg.norm(f) for f in fitted]
    np.testing.assert_allclose(norms, norms[0], rtol=1e-9)  # the scale split evenly
    assert all(f.reshape(-1)[np.argmax(np.abs(f))] > 0 for f in fitted[:-1])


def test_nearest_product_of_a_general_matrix_is_a_local_optimum():
    shapes = ((4, 3), (3, 2), (2, 5))
    w = RNG.normal(size=(24, 30))
    fitted = nearest_kron(w, shapes)
    best = np.linalg.norm(w - kron_chain(fitted))
    assert best < np.linalg.norm(w)
    for i in range(3):  # no small change of any one factor does better
        for _ in range(5):
            moved = list(fitted)
            moved[i] = moved[i] + 1e-3 * RNG.normal(size=moved[i].shape)
            assert np.linalg.norm(w - kron_chain(moved)) > best
    # ... and it beats the nested two-factor start it improves on.
    head, rest = nearest_kron(w, ((4, 3), (6, 10)))
    b, c = nearest_kron(rest, ((3, 2), (2, 5)))
    assert best <= np.linalg.norm(w - kron_chain([head, b, c])) + 1e-12


def test_fit_meets_the_budget_with_three_factors():
    w = RNG.normal(size=(96, 40))
    fitted = fit_weight(w, "dkp", 10, order=3)
    assert isinstance(fitted, KronWeight) and len(fitted.factors) == 3
    assert fitted.param_count == math.floor(96 * 40 / 10)
    two = fit_weight(w, "dkp", 10)
    assert fitted.dope.nnz > two.dope.nnz  # smaller factors leave more to the dope


def test_ir_weight_of_three_factors():
    factors = [RNG.normal(size=s) for s in ((2, 3), (4, 1), (3, 5))]
    dope = SparseDope(24, 15, [0, 7, 300], [1.0, -2.0, 0.5])
    w = KronWeight.of(factors, dope)
    assert w.shape == (24, 15) and w.factor_shapes == ((2, 3), (4, 1), (3, 5))
    np.testing.assert_allclose(w.dense64, kron_chain(factors) + dope.to_dense(), rtol=1e-6)
    assert w.param_count == 6 + 4 + 15 + 3
    assert w.macs == kron_macs((2, 3), (4, 1), (3, 5)) + 3
    with pytest.raises(ValueError, match="two factors or more"):
        KronWeight.of(factors[:1])
