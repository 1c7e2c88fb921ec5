"""int8 code generation: files, determinism, warning-free builds, and bit-exact parity of the
generated C with the numpy integer reference on the host, for random models of varied
shapes (hypothesis, several seeds), the shared example models and saturating inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from codegen_helpers import COMPILERS, tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from int8_helpers import inputs_for, random_model, random_weight, run_parity
from random_models import mixed_model, token_model

from dkgen.errors import DkgenError
from dkgen.ir.graph import GRU, LSTM, InputSpec, Linear, Model
from dkgen.quant import codegen
from dkgen.quant.codegen import generate_int8, golden_int8
from dkgen.quant.quantize import quantize_model
from dkgen.quant.reference import QuantReferenceExecutor

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Wsign-conversion",
          "-Wdouble-promotion", "-Wvla", "-Wmissing-prototypes", "-Wstrict-prototypes", "-Wcast-qual",
          "-Werror", "-O2"]


def _golden_inputs(model, seed: int) -> np.ndarray:
    """Ordinary sequences plus ones far outside the calibration range (saturating)."""
    normal = inputs_for(model, 2, 6, seed)
    loud = inputs_for(model, 2, 6, seed + 1, gain=25.0)
    return np.concatenate([normal, loud])


def check_exact(model, tmp_path: Path, seed: int = 0) -> None:
    qm = quantize_model(model, inputs_for(model, 8, 6, seed + 100))
    lib = generate_int8(qm, None, tmp_path / "lib", name="net", force=True)
    res = run_parity(lib, golden_int8(qm, _golden_inputs(model, seed)), tmp_path)
    assert res["passed"], (res["stdout"][-2000:], res["layer"])


@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_examples_bit_exact_on_host(tmp_path, make):
    check_exact(make(0), tmp_path)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6))
def test_random_models_bit_exact_on_host(tmp_path_factory, seed):
    check_exact(random_model(seed), tmp_path_factory.mktemp("rand"), seed)


def _block_model(seed: int, kinds: tuple[str, str]) -> Model:
    """vector -> LSTM (W_ih of the first kind, W_hh of the second) -> GRU (the other way
    round; ONNX's linear_before_reset=0 for seed 1, whose second recurrent product goes by
    blocks from the block holding row 2H) -> Linear (the second kind) -> Linear (the first
    kind, int16 output)."""
    rng = np.random.default_rng(seed)
    x, h1, h2 = 6, 12, 8
    w = lambda rows, cols, kind: random_weight(rng, rows, cols, (kind,))  # noqa: E731
    b = lambda n: rng.normal(size=n)  # noqa: E731
    return Model(f"gates{seed}", InputSpec("vector", x, low=-2.0, high=2.0), [
        LSTM("lstm", h1, w(4 * h1, x, kinds[0]), w(4 * h1, h1, kinds[1]), b(4 * h1), b(4 * h1)),
        GRU("gru", h2, w(3 * h2, h1, kinds[1]), w(3 * h2, h2, kinds[0]), b(3 * h2), b(3 * h2),
            linear_before_reset=seed != 1),
        Linear("fc", w(10, h2, kinds[1]), b(10)),
        Linear("out", w(6, 10, kinds[0]), b(6))])


@pytest.mark.parametrize("entries", [1, 5])
@pytest.mark.parametrize("kinds", [("doped_kron", "dense"), ("kron", "sparse"), ("doped_kron", "low_rank"),
                                   ("row_stack", "doped_kron")], ids="-".join)
def test_products_by_small_blocks_bit_exact_on_host(tmp_path, monkeypatch, kinds, entries):
    """Matrix products formed a block at a time (recurrent gate sums, linear outputs): with
    blocks of 1 or 5 int32 accumulators most matrices take several blocks (most with a
    shorter last one) and each dope walk starts at many block boundaries; the C stays bit-exact with
    the reference."""
    monkeypatch.setattr(codegen, "BLOCK_ACC_ENTRIES", entries)
    model = _block_model(entries, kinds)
    qm = quantize_model(model, inputs_for(model, 8, 6, 100))
    plan = codegen.plan_int8(qm)
    matrices = [cm for lp in plan.layers for cm in lp.matrices.values()]
    assert len(matrices) == 6 and all(cm.fields.get("by_blocks") for cm in matrices)
    blocks = [leaf.fields["block"] for cm in matrices for leaf in cm.leaves()]
    # a block holds at most `entries` rows, or one unit (a row of A) if that is larger; the
    # accumulator is the largest block
    assert all(b["per"] * b["unit_rows"] <= max(entries, b["unit_rows"]) for b in blocks)
    assert sum(b["units"] > b["per"] for b in blocks) >= 4  # split into several blocks
    acc = {m: n for _, m, n in plan.scratch_members}["acc"]
    assert acc == max(b["per"] * b["unit_rows"] for b in blocks)
    lib = generate_int8(qm, None, tmp_path / "lib", name="net", force=True)
    source = (lib.out_dir / "src" / "net.c").read_text()
    assert all(f"dkgen_requant_{k}_block" in source for k in ("add_s32", "s8", "s16"))
    # linear_before_reset=0 (entries 1): the second product by R starts at the block that
    # holds row 2H; the blocks before it are skipped
    gru = plan.layers[1]
    assert gru.linear_before_reset == (entries != 1)
    w_hh = gru.matrices["w_hh"]
    if not gru.linear_before_reset and w_hh.kind != "row_stack":
        b = w_hh.fields["block"]
        i0 = (2 * 8 // b["unit_rows"]) // b["per"] * b["per"]
        assert f"for (i = {i0}u; i < {b['units']}u;" in source
    res = run_parity(lib, golden_int8(qm, _golden_inputs(model, 0)), tmp_path)
    assert res["passed"], (res["stdout"][-2000:], res["layer"])


def test_wrong_kernel_is_caught_with_its_layer(tmp_path):
    model = mixed_model(2)
    qm = quantize_model(model, inputs_for(model, 8, 6, 1))
    lib = generate_int8(qm, None, tmp_path / "lib", name="net")
    res = run_parity(lib, golden_int8(qm, inputs_for(model, 2, 4, 2)), tmp_path,
                     defines={"DKGEN_TEST_WRONG_KERNEL": None})
    assert not res["passed"] and "DKGEN_RESULT FAIL" in res["stdout"]
    # layer 0 is the LSTM whose Kronecker products lose a column of B
    assert res["layer"] is not None and res["layer"]["layer"] == 0
    assert res["layer"]["sequence"] == 0 and res["layer"]["step"] == 0


def test_files_manifest_and_determinism(tmp_path):
    model = token_model(1)
    calib = inputs_for(model, 8, 6, 3)
    lib = generate_int8(model, calib, tmp_path / "a", name="net", source="lm.onnx", source_sha256="cd" * 32)
    generate_int8(model, calib, tmp_path / "b", name="net", source="lm.onnx", source_sha256="cd" * 32)
    files = tree(tmp_path / "a")
    assert files == tree(tmp_path / "b")
    for f in ("include/net.h", "src/net.c", "src/net_weights.c", "src/net_weights.h", "CMakeLists.txt",
              "net.mk", "manifest.json", "runtime/dkgen_kron_matvec_s8.c", "runtime/dkgen_qmath_s32.h"):
        assert f in files, f
    assert not [f for f in files if f.endswith("_f32.c")]  # no float kernels in an int8 library
    manifest = json.loads(files["manifest.json"])
    assert manifest["dtype"] == "int8" and manifest["quantization"]["rounding"] == "half up"
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    header = files["include/net.h"].decode()
    assert f"#define NET_WEIGHT_BYTES {lib.plan.weight_bytes}u" in header
    assert "net_step_q(" in header and "#define NET_DTYPE_INT8 1" in header
    with pytest.raises(DkgenError, match="--force"):
        generate_int8(model, calib, tmp_path / "a", name="net")
    with pytest.raises(DkgenError, match="calibration"):
        generate_int8(model, None, tmp_path / "c")


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
def test_compiles_warning_free(tmp_path, compiler):
    """The generated files (the runtime's own are checked in tests/runtime) under the strict
    flags, for models using every layer and matrix kind."""
    cmd = COMPILERS[compiler]
    assert shutil.which(cmd[0]), f"{cmd[0]} is missing: run `make sysdeps`"
    for make in (mixed_model, token_model):
        model = make(0)
        lib = generate_int8(model, inputs_for(model, 4, 4, 0), tmp_path / model.name, name="net")
        inc = [f"-I{d}" for d in lib.include_dirs]
        sources = [str(p) for p in lib.c_sources if p.parent.name == "src"]
        proc = subprocess.run([*cmd, *STRICT, *inc, "-c", *sources], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr


API_PROGRAM = r"""
#include <stdio.h>
#include "net.h"
int main(void)
{
    static net_state_t s;
    float y[NET_OUTPUT_SIZE];
    net_qoutput_t yq[NET_OUTPUT_SIZE];
    const net_input_t bad = (net_input_t)NET_VOCAB_SIZE;
    const net_qinput_t tokens[3] = {XS};
    unsigned i, t;
    if (net_init(&s) != DKGEN_OK || net_step(&s, &bad, y) != DKGEN_ERR_BAD_INPUT) return 2;
    if (net_step(NULL, &bad, y) != DKGEN_ERR_NULL || net_step_q(&s, NULL, yq) != DKGEN_ERR_NULL) return 3;
    net_init(&s);
    for (t = 0; t < 3; ++t) {
        if (net_step_q(&s, &tokens[t], yq) != DKGEN_OK) return 4;
        for (i = 0; i < NET_OUTPUT_SIZE; ++i) printf("%d ", (int)yq[i]);
    }
    return 0;
}
"""


def test_integer_api_and_bad_token(tmp_path):
    model = token_model(0)
    qm = quantize_model(model, inputs_for(model, 8, 6, 5))
    lib = generate_int8(qm, None, tmp_path / "lib", name="net")
    xs = np.array([[3, 0, 19]])
    (tmp_path / "main.c").write_text(API_PROGRAM.replace("XS", "3, 0, 19"))
    exe = tmp_path / "api"
    proc = subprocess.run(["gcc", "-std=c99", "-O1", *[f"-I{d}" for d in lib.include_dirs],
                           str(tmp_path / "main.c"), *map(str, lib.c_sources), "-o", str(exe)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0
    q, _ = QuantReferenceExecutor(qm).run_q(xs)
    assert [int(v) for v in run.stdout.split()] == q.reshape(-1).tolist()


def test_float_harness_verifies_int8_with_atol_zero(tmp_path):
    """The float parity runner (dkgen.harness.verify) accepts an int8 library as is:
    outputs compared with atol = 0, and --debug layer traces dequantised exactly."""
    from dkgen.harness.targets import get_target
    from dkgen.harness.verify import GoldenSet, run_target

    model = mixed_model(3)
    qm = quantize_model(model, inputs_for(model, 8, 6, 1))
    lib = generate_int8(qm, None, tmp_path / "lib", name="net")
    g = golden_int8(qm, inputs_for(model, 2, 4, 2))
    golden = GoldenSet(g.inputs, g.outputs, g.float_traces)
    host = get_target("host")
    good = run_target(host, lib, golden, tmp_path / "good", atol=0.0, debug=True)
    assert good.passed and good.first_layer_mismatch is None, good.reason
    bad = run_target(host, lib, golden, tmp_path / "bad", atol=0.0, debug=True,
                     defines={"DKGEN_TEST_WRONG_KERNEL": "1"})
    assert not bad.passed and bad.first_layer_mismatch["layer"] == 0, bad.reason
