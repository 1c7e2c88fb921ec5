"""int8 parity on every Cortex-M target under QEMU, and the SIMD32 (DSP) dot products held
bit for bit to the portable C they replace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from int8_helpers import inputs_for, random_model, run_parity
from random_models import mixed_model, token_model

from dkgen.harness.targets import get_target, resolve_targets
from dkgen.quant.codegen import generate_int8, golden_int8
from dkgen.quant.quantize import quantize_model

pytestmark = pytest.mark.qemu

QEMU_TARGETS = [t.name for t in resolve_targets("all") if t.is_qemu]


def _lib(model, tmp: Path, seed: int = 0):
    qm = quantize_model(model, inputs_for(model, 8, 6, seed + 100))
    lib = generate_int8(qm, None, tmp / "lib", name="net", force=True)
    xs = np.concatenate([inputs_for(model, 2, 5, seed), inputs_for(model, 1, 5, seed + 1, gain=25.0)])
    return lib, golden_int8(qm, xs)


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int8_targets")
    # the two shared examples cover every layer and matrix kind; one random model adds shapes
    return {name: _lib(make, tmp / name) for name, make in
            (("mixed", mixed_model(0)), ("lm", token_model(0)), ("rand", random_model(11)))}


CASES = [("mixed", t) for t in QEMU_TARGETS] + [("rand", t) for t in QEMU_TARGETS] + [
    ("lm", "cortex-m0"), ("lm", "cortex-m55")]


@pytest.mark.parametrize("which,target", CASES)
def test_bit_exact_on_every_target(libs, tmp_path, target, which):
    lib, golden = libs[which]
    res = run_parity(lib, golden, tmp_path, target)
    assert res["passed"], (target, res["stdout"][-1500:], res["layer"])


def _smlad_count(target: str, src: Path, tmp: Path, *flags: str) -> int:
    t = get_target(target)
    obj = tmp / f"{src.stem}{len(flags)}.o"
    subprocess.run([t.cc, *t.cflags, "-std=c99", "-O2", f"-I{src.parent}", *flags, "-c", str(src),
                    "-o", str(obj)], check=True, timeout=60)
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    return text.count("smlad")


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
def test_simd_and_portable_paths_agree(libs, tmp_path, target):
    """The default builds above take the SIMD32 path; the portable one must give the same bits."""
    lib, golden = libs["mixed"]
    portable = run_parity(lib, golden, tmp_path, target, defines={"DKGEN_PORTABLE": None})
    assert portable["passed"], portable["stdout"][-800:]
    src = lib.out_dir / "runtime" / "dkgen_dense_matvec_s8.c"
    assert _smlad_count(target, src, tmp_path) > 0
    assert _smlad_count(target, src, tmp_path, "-DDKGEN_PORTABLE") == 0
