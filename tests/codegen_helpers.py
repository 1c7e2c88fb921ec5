"""Shared pieces of the code generation tests (float32 and int8): the compilers generated
C must build warning-free with, reading a generated tree back, and the inputs the C mains
of examples/firmware and tests/codegen compute for themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

COMPILERS = {
    "gcc": ["gcc"],
    "clang": [shutil.which("clang-16") or shutil.which("clang") or "clang"],
    "arm-m0": ["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"],
    "arm-m4": ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` as {relative path: bytes}."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def firmware_inputs(steps: int, size: int) -> np.ndarray:
    """(1, steps, size): x[t, i] = ((7t + 3i) mod 17) / 8 - 1, the exact binary fractions
    that examples/firmware/main.c and tests/codegen/several_libraries_main.c feed."""
    t, i = np.meshgrid(np.arange(steps), np.arange(size), indexing="ij")
    return (((t * 7 + i * 3) % 17) / 8.0 - 1.0).astype(np.float32)[None]
