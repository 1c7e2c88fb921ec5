"""Parity: generate a library and a runner with golden vectors, build, run, compare.

For each target the runner executes every golden sequence through the generated library
(natively or under QEMU), compares each output with the reference executor's on the
device, and prints one `DKGEN_RESULT` line; the host parses it into a `TargetReport`.
"""

from __future__ import annotations

import hashlib
import re
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dkgen import __version__
from dkgen.codegen.pack import CArray
from dkgen.codegen.render import GeneratedLibrary, generate, template_env
from dkgen.errors import DkgenError, ToolchainError
from dkgen.harness import toolchain
from dkgen.harness.targets import Target
from dkgen.ir.graph import Model
from dkgen.ir.reference import ReferenceExecutor

FLOAT_ATOL = 1e-5

_RESULT = re.compile(
    r"^DKGEN_RESULT (PASS|FAIL) max_abs=([0-9a-f]{8}) max_rel=([0-9a-f]{8}) steps=(\d+) "
    r"ticks=([0-9a-f]{16}) fails=(\d+) first=(-?\d+),(-?\d+),(-?\d+)\s*$", re.M)
_ARGMAX = re.compile(r"^DKGEN_ARGMAX (\d+) (\d+)\s*$", re.M)


def _bits_to_float(hex_bits: str) -> float:
    return struct.unpack("<f", struct.pack("<I", int(hex_bits, 16)))[0]


@dataclass
class GoldenSet:
    """Inputs (batch, time[, features]) and the oracle's outputs (batch, time, out)."""

    inputs: np.ndarray
    outputs: np.ndarray

    @property
    def sequences(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[1])


def make_inputs(model: Model, sequences: int = 4, steps: int = 8, seed: int = 0) -> np.ndarray:
    """Random inputs from the model's recorded input range (or token ids)."""
    rng = np.random.default_rng(seed)
    if model.input.kind == "token":
        return rng.integers(0, model.input.size, size=(sequences, steps)).astype(np.int32)
    return rng.uniform(model.input.low, model.input.high,
                       size=(sequences, steps, model.input.size)).astype(np.float32)


