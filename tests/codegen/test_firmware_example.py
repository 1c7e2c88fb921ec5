"""examples/firmware builds with CMake and the Arm toolchain file around a generated
library, runs on QEMU's mps2-an386, and prints what dkgen's reference computes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from codegen_helpers import firmware_inputs
from random_models import mixed_model

from dkgen.codegen.render import generate
from dkgen.harness.targets import get_target
from dkgen.harness.toolchain import run
from dkgen.harness.verify import FLOAT_ATOL
from dkgen.ir.reference import ReferenceExecutor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "firmware"


def test_example_firmware_prints_the_reference_outputs(tmp_path):
    assert shutil.which("cmake"), "cmake is missing"
    model = mixed_model(2)
    generate(model, tmp_path / "net", name="net")
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(build),
                    f"-DCMAKE_TOOLCHAIN_FILE={EXAMPLE / 'arm-none-eabi-cortex-m4.cmake'}",
                    f"-DDKGEN_MODEL_DIR={tmp_path / 'net'}", "-DDKGEN_MODEL=net",
                    "-DDKGEN_WERROR=ON"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    result = run(get_target("cortex-m4"), build / "firmware.elf", timeout_s=30)
    assert result.ok and "FIRMWARE done" in result.stdout, result
    lines = re.findall(r"^FIRMWARE step (\d+) ticks (\d+) y (.*)$", result.stdout, re.M)
    assert [int(t) for t, _, _ in lines] == list(range(8))
    got = np.array([[float(v) for v in ys.split()] for _, _, ys in lines])
    x = firmware_inputs(8, model.input.size)
    want = ReferenceExecutor(model)(x)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=FLOAT_ATOL)
    assert all(int(ticks) > 0 for _, ticks, _ in lines)  # the board timer runs


def test_example_needs_the_model(tmp_path):
    proc = subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(tmp_path / "b"),
                           f"-DCMAKE_TOOLCHAIN_FILE={EXAMPLE / 'arm-none-eabi-cortex-m4.cmake'}"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "DKGEN_MODEL_DIR" in proc.stderr
