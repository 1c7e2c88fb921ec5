"""The LSTM and GRU cell kernels against onnxruntime's own LSTM and GRU operators.

This pins down what "ONNX gate order" and "linear_before_reset" mean by running
the standard operators, rather than by restating the spec in numpy: one timestep of
a random single-layer cell, with the gate pre-activations fed to the C kernel
computed from the same weights. linear_before_reset=1 (PyTorch) is the one GRU
kernel dkgen_gru_cell_f32; linear_before_reset=0 (ONNX's default) is the pair
dkgen_gru_reset_f32, dkgen_gru_update_f32 with the second recurrent product
R (r*h) + Rb computed here, in between, from what the first kernel left in gx.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

RTOL = 1e-5


def run_onnx_cell(
    op: str, inputs: dict[str, np.ndarray], hidden: int, attrs: dict, outputs: list[str]
) -> list[np.ndarray]:
    names = list(inputs)
    node = helper.make_node(op, names, ["Y", *outputs], hidden_size=hidden, **attrs)
    graph = helper.make_graph(
        [node],
        f"one_{op.lower()}_step",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(inputs["X"].shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 1, hidden]) for o in outputs],
        initializer=[numpy_helper.from_array(v, n) for n, v in inputs.items() if n != "X"],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [o.reshape(-1) for o in sess.run(outputs, {"X": inputs["X"]})]


@pytest.mark.parametrize("hidden,n_in", [(1, 1), (5, 3), (16, 9)])
def test_lstm_cell_matches_onnxruntime_lstm(driver, hidden, n_in):
    rng = np.random.default_rng(100 + hidden)
    w = rng.standard_normal((1, 4 * hidden, n_in)).astype(np.float32)
    r = rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((1, 8 * hidden)).astype(np.float32)
    x = rng.standard_normal((1, 1, n_in)).astype(np.float32)
    h0 = rng.standard_normal((1, 1, hidden)).astype(np.float32)
    c0 = rng.standard_normal((1, 1, hidden)).astype(np.float32)
    want_h, want_c = run_onnx_cell(
        "LSTM",
        {
            "X": x,
            "W": w,
            "R": r,
            "B": b,
            "sequence_lens": np.array([1], np.int32),
            "initial_h": h0,
            "initial_c": c0,
        },
        hidden,
        {},
        ["Y_h", "Y_c"],
    )
    gates = (
        w[0].astype(np.float64) @ x.reshape(-1)
        + r[0] @ h0.reshape(-1)
        + b[0, : 4 * hidden]
        + b[0, 4 * hidden :]
    ).astype(np.float32)
    out = np.frombuffer(
        driver.run("lstm", [hidden], gates, h0.reshape(-1), c0.reshape(-1)), dtype="<f4"
    )
    np.testing.assert_allclose(out[:hidden], want_h, rtol=RTOL, atol=1e-5)
    np.testing.assert_allclose(out[hidden:], want_c, rtol=RTOL, atol=1e-5)


def gru_case(hidden: int, n_in: int, seed: int, linear_before_reset: int):
    """A random one-layer GRU's W, R, B, x, h0 and onnxruntime's new h after one step."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((1, 3 * hidden, n_in)).astype(np.float32)
    r = rng.standard_normal((1, 3 * hidden, hidden)).astype(np.float32) * 0.5
    b = rng.standard_normal((1, 6 * hidden)).astype(np.float32)
    x = rng.standard_normal((1, 1, n_in)).astype(np.float32)
    h0 = rng.standard_normal((1, 1, hidden)).astype(np.float32)
    (want_h,) = run_onnx_cell(
        "GRU",
        {"X": x, "W": w, "R": r, "B": b, "sequence_lens": np.array([1], np.int32), "initial_h": h0},
        hidden,
        {"linear_before_reset": linear_before_reset},
        ["Y_h"],
    )
    return w, r, b, x, h0, want_h


@pytest.mark.parametrize("hidden,n_in", [(1, 1), (5, 3), (16, 9)])
def test_gru_cell_matches_onnxruntime_gru_linear_before_reset(driver, hidden, n_in):
    w, r, b, x, h0, want_h = gru_case(hidden, n_in, 200 + hidden, 1)
    gx = (w[0].astype(np.float64) @ x.reshape(-1) + b[0, : 3 * hidden]).astype(np.float32)
    gh = (r[0].astype(np.float64) @ h0.reshape(-1) + b[0, 3 * hidden :]).astype(np.float32)
    out = np.frombuffer(driver.run("gru", [hidden], gx, gh, h0.reshape(-1)), dtype="<f4")
    np.testing.assert_allclose(out, want_h, rtol=RTOL, atol=1e-5)


def sigmoid64(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v.astype(np.float64)))


@pytest.mark.parametrize("hidden,n_in", [(1, 1), (5, 3), (16, 9)])
def test_gru_reset_update_match_onnxruntime_gru_no_linear_before_reset(driver, hidden, n_in):
    w, r, b, x, h0, want_h = gru_case(hidden, n_in, 300 + hidden, 0)
    h = h0.reshape(-1)
    rb = b[0, 3 * hidden :].astype(np.float64)
    gx = (w[0].astype(np.float64) @ x.reshape(-1) + b[0, : 3 * hidden]).astype(np.float32)
    gh = (r[0].astype(np.float64) @ h + rb).astype(np.float32)

    # First half: gx[0:H] becomes z, gx[H:2H] becomes r*h, gx[2H:3H] is left alone.
    gx_after = np.frombuffer(driver.run("gru_reset", [hidden], gx, gh, h), dtype="<f4")
    pre = gx.astype(np.float64) + gh.astype(np.float64)
    z = sigmoid64(pre[:hidden])
    rh = sigmoid64(pre[hidden : 2 * hidden]) * h
    np.testing.assert_allclose(gx_after[:hidden], z, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gx_after[hidden : 2 * hidden], rh, rtol=1e-6, atol=1e-7)
    assert gx_after[2 * hidden :].tolist() == gx[2 * hidden :].tolist()

    # The second recurrent product, from the vector the kernel left, as a model computes it.
    gh2 = (r[0].astype(np.float64) @ gx_after[hidden : 2 * hidden] + rb).astype(np.float32)
    got_h = np.frombuffer(driver.run("gru_update", [hidden], gx_after, gh2, h), dtype="<f4")
    np.testing.assert_allclose(got_h, want_h, rtol=RTOL, atol=1e-5)

    # Only gh's candidate block is read: NaN in its z and r blocks changes nothing.
    gh2_poisoned = gh2.copy()
    gh2_poisoned[: 2 * hidden] = np.nan
    got_poisoned = np.frombuffer(
        driver.run("gru_update", [hidden], gx_after, gh2_poisoned, h), dtype="<f4"
    )
    assert got_poisoned.tolist() == got_h.tolist()
