"""Every method's language model exports to ONNX, runs in onnxruntime, and compiles to C
that agrees with the reference executor on the host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lm_helpers import tiny_config, tiny_corpus

from dkgen.nn.schedule import masked_matrices
from dkgen.train.export import lm_to_ir
from dkgen.train.lm import build_model
from dkgen.train.methods import METHODS

# Every method, and DKP with three Kronecker factors (the tiny recipe's 256x64 matrices).
CASES = [(m, None) for m in METHODS] + [("dkp", [[4, 4], [8, 4], [8, 4]])]


@pytest.mark.parametrize("method,factors", CASES, ids=[*METHODS, "dkp-3-factors"])
def test_method_exports_and_compiles(method: str, factors: list | None, tmp_path: Path) -> None:
    from dkgen.harness.targets import resolve_targets
    from dkgen.harness.verify import verify_model
    from dkgen.onnx_io.export import save_onnx
    from dkgen.onnx_io.importer import load_onnx

    data = tiny_corpus(tmp_path / "data")
    config = tiny_config(data, method=method, ratio=None if method == "dense" else 10.0,
                         init_from=None if method in ("dense", "small") else "unused", factors=factors)
    torch.manual_seed(0)
    dense = build_model(tiny_config(data), 41)
    model = build_model(config, 41, dense.state_dict())
    for m in masked_matrices(model):
        with torch.no_grad():
            m.values.normal_(0.0, 0.1)  # dope values away from the fitted residual
        m.prune_to(m.target_nnz)  # the final structure, as deployed
    model.eval()
    ir = lm_to_ir(model, config, "lm")
    if factors is not None:
        assert {w.factor_shapes for layer in ir.layers if hasattr(layer, "w_hh")
                for w in (layer.w_ih, layer.w_hh)} == {tuple(map(tuple, factors))}
    path = save_onnx(ir, tmp_path / "lm.onnx")
    x = np.random.default_rng(0).integers(0, 41, size=(2, 6))
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(x).t())
        expect = torch.softmax(logits, -1).transpose(0, 1).numpy()
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # The ONNX model is time-major: (time, batch) token ids in, (time, batch, vocab) out.
    got = sess.run(None, {ir.input.name: x.T.astype(np.int64)})[0].transpose(1, 0, 2)
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-5)
    report = verify_model(load_onnx(path), resolve_targets("host"), inputs=x,
                          workdir=tmp_path / "verify", jobs=1)
    assert report.passed, [(t.target, t.reason) for t in report.targets]
