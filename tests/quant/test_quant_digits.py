"""The issue's bars on the digits example: int8 test accuracy within 1 point of float, int8
weights at most 30% of the float weights' bytes, and the generated C bit for bit."""

from __future__ import annotations

import pytest
from int8_helpers import run_parity

from dkgen.codegen.plan import plan_model
from dkgen.ir.reference import ReferenceExecutor
from dkgen.quant.codegen import generate_int8, golden_int8, plan_int8
from dkgen.quant.quantize import quantize_model
from dkgen.quant.reference import QuantReferenceExecutor

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("torch")
    from dkgen.train.digits import digits_model_to_ir, load_digits_split, train_digits

    result = train_digits(seed=0)
    x_train = load_digits_split(0)[0]
    model = digits_model_to_ir(result)
    return model, quantize_model(model, x_train[:256]), result


def test_accuracy_within_one_point_and_weights_under_30_percent(digits):
    model, qm, result = digits
    float_pred = ReferenceExecutor(model)(result.x_test)[:, -1].argmax(axis=1)
    int8_pred = QuantReferenceExecutor(qm)(result.x_test)[:, -1].argmax(axis=1)
    float_acc = float((float_pred == result.y_test).mean())
    int8_acc = float((int8_pred == result.y_test).mean())
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)
    ratio = plan_int8(qm).weight_bytes / plan_model(model).weight_bytes
    assert ratio <= 0.30, ratio


def test_generated_c_matches_on_test_images(digits, tmp_path):
    _, qm, result = digits
    lib = generate_int8(qm, None, tmp_path / "lib", name="digits")
    images = result.x_test[:12]
    res = run_parity(lib, golden_int8(qm, images), tmp_path)
    assert res["passed"], (res["stdout"][-1000:], res["layer"])
