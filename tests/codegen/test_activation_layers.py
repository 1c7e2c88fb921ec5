"""Element-wise activation layers (Relu, Tanh, Sigmoid) between the others: the reference,
ONNX (onnxruntime agrees), the generated C in float32 on host and Cortex-M, and in int8 bit
for bit against the integer reference and close to float."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

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


@pytest.mark.parametrize("acts", [(Relu, Relu), (Tanh, Sigmoid), (Sigmoid, Relu, Tanh)],
                         ids=lambda acts: "-".join(a.__name__ for a in acts))
def test_int8_activations_are_bit_exact_and_close_to_float(tmp_path, acts):
    from dkgen.quant import QuantReferenceExecutor, quantize_model

    model = _model(*acts, seed=3)
    model.layers = model.layers[:-1]  # end on the last Linear: compare outputs, not a softmax
    x = make_inputs(model, 4, 6, seed=1)
    report = verify_model(model, resolve_targets("host,cortex-m0,cortex-m4"), inputs=x, dtype="int8",
                          calib=x, workdir=tmp_path, jobs=2)
    assert report.passed, [t.reason for t in report.targets]
    got = QuantReferenceExecutor(quantize_model(model, x)).run(x)[0]
    want = ReferenceExecutor(model)(x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
