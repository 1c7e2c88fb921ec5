"""ONNX export and import: the checker passes, onnxruntime runs the file and agrees with the
reference executor, and the importer recovers factors and dope exactly."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from random_models import mixed_model, token_model

from dkgen.errors import DkgenError
from dkgen.ir.reference import ReferenceExecutor
from dkgen.ir.weights import KronWeight
from dkgen.onnx_io.export import model_to_onnx, save_onnx
from dkgen.onnx_io.importer import load_onnx


def _ort(path, model, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = x.T if x.ndim == 2 else x.transpose(1, 0, 2)
    out = sess.run(None, {model.input.name: feed.astype(np.int64 if x.ndim == 2 else np.float32)})[0]
    return out.transpose(1, 0, 2)


@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_checker_onnxruntime_and_reference_agree(tmp_path, make):
    model = make(1)
    path = save_onnx(model, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    rng = np.random.default_rng(3)
    if model.input.kind == "token":
        x = rng.integers(0, model.input.size, size=(3, 9))
    else:
        x = rng.uniform(-1, 1, size=(3, 9, model.input.size)).astype(np.float32)
    ref = ReferenceExecutor(model)(x)
    np.testing.assert_allclose(_ort(path, model, x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_import_recovers_structure_exactly(tmp_path, make):
    model = make(2)
    back = load_onnx(save_onnx(model, tmp_path / "m.onnx"))
    assert [type(a) for a in model.layers] == [type(b) for b in back.layers]
    assert [a.name for a in model.layers] == [b.name for b in back.layers]
    for a, b in zip(model.layers, back.layers, strict=True):
        for role, wa in a.weights().items():
            wb = b.weights()[role]
            assert type(wa) is type(wb)
            if isinstance(wa, KronWeight):
                assert np.array_equal(wa.a, wb.a) and np.array_equal(wa.b, wb.b)
                assert (wa.dope is None) == (wb.dope is None)
                if wa.dope is not None:
                    assert np.array_equal(wa.dope.index, wb.dope.index)
                    assert np.array_equal(wa.dope.values, wb.dope.values)
            assert np.array_equal(wa.to_dense(), wb.to_dense())
        for role, va in a.vectors().items():
            assert np.array_equal(va, b.vectors()[role])


def test_export_is_deterministic():
    a = model_to_onnx(mixed_model(0)).SerializeToString(deterministic=True)
    b = model_to_onnx(mixed_model(0)).SerializeToString(deterministic=True)
    assert a == b


def test_refuses_to_overwrite(tmp_path):
    path = save_onnx(mixed_model(0), tmp_path / "m.onnx")
    with pytest.raises(DkgenError, match="--force"):
        save_onnx(mixed_model(0), path)
    save_onnx(mixed_model(1), path, force=True)


@pytest.mark.parametrize("content, message", [
    (b"", "fails onnx.checker|not a readable"),
    (b"\x00\x01garbage", "not a readable ONNX"),
])
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(DkgenError, match=message) as info:
        load_onnx(p)
    assert "\n" not in str(info.value) and str(p) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DkgenError, match="no such file"):
        load_onnx(tmp_path / "nope.onnx")


def test_unsupported_operator_is_named(tmp_path):
    proto = model_to_onnx(mixed_model(0))
    node = next(n for n in proto.graph.node if n.op_type == "Softmax")
    node.op_type = "Hardmax"
    p = tmp_path / "m.onnx"
    onnx.save(proto, str(p))
    with pytest.raises(DkgenError, match="Hardmax is not supported"):
        load_onnx(p)
