"""Shared setup for the runtime kernel tests: compiler flags, and the C test driver
(tests/runtime/kernel_driver.c) built once per session with the strict flags.

Test modules get everything through fixtures (`driver`, `cbuild`, ...) rather than by
importing this file, so they work whatever else in tests/ is called conftest."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RUNTIME = REPO / "runtime"

# The flags every runtime file must compile warning-free with (DESIGN.md, "Generated C").
STRICT_FLAGS = (
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Wshadow",
    "-Wconversion",
    "-Wsign-conversion",
    "-Werror",
    "-O2",
)
# Stricter still, for the runtime's own rules: no silent double arithmetic (soft-float
# helpers on a Cortex-M4F), no VLAs, every external function declared in a header.
EXTRA_FLAGS = (
    "-Wdouble-promotion",
    "-Wvla",
    "-Wmissing-prototypes",
    "-Wstrict-prototypes",
    "-Wcast-qual",
)
ARM_M0_FLAGS = ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft")
ARM_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
ARM_M7_FLAGS = ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")
# Helium (MVE): the runtime's third code path
ARM_M55_FLAGS = ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard")
ARM_FLAGS = {"cortex-m0": ARM_M0_FLAGS, "cortex-m4": ARM_M4_FLAGS, "cortex-m7": ARM_M7_FLAGS,
             "cortex-m55": ARM_M55_FLAGS}
# clang as a Cortex-M compiler needs the newlib headers (QEMU-NOTES.md)
NEWLIB_INCLUDE = "/usr/lib/arm-none-eabi/include"
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")

SUBPROCESS_TIMEOUT_S = 60


def runtime_sources() -> list[Path]:
    return sorted(RUNTIME.glob("*.c"))


def find_clang() -> str | None:
    return shutil.which("clang-16") or shutil.which("clang")


def compile_or_fail(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
    )
    if proc.returncode != 0:
        pytest.fail(f"compile failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")


def require(tool: str | None, what: str) -> str:
    if tool is None:
        pytest.fail(f"{what} not found on PATH; `make sysdeps` installs it")
    return tool


class CBuild:
    """Compiler flags and tools for compiling the runtime on its own."""

    runtime = RUNTIME
    here = HERE
    strict_flags = STRICT_FLAGS
    extra_flags = EXTRA_FLAGS
    timeout_s = SUBPROCESS_TIMEOUT_S

    @staticmethod
    def sources() -> list[Path]:
        return runtime_sources()

    @staticmethod
    def require(tool: str | None, what: str) -> str:
        return require(tool, what)

    @staticmethod
    def compile_or_fail(cmd: list[str], cwd: Path | None = None) -> None:
        compile_or_fail(cmd, cwd)

    @staticmethod
    def toolchain(target: str) -> tuple[str, tuple[str, ...]]:
        """(compiler, target flags) for gcc, clang, a Cortex-M core (arm-none-eabi-gcc) or
        clang-<core> (clang for that core); fails the test if the compiler is missing."""
        if target == "gcc":
            return require(shutil.which("gcc"), "gcc"), ()
        if target == "clang":
            return require(find_clang(), "clang-16 (or clang)"), ()
        if target.startswith("clang-"):
            clang = require(find_clang(), "clang-16 (or clang)")
            return clang, ("--target=arm-none-eabi", *ARM_FLAGS[target[len("clang-"):]],
                           "-isystem", NEWLIB_INCLUDE)
        arm = require(shutil.which("arm-none-eabi-gcc"), "arm-none-eabi-gcc")
        return arm, ARM_FLAGS[target]

    @staticmethod
    def compile_runtime(out: Path, cc: str, flags: tuple[str, ...] = ()) -> list[Path]:
        """Compile every runtime/*.c to an object in `out`; return the objects."""
        sources = runtime_sources()
        compile_or_fail(
            [
                cc,
                *STRICT_FLAGS,
                *EXTRA_FLAGS,
                *flags,
                f"-I{RUNTIME}",
                "-c",
                *(str(p) for p in sources),
            ],
            cwd=out,
        )
        return [out / (p.stem + ".o") for p in sources]


@pytest.fixture(scope="session")
def cbuild() -> CBuild:
    return CBuild()


@dataclass(frozen=True)
class Driver:
    """The compiled kernel_driver; `run` speaks its stdin/stdout binary protocol."""

    exe: Path
    env: dict[str, str] | None = None

    def run(self, kernel: str, sizes: list[int], *arrays: np.ndarray) -> bytes:
        parts = [np.asarray(sizes, dtype="<u4").tobytes()]
        for a in arrays:
            a = np.asarray(a)
            assert a.dtype in (np.float32, np.uint16, np.uint32), a.dtype
            parts.append(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
        proc = subprocess.run(
            [str(self.exe), kernel],
            input=b"".join(parts),
            capture_output=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            env=self.env,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"kernel_driver {kernel} {sizes} exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout


def build_driver(out_dir: Path, cc: str = "gcc", extra: tuple[str, ...] = ()) -> Path:
    exe = out_dir / "kernel_driver"
    cmd = [
        cc,
        *STRICT_FLAGS,
        *EXTRA_FLAGS,
        *extra,
        f"-I{RUNTIME}",
        str(HERE / "kernel_driver.c"),
        *(str(p) for p in runtime_sources()),
        "-lm",
        "-o",
        str(exe),
    ]
    compile_or_fail(cmd)
    return exe


@pytest.fixture(scope="session")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    return Driver(build_driver(tmp_path_factory.mktemp("driver")))


@pytest.fixture(scope="session")
def wrong_driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    out = tmp_path_factory.mktemp("driver_wrong")
    return Driver(build_driver(out, extra=("-DDKGEN_TEST_WRONG_KERNEL",)))


@pytest.fixture(scope="session")
def sanitized_driver(tmp_path_factory: pytest.TempPathFactory) -> Driver:
    out = tmp_path_factory.mktemp("driver_asan")
    exe = build_driver(out, extra=SANITIZE_FLAGS)
    # Leak checking needs ptrace, which some containers forbid; the driver frees
    # everything anyway, and what matters here is out-of-bounds access.
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0")
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return Driver(exe, env)
