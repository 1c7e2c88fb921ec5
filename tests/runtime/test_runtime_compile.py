"""Every runtime/*.c compiles warning-free with the strict flags on every toolchain the
generated code is built with, and the objects keep to the runtime's rules: only
`dkgen_` functions exported, no mutable globals, no double-precision arithmetic,
no stack use that depends on the input (VLAs, alloca)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PUBLIC_API = {
    "dkgen_dense_matvec_f32",
    "dkgen_kron_matvec_f32",
    "dkgen_kron_matvec_f32_get_buffer_size",
    "dkgen_kron_multi_matvec_f32",
    "dkgen_kron_multi_matvec_f32_get_buffer_size",
    "dkgen_csr_matvec_f32",
    "dkgen_sigmoid_f32",
    "dkgen_tanh_f32",
    "dkgen_softmax_f32",
    "dkgen_argmax_f32",
    "dkgen_relu_vec_f32",
    "dkgen_tanh_vec_f32",
    "dkgen_sigmoid_vec_f32",
    "dkgen_copy_f32",
    "dkgen_add_f32",
    "dkgen_zero_f32",
    "dkgen_lstm_cell_f32",
    "dkgen_gru_cell_f32",
    "dkgen_gru_reset_f32",
    "dkgen_gru_update_f32",
    "dkgen_clip_vec_f32",
    "dkgen_affine_f32",
    "dkgen_log_softmax_f32",
    "dkgen_leaky_relu_vec_f32",
    # int8 path (docs/quantization.md)
        "dkgen_dense_matvec_s8",
        "dkgen_dense_matvec_s8s16",
        "dkgen_kron_matvec_s8",
        "dkgen_kron_matvec_s8_get_buffer_size",
        "dkgen_kron_matvec_s8_prepare",
        "dkgen_kron_multi_matvec_s8",
        "dkgen_kron_multi_matvec_s8_prepare",
        "dkgen_kron_multi_matvec_s8_get_buffer_size",
        "dkgen_kron_matvec_s8_block",
        "dkgen_kron_matvec_s8_finish",
        "dkgen_dope_matvec_s8",
        "dkgen_dope_matvec_s8_block",
        "dkgen_requant_s8",
        "dkgen_relu_s8",
        "dkgen_clip_s8",
        "dkgen_affine_s8",
        "dkgen_leaky_relu_s8",
        "dkgen_tanh_s8",
        "dkgen_sigmoid_s8",
        "dkgen_requant_s16",
        "dkgen_requant_add_s32",
        "dkgen_requant_add_s32_block",
        "dkgen_requant_s8_block",
        "dkgen_requant_s16_block",
        "dkgen_sigmoid_s16",
        "dkgen_tanh_s16",
        "dkgen_sigmoid_s16_array",
        "dkgen_tanh_s16_array",
        "dkgen_sigmoid_lut_s16",
        "dkgen_tanh_lut_s16",
        "dkgen_lstm_cell_s16",
        "dkgen_rnn_cell_s16",
        "dkgen_gru_cell_s16",
        "dkgen_gru_reset_s16",
        "dkgen_gru_update_s16",
        "dkgen_softmax_s8",
        "dkgen_log_softmax_s8",
        "dkgen_quantize_f32_s8",
        "dkgen_dequantize_s8_f32",
        "dkgen_dequantize_s16_f32",
        "dkgen_copy_s8",
        "dkgen_copy_s16",
        "dkgen_copy_s32",
        "dkgen_widen_s16_s32",
        "dkgen_zero_s8",
        "dkgen_zero_s16",
        "dkgen_zero_s32",
}
# What the objects may pull from the C library: float math (logf for a log-softmax), and
# the block moves the compiler substitutes for copy/zero loops.
ALLOWED_LIBC = {"expf", "tanhf", "logf", "memcpy", "memset", "memmove"}


def nm(cbuild, tool: str, objects: list[Path]) -> list[tuple[str, str]]:
    proc = subprocess.run(
        [tool, *(str(o) for o in objects)],
        capture_output=True,
        text=True,
        check=True,
        timeout=cbuild.timeout_s,
    )
    symbols = []
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2 and len(fields[-2]) == 1:
            symbols.append((fields[-2], fields[-1]))
    return symbols


def test_runtime_has_sources(cbuild):
    names = {p.name for p in cbuild.runtime.iterdir()}
    assert "dkgen_common.h" in names
    assert cbuild.sources()
    for src in cbuild.sources():
        assert src.with_suffix(".h").name in names, f"{src.name} has no header"


# Every code path: portable (gcc, clang, M0), SIMD32 and FPU (M4, M7), Helium (M55), each
# with GCC and the Cortex-M ones with clang too; the test-only wrong kernels on one of each.
COMPILE_CASES = [(t, False) for t in ("gcc", "clang", "cortex-m0", "cortex-m4", "cortex-m7", "cortex-m55",
                                      "clang-cortex-m0", "clang-cortex-m4", "clang-cortex-m55")]
COMPILE_CASES += [(t, True) for t in ("gcc", "cortex-m0", "cortex-m4", "cortex-m55")]


@pytest.mark.parametrize("target,wrong", COMPILE_CASES,
                         ids=[f"{t}{'-wrong-kernel' if w else ''}" for t, w in COMPILE_CASES])
def test_runtime_compiles_warning_free(cbuild, tmp_path, target, wrong):
    cc, arch = cbuild.toolchain(target)
    extra = ("-DDKGEN_TEST_WRONG_KERNEL",) if wrong else ()
    if target.startswith("cortex"):
        # .su files say, per function, whether its stack frame size is fixed.
        extra += ("-fstack-usage",)
    objects = cbuild.compile_runtime(tmp_path, cc, arch + extra)
    assert all(o.is_file() for o in objects)
    for su in sorted(tmp_path.glob("*.su")):
        for line in su.read_text().splitlines():
            assert line.rstrip().endswith("static"), f"input-dependent stack use: {line}"


FORCED = [("cortex-m4", "DKGEN_PORTABLE"), ("cortex-m55", "DKGEN_PORTABLE"), ("cortex-m55", "DKGEN_NO_MVE"),
          ("cortex-m55", "DKGEN_NO_FMA"), ("clang-cortex-m55", "DKGEN_NO_MVE")]


@pytest.mark.parametrize("target,define", FORCED, ids=[f"{t}-{d}" for t, d in FORCED])
def test_forced_paths_compile_warning_free(cbuild, tmp_path, target, define):
    """The paths the macros of dkgen_dot_s8.h / dkgen_qmath_s32.h / dkgen_common.h force."""
    cc, arch = cbuild.toolchain(target)
    objects = cbuild.compile_runtime(tmp_path, cc, (*arch, f"-D{define}"))
    assert all(o.is_file() for o in objects)


@pytest.mark.parametrize("target", ["gcc", "cortex-m0", "cortex-m4", "cortex-m55"])
def test_runtime_objects_keep_the_rules(cbuild, tmp_path, target):
    cc, arch = cbuild.toolchain(target)
    objects = cbuild.compile_runtime(tmp_path, cc, arch)
    nm_tool = "nm" if target == "gcc" else "arm-none-eabi-nm"
    symbols = nm(cbuild, cbuild.require(shutil.which(nm_tool), nm_tool), objects)

    defined_global = {name for kind, name in symbols if kind in "TRDBCG"}
    assert defined_global == PUBLIC_API, "exported symbols differ from the documented API"
    # Reentrancy: no mutable static or global data anywhere in the runtime.
    assert not [s for s in symbols if s[0] in "DdBbCGgSs"], symbols
    undefined = {name for kind, name in symbols if kind == "U"}
    if target == "gcc":
        assert undefined - PUBLIC_API <= ALLOWED_LIBC, undefined
        return
    # The Arm EABI helpers for doubles (__aeabi_d*) would mean double arithmetic
    # crept in: slow soft-float even on a Cortex-M4F.
    doubles = {u for u in undefined if u.startswith("__aeabi_d") or u in {"exp", "tanh"}}
    assert not doubles, doubles
    if target in ("cortex-m4", "cortex-m55"):
        # The FPU does all single-precision arithmetic used here in hardware.
        assert not {u for u in undefined if u.startswith("__aeabi_f")}, undefined


def test_headers_are_guarded_and_cxx_includable(cbuild, tmp_path):
    for header in sorted(cbuild.runtime.glob("*.h")):
        guard = header.stem.upper() + "_H"
        text = header.read_text()
        assert re.search(rf"^#ifndef {guard}\n#define {guard}\n", text, re.M), header.name
        if header.name == "dkgen_namespace.h":
            continue  # only macros (read by dkgen_common.h), nothing to give C linkage
        if header.name != "dkgen_common.h":
            assert '#include "dkgen_common.h"' in text, header.name
        assert 'extern "C"' in text, header.name

    cxx = shutil.which("g++") or shutil.which("clang++-16") or shutil.which("clang++")
    cxx = cbuild.require(cxx, "a C++ compiler (g++ or clang++)")
    objects = cbuild.compile_runtime(tmp_path, cbuild.require(shutil.which("gcc"), "gcc"))
    exe = tmp_path / "cxx_include_check"
    # Linking C objects into a C++ program only resolves if the headers give C linkage.
    cbuild.compile_or_fail(
        [
            cxx,
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Wshadow",
            "-Wconversion",
            "-Werror",
            f"-I{cbuild.runtime}",
            str(cbuild.here / "cxx_include_check.cpp"),
            *(str(o) for o in objects),
            "-lm",
            "-o",
            str(exe),
        ]
    )
    assert subprocess.run([str(exe)], timeout=cbuild.timeout_s).returncode == 0


def test_readme_lists_every_runtime_file(cbuild):
    readme = (cbuild.runtime / "README.md").read_text()
    for path in sorted(cbuild.runtime.glob("*.[ch]")):
        # Listed as `name.h` or as the pair `name.{h,c}`.
        listed = path.name in readme or f"{path.stem}.{{h,c}}" in readme
        assert listed, f"runtime/README.md omits {path.name}"
