"""ONNX GRU files as other tools write them: onnx.helper graphs with a standard `GRU` node
in either form of `linear_before_reset` (absent means 0, ONNX's default, which tf2onnx
writes for Keras' reset_after=False; 1 is PyTorch's), with or without the default
activations spelled out.  dkgen's reference agrees with
onnxruntime, and the generated C with the reference, in float32 and int8."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from dkgen.codegen.plan import plan_model
from dkgen.errors import DkgenError
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import verify_model
from dkgen.inspect import model_summary
from dkgen.ir.graph import GRU
from dkgen.ir.reference import ReferenceExecutor
from dkgen.onnx_io.importer import load_onnx

FEATURES, HIDDEN, CLASSES = 5, 7, 3


def gru_file(tmp_path, lbr: int | None, seed: int = 0, hidden2: int | None = None,
             **extra: object):
    """x (time, batch, 5) -> GRU(7) [-> GRU(hidden2)] -> Squeeze -> MatMul + Add (3)."""
    rng = np.random.default_rng(seed)
    inits, nodes, x, size = [], [], "x", FEATURES
    attrs = ({} if lbr is None else {"linear_before_reset": lbr}) | extra
    for i, h in enumerate([HIDDEN] + ([hidden2] if hidden2 else [])):
        inits += [numpy_helper.from_array(rng.normal(scale=0.5, size=(1, 3 * h, size)).astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(rng.normal(scale=0.5, size=(1, 3 * h, h)).astype(np.float32), f"R{i}"),
                  numpy_helper.from_array(rng.normal(scale=0.5, size=(1, 6 * h)).astype(np.float32), f"B{i}"),
                  numpy_helper.from_array(np.array([1], np.int64), f"axis{i}")]
        nodes += [helper.make_node("GRU", [x, f"W{i}", f"R{i}", f"B{i}"], [f"Y{i}"], f"gru{i}",
                                   hidden_size=h, **attrs),
                  helper.make_node("Squeeze", [f"Y{i}", f"axis{i}"], [f"y{i}"], f"squeeze{i}")]
        x, size = f"y{i}", h
    inits += [numpy_helper.from_array(rng.normal(size=(size, CLASSES)).astype(np.float32), "Wfc"),
              numpy_helper.from_array(rng.normal(size=CLASSES).astype(np.float32), "bfc")]
    nodes += [helper.make_node("MatMul", [x, "Wfc"], ["fc"], "fc"),
              helper.make_node("Add", ["fc", "bfc"], ["out"], "fc_bias")]
    graph = helper.make_graph(
        nodes, "gru", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", FEATURES])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["time", "batch", CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / f"gru-lbr{lbr}-{len(extra)}.onnx"
    onnx.save(model, str(path))
    return path


def inputs(seed: int, sequences: int = 3, steps: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, size=(sequences, steps, FEATURES)).astype(np.float32)


@pytest.mark.parametrize("lbr", [None, 0, 1])
def test_reference_agrees_with_onnxruntime(tmp_path, lbr):
    path = gru_file(tmp_path, lbr, hidden2=4)
    model = load_onnx(path)
    grus = [layer for layer in model.layers if isinstance(layer, GRU)]
    assert [g.linear_before_reset for g in grus] == [lbr == 1] * 2
    x = inputs(1)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x.transpose(1, 0, 2)})[0].transpose(1, 0, 2)
    np.testing.assert_allclose(ReferenceExecutor(model)(x), want, rtol=1e-5, atol=1e-5)


def test_the_two_forms_differ(tmp_path):
    # Same weights, the other form: where the reset gate acts changes the outputs (a test
    # that read one form as the other would pass the agreement test above only by chance).
    x = inputs(2)
    a = ReferenceExecutor(load_onnx(gru_file(tmp_path, 0)))(x)
    b = ReferenceExecutor(load_onnx(gru_file(tmp_path, 1)))(x)
    assert np.abs(a - b).max() > 0.1


def test_second_recurrent_product_is_counted(tmp_path):
    zero, one = load_onnx(gru_file(tmp_path, 0)), load_onnx(gru_file(tmp_path, 1))
    r = 3 * HIDDEN * HIDDEN
    assert plan_model(zero).macs - plan_model(one).macs == r
    assert model_summary(zero)["total"]["macs"] - model_summary(one)["total"]["macs"] == r


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_generated_c_agrees_on_host_and_cortex_m4(tmp_path, dtype):
    model = load_onnx(gru_file(tmp_path, None, seed=3, hidden2=4))
    x = inputs(4)
    report = verify_model(model, resolve_targets("host,cortex-m4"), inputs=x, dtype=dtype,
                          calib=inputs(5, sequences=8) if dtype == "int8" else None,
                          workdir=tmp_path / "verify", jobs=2)
    assert report.passed, [t.reason for t in report.targets]


def test_other_values_are_named(tmp_path):
    path = gru_file(tmp_path, 2)
    with pytest.raises(DkgenError, match="gru0.*linear_before_reset is 2"):
        load_onnx(path)


def test_default_activations_spelled_out_are_read(tmp_path):
    # What converters such as tf2onnx write: the defaults, named.
    path = gru_file(tmp_path, 0, activations=["Sigmoid", "Tanh"])
    x = inputs(6)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x.transpose(1, 0, 2)})[0].transpose(1, 0, 2)
    np.testing.assert_allclose(ReferenceExecutor(load_onnx(path))(x), want, rtol=1e-5, atol=1e-5)


def test_other_activations_are_named(tmp_path):
    # Keras 2's old default recurrent activation
    path = gru_file(tmp_path, 0, activations=["HardSigmoid", "Tanh"])
    with pytest.raises(DkgenError, match=r"gru0.*\['HardSigmoid', 'Tanh'\] are not supported.*"
                                         r"recurrent_activation='sigmoid'"):
        load_onnx(path)
