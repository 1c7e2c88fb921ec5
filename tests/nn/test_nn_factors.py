"""The automatic Kronecker factor-shape rule and the DKP budget plan."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dkgen.structure.factors import check_factors, dkp_plan, factor_shapes, kron_param_count


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


def test_factor_options_cost_and_rank_against_the_dense_product() -> None:
    from dkgen.ir.weights import KronWeight
    from dkgen.structure.factors import factor_options

    opts = factor_options(800, 200, 800)
    assert {o.values for o in opts} == {800} and len(opts) == 12
    assert [o.macs for o in opts] == sorted(o.macs for o in opts)
    by_shape = {o.factors: o for o in opts}
    assert by_shape[((20, 20), (40, 10))].macs == 12000 and by_shape[((200, 2), (4, 100))].macs == 2400
    # Every split of a small matrix: the rank bound is reached by random factors, the MAC
    # count is the IR's (what code generation plans), and nothing over the cap is listed.
    rng = np.random.default_rng(0)
    everything = factor_options(12, 8)
    assert len(everything) == 6 * 4 and [o.values for o in everything] == sorted(
        (o.values for o in everything), reverse=True)
    for o in everything:
        (m1, n1), (m2, n2) = o.factors
        w = KronWeight(rng.normal(size=(m1, n1)), rng.normal(size=(m2, n2)))
        assert np.linalg.matrix_rank(w.to_dense()) == o.rank
        assert w.macs == o.macs
    assert all(o.values <= 20 for o in factor_options(12, 8, 20))


def test_cli_lists_factor_splits(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from dkgen.cli import cli

    res = CliRunner().invoke(cli, ["train", "factors", "800x200", "--ratio", "25", "--max-values", "800",
                                   "--json"])
    assert res.exit_code == 0, res.output
    docs = json.loads(res.output)
    assert docs[0] == {"factors": "2x200,400x1", "values": 800, "macs": 1200, "rank_bound": 2,
                       "default": False, "picked_by": [], "dope": 5600, "dope_density": 0.035}
    res = CliRunner().invoke(cli, ["train", "factors", "800x200", "--ratio", "25", "--limit", "3"])
    assert res.exit_code == 0 and "25x200,32x1" in res.output and "more (--limit)" in res.output
    # the split dkgen train lm picks by itself is shown (and marked) even past the limit
    assert "8x5,100x40" in res.output and "rank (the default)" in res.output
    res = CliRunner().invoke(cli, ["train", "factors", "800x200", "--ratio", "25", "--dope-share",
                                   "0.875", "--json"])
    picked = {d["factors"]: d["picked_by"] for d in json.loads(res.output) if d["picked_by"]}
    assert picked == {"20x20,40x10": ["rank"], "4x100,200x2": ["macs"]}
    res = CliRunner().invoke(cli, ["train", "factors", "800x200", "--order", "3", "--max-values", "170",
                                   "--json"])
    assert res.exit_code == 0, res.output
    docs = json.loads(res.output)
    assert {d["factors"].count("x") for d in docs} == {3} and min(d["values"] for d in docs) == 164
    assert not any(d["picked_by"] for d in docs)  # train lm picks two factors by itself
    for args, says in ((["8x"], "SHAPE"), (["800x200", "--ratio", "1000"], "--ratio"),
                       (["800x200", "--ratio", "-1"], "--ratio")):
        res = CliRunner().invoke(cli, ["train", "factors", *args])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output


def test_macs_rule_takes_the_cheapest_split_of_the_same_size() -> None:
    from dkgen.structure.factors import factor_options

    for rows, cols, ratio, share in [(800, 200, 25, 0.875), (800, 200, 25, 0.25),
                                     (2600, 650, 25, 0.9), (256, 64, 10, 0.25)]:
        rank = factor_shapes(rows, cols, ratio, share)
        fast = factor_shapes(rows, cols, ratio, share, rule="macs")
        assert kron_param_count(fast) == kron_param_count(rank)  # the rule only breaks ties
        same = [o for o in factor_options(rows, cols) if o.values == kron_param_count(rank)
                and 1 not in (*o.factors[0], *o.factors[1])]
        assert {o.macs for o in same if o.factors == fast} == {min(o.macs for o in same)}
        assert dkp_plan(rows, cols, ratio, dope_share=share, rule="macs") == (
            fast, dkp_plan(rows, cols, ratio, dope_share=share)[1])
    # 25x on PTB small with a 3.5% dope: 2,400 MACs a product instead of 12,000
    assert factor_shapes(800, 200, 25, 0.875, rule="macs") == ((4, 100), (200, 2))
    assert factor_shapes(800, 200, rule="macs") == ((4, 100), (200, 2))
    with pytest.raises(ValueError, match="factor rule"):
        factor_shapes(800, 200, 25, rule="fast")
