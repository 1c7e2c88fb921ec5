"""The command line: JSON output is one document, errors are one line with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from random_models import mixed_model, token_model

from dkgen.cli import cli
from dkgen.onnx_io.export import save_onnx


@pytest.fixture()
def model_file(tmp_path) -> Path:
    return save_onnx(mixed_model(0), tmp_path / "mixed.onnx")


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_targets_json():
    r = _run("targets", "--json")
    assert r.exit_code == 0
    names = [t["name"] for t in json.loads(r.output)["targets"]]
    assert names[:2] == ["host", "host-sanitize"] and "cortex-m4" in names and len(names) == 8


def test_inspect_json(model_file):
    r = _run("inspect", str(model_file), "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    lstm = doc["layers"][0]
    assert lstm["op"] == "lstm" and lstm["weights"][0]["kind"] == "doped_kron"
    assert doc["total"]["compression"] > 1
    assert "lstm0" in _run("inspect", str(model_file)).output


def test_generate_then_refuse_then_force(tmp_path, model_file):
    out = tmp_path / "lib"
    r = _run("generate", str(model_file), "-o", str(out), "--name", "net")
    assert r.exit_code == 0 and (out / "include/net.h").exists()
    r = CliRunner().invoke(cli, ["generate", str(model_file), "-o", str(out)])
    assert r.exit_code == 2 and "--force" in r.output and "Traceback" not in r.output
    assert _run("generate", str(model_file), "-o", str(out), "--force").exit_code == 0


def test_verify_json_schema(tmp_path):
    path = save_onnx(token_model(0), tmp_path / "lm.onnx")
    r = _run("verify", str(path), "--target", "host,cortex-m4", "--json", "--sequences", "2")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [t["target"] for t in doc["targets"]] == ["host", "cortex-m4"]
    for t in doc["targets"]:
        assert {"target", "passed", "max_abs_err", "max_rel_err", "instructions_per_step",
                "flash_bytes", "ram_bytes"} <= set(t)
        assert t["passed"] is True
    assert doc["targets"][0]["instructions_per_step"] is None
    assert doc["targets"][1]["instructions_per_step"] > 0


def test_verify_inputs_file(tmp_path, model_file):
    import numpy as np

    np.savez(tmp_path / "x.npz", x=np.zeros((2, 3, 6), np.float32))
    r = _run("verify", str(model_file), "--target", "host", "--inputs", str(tmp_path / "x.npz"), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["targets"][0]["steps"] == 6
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 3, 5), np.float32))
    r = CliRunner().invoke(cli, ["verify", str(model_file), "--target", "host", "--inputs",
                                 str(tmp_path / "bad.npz")])
    assert r.exit_code == 2 and "bad.npz" in r.output and "(batch, time, 6)" in r.output


@pytest.mark.parametrize("args, needle", [
    (["inspect", "missing.onnx"], "no such file"),
    (["inspect", "."], "is a folder"),
    (["generate", "{model}", "-o", "out-never", "--name", "9 lives"], "--name"),
    (["verify", "{model}", "--target", "cortex-m99"], "unknown target"),
    (["verify", "{model}", "--atol", "-1e-3"], "--atol"),
    (["verify", "{model}", "--atol", "0", "--rtol", "0"], "--atol"),
    (["verify", "{model}", "--atol", "1e-3", "--dtype", "int8"], "--atol"),
    (["verify", "{model}", "--rtol", "-1e-3"], "--rtol"),
    (["verify", "{model}", "--rtol", "1e-3", "--dtype", "int8"], "--rtol"),
    (["verify", "{model}", "--optimize", "time"], "--optimize"),
])
def test_bad_input_is_one_line_exit_2(model_file, args, needle):
    args = [a.replace("{model}", str(model_file)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "dkgen.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert needle in proc.stderr.lower()
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_int8_options(tmp_path, model_file):
    import numpy as np

    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).uniform(-1, 1, (8, 5, 6)).astype(np.float32))
    calib = str(tmp_path / "calib.npz")
    r = CliRunner().invoke(cli, ["generate", str(model_file), "-o", str(tmp_path / "q"), "--dtype", "int8"])
    assert r.exit_code == 2 and "--calib" in r.output and not (tmp_path / "q").exists()
    r = CliRunner().invoke(cli, ["generate", str(model_file), "-o", str(tmp_path / "f"), "--calib", calib])
    assert r.exit_code == 2 and "--dtype int8" in r.output
    r = _run("generate", str(model_file), "-o", str(tmp_path / "q"), "--dtype", "int8", "--calib", calib)
    ram = json.loads((tmp_path / "q/manifest.json").read_text())
    assert r.exit_code == 0 and ram["dtype"] == "int8" and ram["optimize"] == "ram"
    # --optimize time: whole-product accumulators, so more scratch; both verified below
    r = _run("generate", str(model_file), "-o", str(tmp_path / "t"), "--dtype", "int8", "--calib", calib,
             "--optimize", "time")
    time_ = json.loads((tmp_path / "t/manifest.json").read_text())
    assert r.exit_code == 0 and time_["optimize"] == "time"
    assert time_["sizes"]["scratch_bytes"] >= ram["sizes"]["scratch_bytes"]
    assert "_block(" in (tmp_path / "q/src").joinpath(f"{ram['name']}.c").read_text()
    assert "_block(" not in (tmp_path / "t/src").joinpath(f"{time_['name']}.c").read_text()
    r = _run("inspect", str(model_file), "--dtype", "int8", "--calib", calib, "--json")
    doc = json.loads(r.output)
    assert doc["total"]["int8_bytes"] < doc["total"]["bytes"] and doc["quantization"]["rounding"] == "half up"
    r = _run("verify", str(model_file), "--dtype", "int8", "--calib", calib, "--target", "host,cortex-m0",
             "--json", "--sequences", "2")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["library"]["dtype"] == "int8"
    assert all(t["passed"] and t["max_abs_err"] == 0.0 for t in doc["targets"])
    r = _run("verify", str(model_file), "--dtype", "int8", "--calib", calib, "--target", "host",
             "--json", "--sequences", "2", "--optimize", "time")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["targets"][0]["passed"]
    assert doc["library"]["scratch_bytes"] == time_["sizes"]["scratch_bytes"]


def test_verify_tolerance_option(model_file):
    # float32 never meets 1e-12 against the float64 oracle: the option reaches the runner.
    r = CliRunner().invoke(cli, ["verify", str(model_file), "--target", "host", "--json",
                                 "--sequences", "2", "--atol", "1e-12", "--rtol", "0"])
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["atol"] == 1e-12 and not doc["targets"][0]["passed"]
    # ... but its rounding is relative (max rel err ~1e-6 here): 1e-3 of each output's size
    # admits every one, so the relative part reaches the runner too.
    r = _run("verify", str(model_file), "--target", "host", "--json", "--sequences", "2",
             "--atol", "1e-12", "--rtol", "1e-3")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["rtol"] == 1e-3 and doc["targets"][0]["mismatches"] == 0
    # A purely relative bound is allowed.
    r = _run("verify", str(model_file), "--target", "host", "--json", "--sequences", "2",
             "--atol", "0", "--rtol", "1e-3")
    assert r.exit_code == 0 and json.loads(r.output)["atol"] == 0
    r = _run("verify", str(model_file), "--target", "host", "--json", "--sequences", "2",
             "--atol", "1e-4")
    doc = json.loads(r.output)
    assert r.exit_code == 0 and doc["atol"] == 1e-4 and doc["dtype"] == "float32"
