"""scripts/bench.py: the trained pruned model it measures the PTB DKP against, and one run of it
on the host (the equivalents themselves: tests/harness/test_compare.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("dkgen_bench_script", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


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


def test_gru96r_is_gru96_read_as_onnx_default_gru(bench) -> None:
    from dkgen.codegen.plan import plan_model

    a, b = bench.gru96(1, 2), bench.gru96(1, 2, linear_before_reset=False)
    assert (a.name, b.name) == ("gru96", "gru96r")
    assert a.model.layers[0].linear_before_reset and not b.model.layers[0].linear_before_reset
    assert np.array_equal(a.model.layers[0].w_hh.to_dense(), b.model.layers[0].w_hh.to_dense())
    assert np.array_equal(a.inputs, b.inputs)
    # the second recurrent product, R (r * h), is counted
    assert plan_model(b.model).macs - plan_model(a.model).macs == a.model.layers[0].w_hh.macs


def test_rnn128_is_a_doped_kronecker_simple_rnn(bench) -> None:
    from dkgen.ir.graph import RNN

    b = bench.rnn128(1, 2)
    rnn = b.model.layers[0]
    assert isinstance(rnn, RNN) and rnn.hidden_size == 128
    variants = b.variants()
    pruned = variants["pruned"].model.layers[0]
    assert {rnn.w_ih.kind, rnn.w_hh.kind} == {"doped_kron"}
    assert pruned.w_hh.kind == "sparse" and pruned.w_hh.param_count == rnn.w_hh.param_count
    assert variants["dense"].model.layers[0].w_hh.kind == "dense"


def test_lstm256k3_keeps_three_factors_in_both_dtypes(bench) -> None:
    from dkgen.codegen.plan import plan_model
    from dkgen.quant import quantize_model
    from dkgen.quant.model import QKronMulti

    b = bench.lstm256k3(1, 2)
    lstm = b.model.layers[0]
    assert len(lstm.w_ih.factors) == len(lstm.w_hh.factors) == 3
    assert {m.kind for m in plan_model(b.model).layers[0].matrices.values()} == {"kron_multi"}
    q = quantize_model(b.model, b.inputs).layers[0]
    assert isinstance(q.w_ih, QKronMulti) and isinstance(q.w_hh, QKronMulti)
    pruned = b.variants()["pruned"].model.layers[0]
    assert pruned.w_hh.kind == "sparse" and pruned.w_hh.param_count == lstm.w_hh.param_count
