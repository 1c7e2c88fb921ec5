"""Code generation: the files, determinism, refusal to overwrite, and warning-free builds
with the strict flags under gcc, clang and arm-none-eabi-gcc."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from codegen_helpers import COMPILERS, tree
from random_models import mixed_model, token_model

from dkgen.codegen.render import generate
from dkgen.errors import DkgenError

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror", "-O2"]


@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_files_and_manifest(tmp_path, make):
    lib = generate(make(0), tmp_path / "out", name="net", source="net.onnx", source_sha256="ab" * 32)
    files = tree(tmp_path / "out")
    for f in ("include/net.h", "src/net.c", "src/net_weights.c", "src/net_weights.h", "CMakeLists.txt",
              "net.mk", "manifest.json", "runtime/dkgen_common.h"):
        assert f in files, f
    manifest = json.loads(files["manifest.json"])
    assert manifest["source"] == {"file": "net.onnx", "sha256": "ab" * 32}
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    assert manifest["sizes"]["weight_bytes"] == lib.plan.weight_bytes > 0
    header = files["include/net.h"].decode()
    assert f"#define NET_WEIGHT_BYTES {lib.plan.weight_bytes}u" in header
    assert f"#define NET_OUTPUT_SIZE {lib.plan.output_size}u" in header


def test_generation_is_byte_identical(tmp_path):
    generate(mixed_model(0), tmp_path / "a", source="m.onnx")
    generate(mixed_model(0), tmp_path / "b", source="m.onnx")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_kron_multiplies_in_factored_form(tmp_path):
    generate(mixed_model(0), tmp_path / "out", name="net")
    code = (tmp_path / "out/src/net.c").read_text()
    assert "dkgen_kron_matvec_f32" in code and "dkgen_csr_matvec_f32" in code
    weights = (tmp_path / "out/src/net_weights.c").read_text()
    # 48x6 and 48x12 gate matrices are never written out densely
    assert "[288]" not in weights and "[576]" not in weights


def test_refuses_to_overwrite_and_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "out"
    generate(mixed_model(0), out)
    before = tree(out)
    with pytest.raises(DkgenError, match="--force"):
        generate(mixed_model(1), out)
    assert tree(out) == before
    generate(mixed_model(1), out, force=True)
    assert tree(out) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folders left


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_compiles_warning_free(tmp_path, compiler, make):
    cmd = COMPILERS[compiler]
    assert shutil.which(cmd[0]), f"{cmd[0]} is missing: run `make sysdeps`"
    lib = generate(make(0), tmp_path / "out", name="net")
    for src in lib.c_sources:
        inc = [f"-I{d}" for d in lib.include_dirs]
        proc = subprocess.run([*cmd, *STRICT, *inc, "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_cmake_builds_the_library(tmp_path):
    assert shutil.which("cmake"), "cmake is missing"
    generate(token_model(0), tmp_path / "lib", name="net")
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(tmp_path / "lib"), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Werror"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    assert (build / "libnet.a").exists()
