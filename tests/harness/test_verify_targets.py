"""The harness across the whole target table: every target passes a correct build and
fails a deliberately wrong kernel; a hanging firmware times out; budgets are enforced;
--debug names the first layer out of tolerance; --junit writes JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner
from random_models import mixed_model

from dkgen.cli import cli
from dkgen.codegen.render import generate
from dkgen.errors import DkgenError
from dkgen.harness.budget import check_budget
from dkgen.harness.targets import get_target, resolve_targets
from dkgen.harness.verify import first_layer_mismatch, golden_set, make_inputs, verify_model
from dkgen.ir.graph import LSTM, InputSpec, Linear, Model
from dkgen.ir.weights import DenseWeight
from dkgen.onnx_io.export import save_onnx

ALL = resolve_targets("all")


def test_all_targets_pass_and_all_catch_a_wrong_kernel(tmp_path):
    good = verify_model(mixed_model(5), ALL, workdir=tmp_path / "good", jobs=2)
    assert [t.target for t in good.targets] == [t.name for t in ALL] and len(ALL) == 8
    assert good.passed, {t.target: t.reason for t in good.targets}
    for t in good.targets:
        assert t.fits_budget and t.stack_bytes and t.stack_bytes > 0
    bad = verify_model(mixed_model(5), ALL, workdir=tmp_path / "bad", jobs=2,
                       defines={"DKGEN_TEST_WRONG_KERNEL": "1"})
    assert not any(t.passed for t in bad.targets)
    assert all("differ from the reference" in t.reason for t in bad.targets)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_generated_libraries_are_clean_under_the_sanitizers(tmp_path, dtype):
    from random_models import token_model

    for make in (mixed_model, token_model):
        model = make(4)
        x = make_inputs(model, 3, 6, seed=1)
        report = verify_model(model, resolve_targets("host-sanitize"), inputs=x, dtype=dtype,
                              calib=x if dtype == "int8" else None, workdir=tmp_path / model.name, jobs=1)
        assert report.passed, [t.reason for t in report.targets]


def test_hanging_firmware_times_out(tmp_path):
    report = verify_model(mixed_model(0), resolve_targets("host,cortex-m4"), workdir=tmp_path, jobs=2,
                          timeout_s=2.0, defines={"DKGEN_TEST_HANG": "1"})
    for t in report.targets:
        assert not t.passed and "timed out" in t.reason


def _big_dense_model() -> Model:
    rng = np.random.default_rng(0)
    h = 128  # two 512x128 float matrices: 512 KB of weights, twice a Cortex-M0 part's flash
    return Model("big", InputSpec("vector", 128), [
        LSTM("lstm", h, DenseWeight(rng.normal(size=(4 * h, 128))), DenseWeight(rng.normal(size=(4 * h, h)))),
        Linear("fc", DenseWeight(rng.normal(size=(4, h)))),
    ])


def test_model_over_the_cortex_m0_budget(tmp_path):
    model = _big_dense_model()
    m0 = get_target("cortex-m0")
    with pytest.raises(DkgenError, match=r"does not fit cortex-m0.*flash .* \(over by [\d,]+ B\)"):
        generate(model, tmp_path / "lib", check=lambda lib: check_budget(lib, m0))
    assert not (tmp_path / "lib").exists()
    report = verify_model(model, [m0], workdir=tmp_path / "verify", sequences=1, steps=1)
    t = report.targets[0]
    assert not t.passed and t.fits_budget is False and "over by" in t.reason
    assert t.flash_bytes > m0.flash_bytes


def test_cli_generate_budget_check(tmp_path):
    path = save_onnx(_big_dense_model(), tmp_path / "big.onnx")
    r = CliRunner().invoke(cli, ["generate", str(path), "-o", str(tmp_path / "lib"), "--target", "cortex-m0"])
    assert r.exit_code == 2 and "over by" in r.output and not (tmp_path / "lib").exists()
    r = CliRunner().invoke(cli, ["generate", str(path), "-o", str(tmp_path / "lib"), "--target", "cortex-m0",
                                 "--no-budget-check"])
    assert r.exit_code == 0 and (tmp_path / "lib/include/big.h").exists()
    r = CliRunner().invoke(cli, ["generate", str(path), "-o", str(tmp_path / "lib2"), "--target", "cortex-m7"])
    assert r.exit_code == 0 and "fits cortex-m7" in r.output


def test_debug_names_the_first_bad_layer(tmp_path):
    report = verify_model(mixed_model(0), resolve_targets("cortex-m4"), workdir=tmp_path, debug=True,
                          sequences=2, steps=3, defines={"DKGEN_TEST_WRONG_KERNEL": "1"})
    m = report.targets[0].first_layer_mismatch
    assert m["layer"] == 0 and m["layer_name"] == "lstm0" and m["sequence"] == 0 and m["step"] == 0
    assert "first layer out of tolerance: lstm0" in report.targets[0].reason
    ok = verify_model(mixed_model(0), resolve_targets("host"), workdir=tmp_path / "ok", debug=True,
                      sequences=2, steps=3)
    assert ok.passed and ok.targets[0].first_layer_mismatch is None
    trace = (tmp_path / "ok/host/debug-trace.txt").read_text()
    assert trace.count("DKGEN_TRACE") == 2 * 3 * len(mixed_model(0).layers)  # a line a layer a step
    # The layer check uses the runner's rule: float32 rounding is relative, so a bound of
    # 1e-12 flags a layer until 1e-3 of each value's size is allowed.
    golden = golden_set(mixed_model(0), make_inputs(mixed_model(0), 2, 3))
    assert first_layer_mismatch(mixed_model(0), golden, trace, 1e-12, 0.0) is not None
    assert first_layer_mismatch(mixed_model(0), golden, trace, 1e-12, 1e-3) is None


def test_junit_output(tmp_path):
    path = save_onnx(mixed_model(0), tmp_path / "m.onnx")
    junit = tmp_path / "out.xml"
    r = CliRunner().invoke(cli, ["verify", str(path), "--target", "host,cortex-m3", "--junit", str(junit),
                                 "--json"])
    assert r.exit_code == 0, r.output
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["host", "cortex-m3"]
    said = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert said == {"dtype": "float32", "atol": "1e-05", "rtol": "1e-05"}


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_profile_counts_each_layer(tmp_path, dtype):
    model = mixed_model(5)
    report = verify_model(model, resolve_targets("host,cortex-m4"), workdir=tmp_path, jobs=2,
                          sequences=2, steps=3, dtype=dtype, profile=True)
    assert report.passed, {t.target: t.reason for t in report.targets}
    host, m4 = report.targets
    assert host.layers is None  # no timer on the host
    names = [x["name"] for x in m4.layers]
    assert names == [layer.name for layer in model.layers] + ["(after the last layer)"]
    counts = [x["instructions"] for x in m4.layers]
    assert all(c > 0 for c in counts[:-1]) and counts[-1] >= 0
    # The marks' own cost (about 20 instructions each) is taken out: the layers add up to
    # the exact count of the unprofiled build within 1% (one timer tick is 40 instructions
    # on this board; the counts are averages over the steps).
    assert abs(sum(counts) - m4.instructions_per_step) <= 0.01 * m4.instructions_per_step
    # The recurrent layers (4H x (in + H) matrices) cost more than the 5-way softmax.
    by_op = {x["op"]: x["instructions"] for x in m4.layers}
    assert by_op["lstm"] > by_op["softmax"] and by_op["gru"] > by_op["softmax"]
    # each layer's MACs (the lower bound) add up to the library's
    assert sum(x["macs"] for x in m4.layers) == report.library["macs_per_step"]
    # with --debug too: the profile build leaves out the trace hook its runner lacks
    res = CliRunner().invoke(cli, ["verify", str(_saved(model, tmp_path)), "--target", "cortex-m4",
                                   "--sequences", "1", "--steps", "2", "--profile", "--debug"])
    assert res.exit_code == 0, res.output
    assert "layer by layer" in res.output and "(after the last layer)" in res.output


def _saved(model, tmp_path):
    path = tmp_path / "m.onnx"
    save_onnx(model, path)
    return path
