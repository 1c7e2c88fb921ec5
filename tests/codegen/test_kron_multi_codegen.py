"""Kronecker products of three or four factors through the whole path: written to ONNX as
nested `Kron` calls that onnxruntime runs and dkgen reads back as one product, and
generated as C that matches the reference on the host and Cortex-M cores (float32: every
factor kept, dkgen_kron_multi_matvec_f32; int8: the first factor against the product of
the others, dkgen_kron_multi_matvec_s8, bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_files import written_back

from dkgen.codegen.pack import KRON_ORDER_AX, KRON_ORDER_XBT, kron_multi_forms
from dkgen.codegen.plan import plan_model
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import verify_model
from dkgen.ir.graph import GRU, LSTM, InputSpec, Linear, Model, Softmax
from dkgen.ir.reference import ReferenceExecutor
from dkgen.ir.weights import KronWeight, SparseDope, kron_chain
from dkgen.quant import quantize_model
from dkgen.quant.calibrate import calibrate
from dkgen.quant.model import QKronMulti
from dkgen.quant.quantize import Quantizer, QuantOptions, fold_to_two_factors


def _doped(rng: np.random.Generator, shapes, density: float = 0.1) -> KronWeight:
    factors = [rng.normal(scale=0.6, size=s) for s in shapes]
    rows, cols = int(np.prod([m for m, _ in shapes])), int(np.prod([n for _, n in shapes]))
    nnz = int(rows * cols * density)
    index = np.sort(rng.choice(rows * cols, nnz, replace=False))
    return KronWeight.of(factors, SparseDope(rows, cols, index, rng.normal(size=nnz)))


def _model() -> Model:
    rng = np.random.default_rng(3)
    h = 12
    return Model("kmulti", InputSpec("vector", 6), [
        LSTM("lstm0", h, _doped(rng, [(2, 3), (4, 1), (6, 2)]), _doped(rng, [(4, 2), (3, 3), (4, 2)]),
             rng.normal(size=4 * h), rng.normal(size=4 * h)),
        # linear_before_reset=0 multiplies the candidate rows (8..11) of R on their own:
        # whole rows of the first factor (3 of them, 4 rows each) from row 8 on.
        GRU("gru1", 4, _doped(rng, [(3, 2), (2, 3), (2, 2)]), _doped(rng, [(3, 2), (1, 2), (4, 1)]),
            rng.normal(size=12), rng.normal(size=12), linear_before_reset=False),
        Linear("out", KronWeight.of([rng.normal(size=s) for s in ((1, 2), (2, 1), (2, 2), (1, 1))]),
               rng.normal(size=4)),
        Softmax("sm", 4),
    ])


def test_onnx_nests_the_factors_and_reads_them_back(tmp_path):
    model = _model()
    x = np.random.default_rng(4).uniform(-1, 1, size=(3, 7, 6)).astype(np.float32)
    again, proto, got = written_back(model, x, tmp_path / "kmulti.onnx")
    calls = [n.op_type for n in proto.graph.node if n.domain == "dkgen"]
    # Each three-factor DopedKron(A, Kron(B, C)); the four-factor Kron(A, Kron(B, Kron(C, D))).
    assert calls.count("DopedKron") == 4 and calls.count("Kron") == 4 * 1 + 3
    np.testing.assert_allclose(got, ReferenceExecutor(model)(x), rtol=1e-5, atol=1e-6)
    for before, after in zip(model.layers[:3], again.layers[:3], strict=True):
        for role in ("w_ih", "w_hh", "weight"):
            if hasattr(before, role):
                w0, w1 = getattr(before, role), getattr(after, role)
                assert w1.factor_shapes == w0.factor_shapes
                for f0, f1 in zip(w0.factors, w1.factors, strict=True):
                    np.testing.assert_array_equal(f0, f1)
                np.testing.assert_array_equal(w1.dope.index if w1.dope else [], w0.dope.index if w0.dope else [])


def test_float_code_keeps_every_factor(tmp_path):
    plan = plan_model(_model())
    kinds = {m.kind for lp in plan.layers for m in lp.matrices.values()}
    assert kinds == {"kron_multi"}
    assert "dkgen_kron_multi_matvec_f32" in plan.kernels
    assert "dkgen_kron_matvec_f32" not in plan.kernels
    w = _model().layers[0].w_ih
    assert plan.layers[0].matrices["w_ih"].macs == w.macs


def test_folding_picks_the_two_factors_that_store_least():
    w = _doped(np.random.default_rng(5), [(10, 5), (10, 5), (8, 8)], density=0.001)
    folded = fold_to_two_factors(w)
    assert folded.factor_shapes == ((100, 25), (8, 8))  # 2,564 values; (10,5) ⊗ (80,40): 3,250
    np.testing.assert_allclose(folded.dense64, w.dense64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kron_chain(folded.factors), kron_chain(w.factors), rtol=1e-5, atol=1e-6)


def test_int8_keeps_three_factors():
    """int8 stores one end factor and the two-factor product of the others (of four
    factors, the other three folded to two): far fewer bytes than folding all of them to
    two. The test model has both forms, so the C test below runs both."""
    model = _model()
    x = np.random.default_rng(6).uniform(-1, 1, size=(3, 7, 6)).astype(np.float32)
    q = quantize_model(model, x)
    lstm, gru = q.layers[0], q.layers[1]
    # (2,3) ⊗ (4,1) ⊗ (6,2): the expanding (6,2) last, on the two columns of x
    assert isinstance(lstm.w_ih, QKronMulti) and lstm.w_ih.order == KRON_ORDER_AX
    assert lstm.w_ih.b.shape == (6, 2) and lstm.w_ih.a.size == 0
    assert (lstm.w_ih.inner.a.shape, lstm.w_ih.inner.b.shape) == ((2, 3), (4, 1))
    # (4,2) ⊗ (3,3) ⊗ (4,2): F0 first, on the two slices
    assert lstm.w_hh.order == KRON_ORDER_XBT and lstm.w_hh.a.shape == (4, 2) and lstm.w_hh.b.size == 0
    assert gru.w_hh.order == KRON_ORDER_AX  # the GRU's candidate rows in this form too
    head = q.layers[2].weight
    assert isinstance(head, QKronMulti) and head.order == KRON_ORDER_AX and head.b.shape == (1, 1)
    assert head.outer_shape == (4, 4, 1, 1)
    big = fold_to_two_factors(_doped(np.random.default_rng(5), [(10, 5), (10, 5), (8, 8)], 0.001))
    w3 = _doped(np.random.default_rng(5), [(10, 5), (10, 5), (8, 8)], 0.001)
    one = Model("one", InputSpec("vector", 200), [Linear("m", w3)])
    two = Model("two", InputSpec("vector", 200), [Linear("m", big)])
    xs = np.random.default_rng(7).uniform(-1, 1, size=(2, 3, 200)).astype(np.float32)
    q3, q2 = quantize_model(one, xs).layers[0].weight, quantize_model(two, xs).layers[0].weight
    assert q3.nbytes + 2_000 < q2.nbytes  # 164 factor bytes against 2,564


@pytest.mark.parametrize(("shapes", "order", "macs", "other"), [
    # lstm256k3's recurrent matrix (scripts/bench.py): (8,8) ⊗ (8,8) first, (16,4) last
    ([(8, 8), (8, 8), (16, 4)], KRON_ORDER_AX, 8_192, 14_336),
    # PTB small's three factors: (10,5) first
    ([(10, 5), (10, 5), (8, 8)], KRON_ORDER_XBT, 7_600, 12_400),
])
def test_int8_takes_the_form_with_fewer_macs(shapes, order, macs, other):
    """The single factor goes last when it expands (m > n): the pass that multiplies the
    rows most then runs once, at the end, not on every piece of x."""
    w = _doped(np.random.default_rng(8), shapes, density=0.0)
    cols = w.shape[1]
    model = Model("m", InputSpec("vector", cols), [Linear("m", w)])
    xs = np.random.default_rng(7).uniform(-1, 1, size=(2, 3, cols)).astype(np.float32)
    q = quantize_model(model, xs).layers[0].weight
    assert isinstance(q, QKronMulti) and q.order == order and q.macs == macs
    quantizer = Quantizer(model, calibrate(model, xs), QuantOptions())
    alt, _ = quantizer._kron_multi_form(w, 1 - order, 1.0, xs.reshape(-1, cols), None, "m")
    assert alt.macs == other
    # The cost model the quantiser and `make paper` choose by, without building either.
    assert kron_multi_forms(w.factor_shapes) == {order: macs, 1 - order: other}


def test_the_cost_model_is_the_built_macs():
    """kron_multi_forms gives each QKronMulti's MACs, four factors (folded) included."""
    q = quantize_model(_model(), np.random.default_rng(6).uniform(-1, 1, size=(3, 7, 6)).astype(np.float32))
    weights = {(layer.name, role): w for layer in _model().layers for role, w in layer.weights().items()}
    seen = 0
    for layer in q.layers:
        for role, m in layer.matrices().items():
            if isinstance(m, QKronMulti):
                shapes = weights[(layer.name, role)].factor_shapes
                dope = m.dope.nnz if m.dope is not None else 0
                assert m.macs - dope == kron_multi_forms(shapes)[m.order]
                seen += 1
    assert seen == 5


