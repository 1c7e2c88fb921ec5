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


def _count(target: str, src: Path, tmp: Path, mnemonic: str, *flags: str) -> int:
    """How many `mnemonic` instructions `src` compiles to for `target` with `flags`."""
    t = get_target(target)
    obj = tmp / f"{src.stem}-{len(flags)}-{'_'.join(f.strip('-D') for f in flags)}.o"
    subprocess.run([t.cc, *t.cflags, "-std=c99", "-O2", f"-I{src.parent}", *flags, "-c", str(src),
                    "-o", str(obj)], check=True, timeout=60)
    # -m armv8.1-m.main: plain objdump does not decode Helium instructions
    text = subprocess.run(["arm-none-eabi-objdump", "-d", "-m", "armv8.1-m.main", str(obj)],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    return text.count(mnemonic)


# Each optimised path, forced by the macros dkgen_dot_s8.h reads, against the golden integers
# of the numpy reference, which the default build already matches bit for bit: SIMD32 (DSP)
# on the M4, Helium on the M55 by default and SIMD32 there with DKGEN_NO_MVE, portable C on
# both with DKGEN_PORTABLE.
PATHS = [("cortex-m4", "DKGEN_PORTABLE"), ("cortex-m55", "DKGEN_PORTABLE"), ("cortex-m55", "DKGEN_NO_MVE")]


@pytest.mark.parametrize("target,define", PATHS)
def test_simd_and_portable_paths_agree(libs, tmp_path, target, define):
    """Every path computes the same bits as the reference, on every example model."""
    for which in ("mixed", "rand"):
        lib, golden = libs[which]
        res = run_parity(lib, golden, tmp_path / which, target, defines={define: None})
        assert res["passed"], (which, res["stdout"][-800:], res["layer"])


@pytest.mark.parametrize("kernel", ["dkgen_dense_matvec_s8.c", "dkgen_kron_matvec_s8.c"])
def test_each_path_compiles_to_its_instructions(libs, tmp_path, kernel):
    """The macros really select the paths: SMLAD (SIMD32) on the M4 and, with DKGEN_NO_MVE,
    on the M55; VMLADAV (Helium) on the M55 by default; neither with DKGEN_PORTABLE."""
    src = libs["mixed"][0].out_dir / "runtime" / kernel
    assert _count("cortex-m4", src, tmp_path, "smlad") > 0
    assert _count("cortex-m4", src, tmp_path, "smlad", "-DDKGEN_PORTABLE") == 0
    assert _count("cortex-m55", src, tmp_path, "vmlav") > 0
    assert _count("cortex-m55", src, tmp_path, "smlad") == 0
    assert _count("cortex-m55", src, tmp_path, "smlad", "-DDKGEN_NO_MVE") > 0
    assert _count("cortex-m55", src, tmp_path, "vmlav", "-DDKGEN_NO_MVE") == 0
    for target in ("cortex-m4", "cortex-m55"):
        for mnemonic in ("smlad", "vmlav"):
            assert _count(target, src, tmp_path, mnemonic, "-DDKGEN_PORTABLE") == 0
