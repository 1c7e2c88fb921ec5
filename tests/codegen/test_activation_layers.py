"""Element-wise activation layers (Relu, Tanh, Sigmoid) between the others: the reference,
ONNX (onnxruntime agrees), the generated C in float32 on host and Cortex-M, and Relu in
int8 bit for bit; int8 Tanh/Sigmoid are refused by name."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from dkgen.errors import DkgenError
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import make_inputs, verify_model
from dkgen.ir.graph import LSTM, InputSpec, Linear, Model, Relu, Sigmoid, Softmax, Tanh
from dkgen.ir.reference import ReferenceExecutor
from dkgen.ir.weights import DenseWeight
from dkgen.onnx_io.export import save_onnx
from dkgen.onnx_io.importer import load_onnx


def _model(*acts: type, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    layers = [LSTM("lstm", 8, DenseWeight(rng.normal(size=(32, 6))), DenseWeight(rng.normal(size=(32, 8))))]
    size = 8
    for i, act in enumerate(acts):
        layers += [Linear(f"fc{i}", DenseWeight(rng.normal(size=(10, size))), rng.normal(size=10)),
                   act(f"act{i}", 10)]
        size = 10
    layers += [Linear("out", DenseWeight(rng.normal(size=(5, size)))), Softmax("softmax", 5)]
    return Model("acts", InputSpec("vector", 6), layers)


def test_reference_onnx_and_float_c_agree(tmp_path):
    model = _model(Relu, Tanh, Sigmoid)
    x = make_inputs(model, 3, 6, seed=2) * 4 - 2  # both signs, into the saturating ranges
    ref = ReferenceExecutor(model)(x)
    path = save_onnx(model, tmp_path / "acts.onnx")
    back = load_onnx(path)
    assert [layer.op for layer in back.layers] == [layer.op for layer in model.layers]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": x.transpose(1, 0, 2).astype(np.float32)})[0].transpose(1, 0, 2)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    report = verify_model(back, resolve_targets("host,cortex-m4,cortex-m0"), inputs=x,
                          workdir=tmp_path / "v", jobs=2)
    assert report.passed, [t.reason for t in report.targets]


def test_relu_in_int8_is_bit_exact(tmp_path):
    model = _model(Relu, Relu, seed=3)
    x = make_inputs(model, 4, 6, seed=1)
    report = verify_model(model, resolve_targets("host,cortex-m4"), inputs=x, dtype="int8", calib=x,
                          workdir=tmp_path, jobs=2)
    assert report.passed, [t.reason for t in report.targets]


@pytest.mark.parametrize("act", [Tanh, Sigmoid])
def test_int8_names_what_it_lacks(tmp_path, act):
    model = _model(act)
    x = make_inputs(model, 2, 3, seed=1)
    with pytest.raises(DkgenError, match=f"act0: int8 has no {act.__name__.lower()} layer") as err:
        verify_model(model, resolve_targets("host"), inputs=x, dtype="int8", calib=x, workdir=tmp_path)
    assert "float32" in str(err.value)
