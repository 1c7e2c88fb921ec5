"""dkgen bench: a model against its dense and pruned-at-equal-size forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from random_models import mixed_model, token_model

from dkgen.cli import cli
from dkgen.harness.compare import (
    compare_model,
    dense_equivalent,
    equivalents,
    pruned_equivalent,
    weights_of,
)
from dkgen.harness.targets import resolve_targets
from dkgen.ir.weights import DenseWeight, SparseWeight
from dkgen.onnx_io.export import save_onnx


def test_pruned_form_keeps_the_largest_entries_at_equal_size() -> None:
    model = mixed_model(3)
    pruned = pruned_equivalent(model)
    kinds = set()
    for w, p in zip(weights_of(model), weights_of(pruned), strict=True):
        kinds.add(w.kind)
        if isinstance(w, DenseWeight | SparseWeight):
            assert p is w  # already dense or pruned: nothing to replace
            continue
        assert isinstance(p, SparseWeight) and p.shape == w.shape
        assert p.param_count == min(w.param_count, w.shape[0] * w.shape[1])
        dense, kept = w.to_dense(), p.to_dense()
        mask = np.zeros(dense.size, bool)
        mask[p.sparse.index] = True
        assert np.abs(dense.ravel()[~mask]).max(initial=0) <= np.abs(dense.ravel()[mask]).min()
        np.testing.assert_array_equal(kept.ravel()[mask], dense.ravel()[mask])
    assert {"doped_kron", "kron", "low_rank", "row_stack", "dense", "sparse"} <= kinds


def test_forms_that_change_nothing_are_not_measured_twice() -> None:
    model = mixed_model(3)
    assert list(equivalents(model)) == ["model", "pruned", "dense"]
    dense = dense_equivalent(model)
    assert list(equivalents(dense)) == ["model"]
    assert list(equivalents(pruned_equivalent(model))) == ["model", "dense"]


def test_compare_runs_every_form_on_the_same_inputs() -> None:
    model = mixed_model(3)
    result = compare_model(model, resolve_targets("host"), sequences=2, steps=3, dtype="int8")
    assert result.passed and list(result.reports) == ["model", "pruned", "dense"]
    macs = {k: r.library["macs_per_step"] for k, r in result.reports.items()}
    assert macs["dense"] > macs["model"] and macs["pruned"] < macs["dense"]
    assert all(r.targets[0].flash_bytes for r in result.reports.values())


def test_cli_bench(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    save_onnx(mixed_model(3), path)
    res = CliRunner().invoke(cli, ["bench", str(path), "--target", "host", "--dtype", "int8",
                                   "--sequences", "2", "--steps", "3", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["passed"] and set(doc["forms"]) == {"model", "pruned", "dense"}
    res = CliRunner().invoke(cli, ["bench", str(path), "--target", "host", "--sequences", "2",
                                   "--steps", "3"])
    assert res.exit_code == 0 and "pruned" in res.output and "MACs/step" in res.output
    res = CliRunner().invoke(cli, ["bench", str(path), "--target", "host", "--optimize", "time"])
    assert res.exit_code == 2 and "--optimize" in res.output
    res = CliRunner().invoke(cli, ["bench", str(tmp_path / "missing.onnx"), "--target", "host"])
    assert res.exit_code == 2 and "missing.onnx" in res.output


def test_cli_bench_profile_per_layer_and_form(tmp_path: Path) -> None:
    model = mixed_model(3)
    path = tmp_path / "m.onnx"
    save_onnx(model, path)
    res = CliRunner().invoke(cli, ["bench", str(path), "--target", "cortex-m4", "--sequences", "1",
                                   "--steps", "2", "--profile", "--json"])
    assert res.exit_code == 0, res.output
    forms = json.loads(res.output)["forms"]
    for doc in forms.values():
        layers = doc["targets"][0]["layers"]
        assert [x["name"] for x in layers] == [layer.name for layer in model.layers] + ["(after the last layer)"]
    dense = [x["instructions"] for x in forms["dense"]["targets"][0]["layers"]]
    pruned = [x["instructions"] for x in forms["pruned"]["targets"][0]["layers"]]
    # The softmax is the same code in every form; the first LSTM's matrices are not.
    assert abs(dense[-2] - pruned[-2]) <= 40 and dense[0] != pruned[0]


def test_cli_bench_against_a_trained_pruned_model(tmp_path: Path) -> None:
    import numpy as np

    from dkgen.harness.compare import pruned_equivalent

    model, other = token_model(1), pruned_equivalent(token_model(2))  # "trained" apart
    save_onnx(model, tmp_path / "m.onnx")
    save_onnx(other, tmp_path / "p.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "own.npz", x=rng.integers(0, other.input.size, size=(2, 3)))
    args = ["bench", str(tmp_path / "m.onnx"), "--target", "host", "--sequences", "2", "--steps", "3",
            "--pruned", str(tmp_path / "p.onnx")]
    res = CliRunner().invoke(cli, [*args, "--pruned-inputs", str(tmp_path / "own.npz"), "--json"])
    assert res.exit_code == 0, res.output
    forms = json.loads(res.output)["forms"]
    assert list(forms) == ["model", "pruned", "dense"]
    assert forms["pruned"]["model"] == other.name and forms["model"]["model"] == model.name
    res = CliRunner().invoke(cli, [*args[:-2], "--pruned-inputs", str(tmp_path / "own.npz")])
    assert res.exit_code == 2 and "--pruned" in res.output
    save_onnx(mixed_model(0), tmp_path / "other.onnx")
    res = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "other.onnx")])
    assert res.exit_code == 2 and "other.onnx" in res.output and "differ" in res.output
