"""Generating and verifying C from an ONNX file, and compressing one, need numpy, not torch
(DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys

from random_models import mixed_model

from dkgen.onnx_io.export import save_onnx

BLOCK_TORCH = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
        return None
sys.meta_path.insert(0, _Block())
from dkgen.cli import main
sys.argv = ["dkgen"] + sys.argv[1:]
main()
"""


def test_inspect_generate_verify_without_torch(tmp_path):
    model = save_onnx(mixed_model(0), tmp_path / "m.onnx")
    for args in (["inspect", str(model), "--json"],
                 ["generate", str(model), "-o", str(tmp_path / "lib")],
                 ["verify", str(model), "--target", "host", "--json"],
                 ["compress", str(model), "-o", str(tmp_path / "c.onnx"), "--ratio", "2",
                  "--method", "pruned", "--json"]):
        proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "torch" not in proc.stderr
