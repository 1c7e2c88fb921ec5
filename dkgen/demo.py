"""`dkgen demo`: the whole path on the digits example, in one command.

Train the DKP LSTM classifier, export it to ONNX, read it back, generate the C library
(float32 and int8), verify each on the host and on a Cortex-M4 under QEMU with the whole
test set as golden vectors, and print one summary table.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from dkgen.codegen.render import generate
from dkgen.errors import DkgenError
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import VerifyReport, file_sha256, verify_model
from dkgen.inspect import model_summary
from dkgen.onnx_io.importer import load_onnx

_MARKER = ".dkgen-demo"
DTYPES = ("float32", "int8")


@dataclass
class DemoSummary:
    model_path: Path
    library_path: Path
    layers: list[dict]
    total: dict
    torch_accuracy: float
    onnxruntime_max_abs_err: float | None
    verify: dict[str, VerifyReport]  # by dtype
    c_accuracy: dict[str, dict[str, float]] = field(default_factory=dict)  # dtype -> target -> accuracy
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.verify) and all(r.passed for r in self.verify.values())

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "model": str(self.model_path),
            "library": str(self.library_path),
            "layers": self.layers,
            "total": self.total,
            "torch_test_accuracy": self.torch_accuracy,
            "onnxruntime_max_abs_err": self.onnxruntime_max_abs_err,
            "c_test_accuracy": self.c_accuracy,
            "verify": {dtype: r.to_json() for dtype, r in self.verify.items()},
            "seconds": self.seconds,
        }


def _prepare_out(out_dir: Path) -> None:
    """Reuse a folder an earlier demo made; refuse any other non-empty folder."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / _MARKER).exists():
            raise DkgenError("exists, is not empty and was not made by `dkgen demo`", path=out_dir,
                             fix="choose another --out")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / _MARKER).write_text("made by dkgen demo; rerunning the demo replaces this folder\n")


def _onnxruntime_error(model_path: Path, x: np.ndarray, expected: np.ndarray) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.transpose(1, 0, 2)})[0].transpose(1, 0, 2)
    return float(np.abs(out - expected).max())


