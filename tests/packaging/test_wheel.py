"""A non-editable install (the wheel) carries templates/, runtime/ and targets/ and can
generate and verify C on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import dkgen, sys
from pathlib import Path
assert Path(dkgen.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), dkgen.__file__
from dkgen.resources import templates_dir, runtime_dir, targets_dir
assert "_data" in str(templates_dir()) and "_data" in str(runtime_dir()) and "_data" in str(targets_dir())
sys.path.insert(0, sys.argv[2])
from random_models import token_model
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import verify_model
report = verify_model(token_model(0), resolve_targets("host"), sequences=2, steps=3)
assert report.passed, report.to_json()
print("WHEEL_OK")
"""


def test_wheel_generates_and_verifies(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("dkgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("dkgen/_data/templates/lib/model.c.j2", "dkgen/_data/runtime/dkgen_kron_matvec_f32.c",
                   "dkgen/_data/targets/cortex-m4.toml", "dkgen/_data/targets/startup/cortexm_startup.c"):
        assert needed in names, needed
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(site), str(REPO / "tests")], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert "WHEEL_OK" in proc.stdout, proc.stderr
