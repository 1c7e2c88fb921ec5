"""Several dkgen libraries link into one firmware: each renames its runtime kernels to its
own (runtime/dkgen_namespace.h), and its sources reach their runtime copy by relative
paths, so one flat include list cannot mix up two libraries' headers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from codegen_helpers import firmware_inputs
from random_models import mixed_model

from dkgen.codegen.render import generate, runtime_symbols, template_env
from dkgen.harness.targets import get_target
from dkgen.harness.toolchain import build, run
from dkgen.harness.verify import FLOAT_ATOL
from dkgen.ir.reference import ReferenceExecutor
from dkgen.quant import QuantReferenceExecutor
from dkgen.quant.codegen import generate_int8
from dkgen.resources import runtime_dir

MAIN = Path(__file__).with_name("several_libraries_main.c")
STEPS = 6


def _inputs(size: int) -> np.ndarray:
    return firmware_inputs(STEPS, size)


def _defined_symbols(target_name: str, objects: list[Path]) -> set[str]:
    nm = "nm" if target_name.startswith("host") else "arm-none-eabi-nm"
    out = subprocess.run([nm, "--defined-only", "--extern-only", *map(str, objects)],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if len(line.split()) == 3}


@pytest.mark.parametrize("target_name", ["host", "cortex-m0", "cortex-m4", "cortex-m55"])
def test_every_runtime_kernel_gets_the_library_prefix(tmp_path: Path, target_name: str) -> None:
    # The whole runtime, not only what one model needs: a kernel declared in a way the
    # generator's scan misses would keep its bare name here.
    rt = tmp_path / "runtime"
    shutil.copytree(runtime_dir(), rt)
    headers = [p.read_text() for p in sorted(rt.glob("*.h"))]
    symbols = runtime_symbols(headers)
    assert "dkgen_lstm_cell_s16" in symbols and "dkgen_kron_matvec_f32_get_buffer_size" in symbols
    (rt / "dkgen_namespace.h").write_text(template_env().get_template(
        "lib/dkgen_namespace.h.j2").render(name="zz", version="test", runtime_symbols=symbols))
    target = get_target(target_name)
    result = build(target, sorted(rt.glob("*.c")), tmp_path / "out", link=False)
    defined = _defined_symbols(target_name, result.objects)
    assert defined and all(s.startswith("zz_dkgen_") for s in defined), sorted(defined)


@pytest.mark.parametrize("target_name", ["host", "cortex-m4"])
def test_three_libraries_link_and_run_in_one_program(tmp_path: Path, target_name: str) -> None:
    float_model, other = mixed_model(2), mixed_model(3)
    calib = _inputs(float_model.input.size)
    libs = [generate(float_model, tmp_path / "kws", name="kws"),
            generate(other, tmp_path / "sensor", name="sensor"),
            generate_int8(float_model, calib, tmp_path / "q8", name="q8")]
    target = get_target(target_name)
    # One include list for all three, as a Makefile's CFLAGS += $(X_CFLAGS) gives: each
    # library's sources must still find their own runtime headers.
    result = build(target, [MAIN, *(s for lib in libs for s in lib.c_sources)], tmp_path / "out",
                   include_dirs=[lib.out_dir / "include" for lib in libs])
    assert result.elf is not None
    ran = run(target, result.elf, timeout_s=60)
    assert ran.ok and "SEVERAL done" in ran.stdout, ran
    got: dict[str, list[list[float]]] = {}
    for name, ys in re.findall(r"^SEVERAL (\w+) y (.*)$", ran.stdout, re.M):
        got.setdefault(name, []).append([float(v) for v in ys.split()])
    x = _inputs(float_model.input.size)
    np.testing.assert_allclose(got["kws"], ReferenceExecutor(float_model)(x)[0],
                               rtol=1e-5, atol=FLOAT_ATOL)
    np.testing.assert_allclose(got["sensor"], ReferenceExecutor(other)(_inputs(other.input.size))[0],
                               rtol=1e-5, atol=FLOAT_ATOL)
    want_q8 = QuantReferenceExecutor(libs[2].plan.qmodel).run(x)[0][0]
    np.testing.assert_allclose(got["q8"], want_q8, rtol=1e-6, atol=0)


def test_libraries_serve_a_cxx_program(tmp_path: Path) -> None:
    # Arduino sketches and many RTOS applications are C++: the generated headers give the
    # API C linkage, so C++ code calls the C-compiled libraries directly.
    cxx = shutil.which("g++")
    assert cxx, "g++ is missing"
    model = mixed_model(2)
    libs = [generate(model, tmp_path / "kws", name="kws"),
            generate(mixed_model(3), tmp_path / "sensor", name="sensor"),
            generate_int8(model, _inputs(model.input.size), tmp_path / "q8", name="q8")]
    objects = build(get_target("host"), [s for lib in libs for s in lib.c_sources],
                    tmp_path / "c", include_dirs=[lib.out_dir / "include" for lib in libs],
                    link=False).objects
    exe = tmp_path / "several_cxx"
    subprocess.run([cxx, "-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow",
                    "-Wconversion", "-Werror", "-x", "c++", str(MAIN), "-x", "none",
                    *(f"-I{lib.out_dir / 'include'}" for lib in libs), *map(str, objects),
                    "-lm", "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    x = _inputs(model.input.size)
    kws = [[float(v) for v in ys.split()] for ys in re.findall(r"^SEVERAL kws y (.*)$", out, re.M)]
    np.testing.assert_allclose(kws, ReferenceExecutor(model)(x)[0], rtol=1e-5, atol=FLOAT_ATOL)
    assert out.count("SEVERAL q8 y") == STEPS and out.rstrip().endswith("SEVERAL done")