def run_demo(out_dir: Path, *, seed: int = 0, target_spec: str = "host,cortex-m4",
             dtypes: tuple[str, ...] = DTYPES, console: Console | None = None) -> DemoSummary:
    from dkgen.examples import build_example

    def say(msg: str) -> None:
        if console is not None:
            console.print(f"[bold]dkgen demo[/bold] {msg}")

    out_dir = Path(out_dir)
    targets = resolve_targets(target_spec)
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise DkgenError(f"unknown dtype '{dtype}'", field="--dtype", fix="use float32, int8 or both")
    _prepare_out(out_dir)
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    say("training the DKP LSTM digits classifier ...")
    ex = build_example("digits-lstm", out_dir / "digits.onnx", seed=seed)
    seconds["train"] = ex.train_seconds
    say(f"trained: test accuracy {100 * ex.accuracy:.2f}% in {ex.train_seconds:.1f} s; "
        f"wrote {ex.model_path}")

    t = time.perf_counter()
    ir = load_onnx(ex.model_path)
    sha = file_sha256(ex.model_path)
    ort_err = _onnxruntime_error(ex.model_path, ex.x_test, ex.torch_probs)
    generate(ir, out_dir / "lib", source=str(ex.model_path), source_sha256=sha)
    calib = np.load(ex.calib_path)["x"]
    int8_plan = None
    if "int8" in dtypes:
        from dkgen.quant import generate_int8

        int8_plan = generate_int8(ir, calib, out_dir / "lib-int8", source=str(ex.model_path),
                                  source_sha256=sha).plan
    seconds["import_generate"] = time.perf_counter() - t

    reports: dict[str, VerifyReport] = {}
    c_acc: dict[str, dict[str, float]] = {}
    t = time.perf_counter()
    for dtype in dtypes:
        say(f"verifying the {dtype} build on {', '.join(x.name for x in targets)} with "
            f"{len(ex.x_test)} test sequences ...")
        report = verify_model(ir, targets, inputs=ex.x_test, source=str(ex.model_path),
                              source_sha256=sha, print_argmax=True, dtype=dtype, calib=calib,
                              workdir=out_dir / f"verify-{dtype}", timeout_s=120.0)
        reports[dtype] = report
        c_acc[dtype] = {tr.target: float(np.mean(np.asarray(tr.predictions) == ex.y_test))
                        for tr in report.targets if tr.predictions is not None}
    seconds["verify"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    summary = model_summary(ir, int8_plan)
    demo = DemoSummary(ex.model_path, out_dir / "lib", summary["layers"], summary["total"], ex.accuracy,
                       ort_err, reports, c_acc, seconds)
    (out_dir / "report.json").write_text(json.dumps(demo.to_json(), indent=2, default=float) + "\n")
    if console is not None:
        _print(console, demo)
    return demo


def _print(console: Console, d: DemoSummary) -> None:
    int8 = "int8_bytes" in d.total
    layers = Table(title="Model: dense vs compressed")
    cols = ["layer", "weight", "structure", "dense params", "params", "dense bytes", "float32 bytes",
            "ratio"] + (["int8 bytes"] if int8 else [])
    for col in cols:
        layers.add_column(col, justify="left" if col in ("layer", "weight", "structure") else "right")
    for layer in d.layers:
        for w in layer["weights"]:
            layers.add_row(layer["name"], w["role"], w["structure"], f"{w['dense_params']:,}",
                           f"{w['params']:,}", f"{w['dense_bytes']:,}", f"{w['bytes']:,}",
                           f"{w['compression']:.1f}x", *([f"{w['int8_bytes']:,}"] if int8 else []))
    t = d.total
    layers.add_row("total (with biases)", "", "", f"{t['dense_params']:,}", f"{t['params']:,}",
                   f"{t['dense_bytes']:,}", f"{t['bytes']:,}", f"{t['compression']:.1f}x",
                   *([f"{t['int8_weight_bytes']:,} (+tables)"] if int8 else []))
    console.print(layers)

    res = Table(title="Accuracy and parity (whole digits test set)")
    for col in ("build", "test accuracy", "max abs err", "instr/step", "flash (B)", "RAM (B)", "stack (B)",
                "result"):
        res.add_column(col, justify="left" if col == "build" else "right")
    res.add_row("PyTorch", f"{100 * d.torch_accuracy:.2f}%", "-", "-", "-", "-", "-", "")
    if d.onnxruntime_max_abs_err is not None:
        res.add_row("onnxruntime vs PyTorch", "", f"{d.onnxruntime_max_abs_err:.2g}", "-", "-", "-", "-", "")
    for dtype, report in d.verify.items():
        for tr in report.targets:
            acc = d.c_accuracy.get(dtype, {}).get(tr.target)
            err = "-" if tr.max_abs_err is None else ("exact" if tr.max_abs_err == 0 else f"{tr.max_abs_err:.2g}")
            res.add_row(
                f"C {dtype} on {tr.target}", "-" if acc is None else f"{100 * acc:.2f}%", err,
                "-" if tr.instructions_per_step is None else f"{tr.instructions_per_step:,.0f}",
                "-" if tr.flash_bytes is None else f"{tr.flash_bytes:,}",
                "-" if tr.ram_bytes is None else f"{tr.ram_bytes:,}",
                "-" if tr.stack_bytes is None else f"{tr.stack_bytes:,}",
                "[green]PASS[/green]" if tr.passed else f"[red]FAIL[/red] {tr.reason}",
            )
    console.print(res)
    s = d.seconds
    console.print(f"float32 error is against the float64 reference; int8 must equal the integer reference "
                  f"bit for bit. train {s.get('train', 0):.1f} s, generate {s.get('import_generate', 0):.1f} s, "
                  f"verify {s.get('verify', 0):.1f} s, total {s.get('total', 0):.1f} s. "
                  f"Libraries: {d.library_path}/ and {d.library_path}-int8/, "
                  f"report: {d.library_path.parent / 'report.json'}")