@pytest.mark.parametrize(("dtype", "optimize"), [("float32", "ram"), ("int8", "ram"), ("int8", "time")])
def test_generated_c_matches_the_reference(tmp_path, dtype, optimize):
    """int8 "ram" adds the products a block of rows at a time, "time" whole (both forms'
    dkgen_kron_multi_matvec_s8, then dkgen_kron_matvec_s8_finish)."""
    x = np.random.default_rng(6).uniform(-1, 1, size=(3, 7, 6)).astype(np.float32)
    targets = "host,cortex-m4" + (",cortex-m55" if dtype == "int8" else "")
    report = verify_model(_model(), resolve_targets(targets), inputs=x, dtype=dtype,
                          workdir=tmp_path / "verify", jobs=2, optimize=optimize)
    assert report.passed, [t.reason for t in report.targets]


def test_five_nested_factors_are_refused_with_the_node_named(tmp_path):
    """The C kernels take at most four factors: a file nesting five is refused cleanly."""
    import onnx

    from dkgen.errors import DkgenError
    from dkgen.onnx_io.export import model_to_onnx
    from dkgen.onnx_io.importer import load_onnx

    rng = np.random.default_rng(9)
    model = Model("k4", InputSpec("vector", 16), [
        Linear("out", KronWeight.of([rng.normal(size=(2, 2)) for _ in range(4)]))])
    proto = model_to_onnx(model)
    nodes = list(proto.graph.node)
    # One more level: the innermost Kron's B becomes Kron(B, [[1]]).
    inner = next(n for n in nodes if n.op_type == "Kron" and n.input[1].endswith(".D"))
    proto.graph.initializer.append(onnx.numpy_helper.from_array(np.ones((1, 1), np.float32), "one"))
    extra = onnx.helper.make_node("Kron", [inner.input[1], "one"], ["d_one"], name="extra", domain="dkgen")
    inner.input[1] = "d_one"
    proto.graph.node.insert(list(proto.graph.node).index(inner), extra)
    path = tmp_path / "five.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(DkgenError, match="at most 4 factors"):
        load_onnx(path)