def load_inputs(path: Path, model: Model) -> np.ndarray:
    """Inputs from an .npz file holding `x`: (batch, time, features) or (batch, time) tokens."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise DkgenError("has no array 'x'", path=path, field="x",
                                 fix="save inputs with np.savez(path, x=inputs)")
            x = np.asarray(data["x"])
    except (OSError, ValueError) as exc:
        raise DkgenError(f"not a readable .npz file ({exc})", path=path) from None
    if model.input.kind == "token":
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise DkgenError(f"must be integer token ids of shape (batch, time), got {x.dtype} {x.shape}",
                             path=path, field="x")
        if x.size and (x.min() < 0 or x.max() >= model.input.size):
            raise DkgenError(f"token ids must lie in [0, {model.input.size})", path=path, field="x")
        return x.astype(np.int32)
    if x.ndim != 3 or x.shape[2] != model.input.size:
        raise DkgenError(f"must have shape (batch, time, {model.input.size}), got {x.shape}",
                         path=path, field="x")
    if not np.all(np.isfinite(x)):
        raise DkgenError("holds non-finite values", path=path, field="x")
    return x.astype(np.float32)


def golden_set(model: Model, inputs: np.ndarray) -> GoldenSet:
    outputs, _ = ReferenceExecutor(model).run(inputs)
    return GoldenSet(inputs, outputs.astype(np.float32))


@dataclass
class TargetReport:
    target: str
    passed: bool
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    instructions_per_step: float | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    reason: str = ""
    steps: int = 0
    mismatches: int = 0
    first_mismatch: dict | None = None
    predictions: list[int] | None = None
    wall_s: float = 0.0

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("predictions")
        return d


@dataclass
class VerifyReport:
    model: str
    library: dict
    targets: list[TargetReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.targets) and all(t.passed for t in self.targets)

    def to_json(self) -> dict:
        return {"model": self.model, "passed": self.passed, "library": self.library,
                "targets": [t.to_json() for t in self.targets]}


def write_runner(lib: GeneratedLibrary, golden: GoldenSet, out_dir: Path, *, atol: float,
                 print_argmax: bool = False) -> Path:
    """Render the runner and its golden-vector header into `out_dir`; return runner.c."""
    env = template_env()
    name = lib.name
    in_type = "int32_t" if lib.plan.model.input.kind == "token" else "float"
    ctx = {
        "name": name, "NAME": name.upper(), "version": __version__,
        "sequences": golden.sequences, "steps": golden.steps,
        "atol": f"{atol!r}f" if atol else "0.0f",
        "print_argmax": print_argmax,
        "inputs": CArray("golden_inputs", in_type, golden.inputs),
        "outputs": CArray("golden_outputs", "float", golden.outputs),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}_golden.h").write_text(env.get_template("harness/golden.h.j2").render(ctx))
    runner = out_dir / "runner.c"
    runner.write_text(env.get_template("harness/runner.c.j2").render(ctx))
    return runner


def parse_result(stdout: str) -> dict | None:
    m = _RESULT.search(stdout)
    if not m:
        return None
    return {
        "passed": m.group(1) == "PASS",
        "max_abs": _bits_to_float(m.group(2)),
        "max_rel": _bits_to_float(m.group(3)),
        "steps": int(m.group(4)),
        "ticks": int(m.group(5), 16),
        "fails": int(m.group(6)),
        "first": tuple(int(m.group(i)) for i in (7, 8, 9)),
    }


def run_target(target: Target, lib: GeneratedLibrary, golden: GoldenSet, work: Path, *,
               atol: float, timeout_s: float = 60.0, print_argmax: bool = False,
               defines: dict[str, str] | None = None) -> TargetReport:
    """Build the runner for one target, run it, and report."""
    report = TargetReport(target.name, False)
    try:
        toolchain.check_toolchain(target)
        runner = write_runner(lib, golden, work / "runner", atol=atol, print_argmax=print_argmax)
        lib_sources = lib.c_sources
        build = toolchain.build(target, [*lib_sources, runner], work / "build",
                                include_dirs=[*lib.include_dirs, runner.parent], defines=defines)
    except ToolchainError as exc:
        report.reason = str(exc)
        return report
    lib_objects = build.objects[:len(lib_sources)]  # one object per source, in order
    sizes = toolchain.section_sizes(target, lib_objects)
    report.flash_bytes = int(sizes["flash"])
    report.ram_bytes = int(sizes["ram"]) + lib.plan.state_bytes + lib.plan.scratch_bytes
    result = toolchain.run(target, build.elf, timeout_s=timeout_s)
    report.wall_s = result.wall_s
    parsed = parse_result(result.stdout)
    if result.timed_out:
        report.reason = f"timed out after {timeout_s:g} s"
        return report
    if parsed is None:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        report.reason = f"no result line (exit status {result.returncode}): " + " | ".join(tail)
        return report
    report.max_abs_err = parsed["max_abs"]
    report.max_rel_err = parsed["max_rel"]
    report.steps = parsed["steps"]
    report.mismatches = parsed["fails"]
    if parsed["fails"]:
        seq, step, index = parsed["first"]
        report.first_mismatch = {"sequence": seq, "step": step, "index": index}
        report.reason = (f"{parsed['fails']} outputs differ from the reference; first at sequence "
                         f"{seq}, step {step}, index {index}")
    if target.kind != "host" and parsed["steps"]:
        instr = target.ticks_to_instructions(parsed["ticks"])
        report.instructions_per_step = None if instr is None else instr / parsed["steps"]
    if print_argmax:
        preds = {int(a): int(b) for a, b in _ARGMAX.findall(result.stdout)}
        report.predictions = [preds.get(i, -1) for i in range(golden.sequences)]
    report.passed = parsed["passed"] and result.returncode == 0 and parsed["steps"] == (
        golden.sequences * golden.steps)
    if not report.passed and not report.reason:
        report.reason = f"runner exit status {result.returncode}"
    return report


def verify_model(model: Model, targets: list[Target], *, inputs: np.ndarray | None = None,
                 sequences: int = 4, steps: int = 8, seed: int = 0, atol: float = FLOAT_ATOL,
                 workdir: Path | None = None, jobs: int = 2, source: str | None = None,
                 source_sha256: str | None = None, print_argmax: bool = False,
                 golden_hook=None, timeout_s: float = 60.0,
                 defines: dict[str, str] | None = None, progress=None) -> VerifyReport:
    """Generate, build and run `model` on each target; compare with the reference."""
    if inputs is None:
        inputs = make_inputs(model, sequences, steps, seed)
    golden = golden_set(model, inputs)
    if golden_hook is not None:  # tests corrupt a vector here to prove the harness can fail
        golden_hook(golden)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dkgen-verify-")
        workdir = Path(tmp.name)
    try:
        lib = generate(model, workdir / "lib", force=True, source=source or model.name,
                       source_sha256=source_sha256)
        library = {"name": lib.name, **lib.manifest["sizes"], "macs_per_step": lib.plan.macs}
        report = VerifyReport(source or model.name, library)

        def one(target: Target) -> TargetReport:
            r = run_target(target, lib, golden, workdir / target.name, atol=atol,
                           print_argmax=print_argmax, timeout_s=timeout_s, defines=defines)
            if progress is not None:
                progress(r)
            return r

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            report.targets = list(pool.map(one, targets))
        return report
    finally:
        if tmp is not None:
            tmp.cleanup()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
