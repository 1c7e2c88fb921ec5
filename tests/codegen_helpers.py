"""Shared pieces of the code generation tests (float32 and int8): the compilers generated
C must build warning-free with, and reading a generated tree back."""

from __future__ import annotations

import shutil
from pathlib import Path

COMPILERS = {
    "gcc": ["gcc"],
    "clang": [shutil.which("clang-16") or shutil.which("clang") or "clang"],
    "arm-m0": ["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"],
    "arm-m4": ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` as {relative path: bytes}."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
