"""scripts/bench.py: the equivalents it measures DKP against, and one run of it on the host."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from dkgen.ir.graph import GRU, Linear
from dkgen.ir.weights import DenseWeight, KronWeight, SparseWeight

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("dkgen_bench_script", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_pruned_equivalent_stores_as_many_values_as_dkp(bench) -> None:
    model = bench.gru96(1, 2).model
    pruned = bench.pruned_equivalent(model)
    weights = [(layer.w_ih, p.w_ih) for layer, p in zip(model.layers, pruned.layers, strict=True) if isinstance(layer, GRU)]
    weights += [(layer.weight, p.weight) for layer, p in zip(model.layers, pruned.layers, strict=True)
                if isinstance(layer, Linear)]
    assert weights
    for w, p in weights:
        assert isinstance(w, KronWeight) and isinstance(p, SparseWeight)
        assert p.param_count == w.param_count and p.shape == w.shape
        # It keeps the largest entries of the matrix the DKP weight stands for.
        dense, kept = w.to_dense(), p.to_dense()
        smallest_kept = np.abs(dense[kept != 0]).min()
        assert np.all(np.abs(dense[kept == 0]) <= smallest_kept)
        np.testing.assert_array_equal(kept[kept != 0], dense[kept != 0])
    assert isinstance(bench.pruned_equivalent(bench.lstm256(1, 2).model).layers[1].weight, DenseWeight)


def test_ptb25_pruned_is_the_trained_model_of_equal_size(bench) -> None:
    b = bench.ptb25(2)
    variants = b.variants()
    kinds = {v: {variants[v].model.layers[0].w_hh.kind} for v in bench.VARIANTS}
    assert kinds == {"DKP": {"doped_kron"}, "pruned": {"sparse"}, "dense": {"dense"}}
    for layer, p in zip(b.model.layers, variants["pruned"].model.layers, strict=True):
        assert layer.w_ih.param_count == p.w_ih.param_count == 6400
    assert variants["pruned"].inputs.shape == b.inputs.shape == (2, 8, 200)


def test_bench_runs_and_reports_every_variant(bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.md"
    assert bench.main(["--models", "gru96", "--targets", "host", "--dtypes", "int8",
                       "--sequences", "1", "--steps", "2", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| gru96 | int8 | host | 7,046 |" in text  # MACs of the DKP model from the plan
    assert "pruned/DKP time" in text and "## Flash and RAM (KiB)" in text
    # Host runs give no instruction counts but every variant passed parity and was measured.
    assert "Runs that gave no count" not in text
    row = next(line for line in text.splitlines() if line.startswith("| gru96 | int8 | host |")
               and line.count("|") == 10)
    assert "—" not in row  # flash and RAM of DKP, pruned and dense
