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
from dkgen.harness.budget import budget_problems, measure_library
from dkgen.harness.targets import Target
from dkgen.ir.graph import Model
from dkgen.ir.reference import ReferenceExecutor

# float32 passes where |got - want| <= atol + rtol * |want| (numpy.isclose's rule): the
# relative term admits float32 rounding of large outputs (logits) that an absolute bound
# tight enough for small ones would reject.
FLOAT_ATOL = 1e-5
FLOAT_RTOL = 1e-5

_RESULT = re.compile(
    r"^DKGEN_RESULT (PASS|FAIL) max_abs=([0-9a-f]{8}) max_rel=([0-9a-f]{8}) steps=(\d+) "
    r"ticks=([0-9a-f]{16}) fails=(\d+) first=(-?\d+),(-?\d+),(-?\d+)\s*$", re.M)
_ARGMAX = re.compile(r"^DKGEN_ARGMAX (\d+) (\d+)\s*$", re.M)
_TRACE = re.compile(r"^DKGEN_TRACE (\d+)((?: [0-9a-f]{8})*)\s*$", re.M)
_PROFILE = re.compile(r"^DKGEN_PROFILE (\d+) ([0-9a-f]{16})\s*$", re.M)
_PROFILE_COST = re.compile(r"^DKGEN_PROFILE_COST ([0-9a-f]{8}) (\d+)\s*$", re.M)


def _bits_to_float(hex_bits: str) -> float:
    return struct.unpack("<f", struct.pack("<I", int(hex_bits, 16)))[0]


@dataclass
class GoldenSet:
    """Inputs (batch, time[, features]) and the oracle's outputs (batch, time, out);
    `traces` holds every layer's outputs (batch, time, size), in layer order."""

    inputs: np.ndarray
    outputs: np.ndarray
    traces: list[np.ndarray] = field(default_factory=list)

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
    except (OSError, ValueError, EOFError):
        raise DkgenError("not a readable .npz file of plain arrays", path=path,
                         fix="save inputs with np.savez(path, x=inputs)") from None
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
    outputs, traces = ReferenceExecutor(model).run(inputs, trace=True)
    return GoldenSet(inputs, outputs.astype(np.float32),
                     [traces[layer.name].astype(np.float32) for layer in model.layers])


@dataclass
class TargetReport:
    target: str
    passed: bool
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    instructions_per_step: float | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    stack_bytes: int | None = None
    fits_budget: bool | None = None
    reason: str = ""
    steps: int = 0
    mismatches: int = 0
    first_mismatch: dict | None = None
    predictions: list[int] | None = None
    wall_s: float = 0.0
    stack_external: list[str] = field(default_factory=list)
    first_layer_mismatch: dict | None = None  # --debug: first layer, step, element out of tolerance
    # --profile: instructions per step of each layer ({"layer", "name", "op", "macs",
    # "instructions"}: its multiply-accumulates, the lower bound, beside its instructions),
    # then of what follows the last layer ("layer": None)
    layers: list[dict] | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("predictions")
        return d


@dataclass
class VerifyReport:
    model: str
    library: dict
    targets: list[TargetReport] = field(default_factory=list)
    atol: float = FLOAT_ATOL  # 0 (with rtol 0): bit-exact (int8)
    rtol: float = FLOAT_RTOL

    @property
    def dtype(self) -> str:
        return self.library.get("dtype", "float32")

    @property
    def passed(self) -> bool:
        return bool(self.targets) and all(t.passed for t in self.targets)

    def to_json(self) -> dict:
        return {"model": self.model, "passed": self.passed, "dtype": self.dtype,
                "atol": self.atol, "rtol": self.rtol, "library": self.library,
                "targets": [t.to_json() for t in self.targets]}


def write_runner(lib: GeneratedLibrary, golden: GoldenSet, out_dir: Path, *, atol: float,
                 rtol: float = 0.0, print_argmax: bool = False, debug: bool = False) -> Path:
    """Render the runner and its golden-vector header into `out_dir`; return runner.c."""
    env = template_env()
    name = lib.name
    in_type = "int32_t" if lib.plan.model.input.kind == "token" else "float"
    ctx = {
        "name": name, "NAME": name.upper(), "version": __version__,
        "sequences": golden.sequences, "steps": golden.steps,
        "atol": atol,
        "rtol": rtol,
        "print_argmax": print_argmax,
        "debug": debug,
        "layers": len(lib.plan.layers),
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


def first_layer_mismatch(model: Model, golden: GoldenSet, stdout: str, atol: float,
                         rtol: float = 0.0) -> dict | None:
    """From a --debug run's trace lines, the first layer output out of tolerance.

    Lines arrive in execution order: for each sequence, each step, each layer.  Returns
    None when every layer agrees; a dict naming layer, sequence, step and element if not.
    """
    lines = _TRACE.findall(stdout)
    n_layers = len(model.layers)
    expected = golden.sequences * golden.steps * n_layers
    if len(lines) != expected:
        return {"error": f"expected {expected} trace lines, got {len(lines)}"}
    for k, (layer_text, values_text) in enumerate(lines):
        layer = int(layer_text)
        seq, rest = divmod(k, golden.steps * n_layers)
        step = rest // n_layers
        got = np.array([_bits_to_float(v) for v in values_text.split()], dtype=np.float32)
        want = golden.traces[layer][seq, step]
        if got.shape != want.shape:
            return {"error": f"layer {layer} traced {got.size} values, expected {want.size}"}
        bad = np.flatnonzero(~(np.abs(got.astype(np.float64) - want) <= atol + rtol * np.abs(want)))
        if bad.size:
            i = int(bad[0])
            return {"layer": layer, "layer_name": model.layers[layer].name, "sequence": seq,
                    "step": step, "index": i, "got": float(got[i]), "expected": float(want[i])}
    return None


def golden_chunks(golden: GoldenSet, limit_bytes: int) -> list[tuple[int, GoldenSet]]:
    """Split the golden set by whole sequences so each runner's vectors stay under
    `limit_bytes` (a Cortex-M0 part has 256 KB of flash); at least one sequence each."""
    per_seq = (golden.inputs[:1].nbytes + golden.outputs[:1].nbytes) or 1
    size = max(1, limit_bytes // per_seq)
    return [(a, GoldenSet(golden.inputs[a:a + size], golden.outputs[a:a + size],
                          [t[a:a + size] for t in golden.traces]))
            for a in range(0, golden.sequences, size)]


# Flash a runner needs besides the library and its vectors: its own code, newlib's printf
# and semihosting, the startup code and (soft-float cores) libgcc's float routines; measured
# at 45 KB on the Cortex-M0 with a float32 model, so rounded up.
RUNNER_FLASH_RESERVE = 64 * 1024


def golden_limit(target: Target, library_flash: int = 0) -> int:
    """Bytes of golden vectors one runner may carry on `target`: a quarter of its part's flash,
    and no more than the board's flash leaves beside the library (`library_flash` bytes) and
    the runner itself, so that a model which fits its part is not refused for its vectors."""
    limit = max(16 * 1024, min(1 << 20, target.flash_bytes // 4))
    if target.is_host:
        return limit
    return max(1, min(limit, board_flash(target) - library_flash - RUNNER_FLASH_RESERVE))


def board_flash(target: Target) -> int:
    """Bytes of flash the target's linker script gives the runner."""
    return next((m.length for m in target.memory if m.name == "FLASH"), target.flash_bytes)


def profile_layers(target: Target, lib: GeneratedLibrary, part: GoldenSet, work: Path, *,
                   atol: float, rtol: float, timeout_s: float,
                   defines: dict[str, str]) -> list[dict] | str:
    """Instructions per step of each layer: the runner built again with the library's
    profiling hook (a timer mark after every layer), on the first part of the golden set that
    fits the part. Each mark's own cost, averaged by the runner over 256 marks, is taken out
    of every interval, so the layers add up to the step's exact count within about 1% (the
    timer ticks at the core clock, 40 instructions a tick on the 25 MHz boards, and a call in
    the step may change register allocation around it; the counts are averages over the
    steps). `part` is the first part of the golden set `run_target` ran. A string says why
    not."""
    try:
        runner = write_runner(lib, part, work / "runner", atol=atol, rtol=rtol)
        build = toolchain.build(target, [*lib.c_sources, runner], work / "build",
                                include_dirs=[*lib.include_dirs, runner.parent],
                                # (not --debug's trace hook: this runner does not define it)
                                defines={**{k: v for k, v in defines.items() if k != "DKGEN_TRACE_HOOK"},
                                         "DKGEN_PROFILE_HOOK": "dkgen_profile_hook"},
                                name=f"{lib.name}_profile")
    except ToolchainError as exc:
        return f"profile build failed: {exc}"
    result = toolchain.run(target, build.elf, timeout_s=timeout_s)
    slots = {int(i): int(v, 16) for i, v in _PROFILE.findall(result.stdout)}
    cost = _PROFILE_COST.search(result.stdout)
    steps = part.sequences * part.steps
    if result.timed_out or cost is None or len(slots) != len(lib.plan.layers) + 1 or not steps:
        return f"profile run gave no counts ({result.fault or f'exit status {result.returncode}'})"
    mark = int(cost.group(1), 16) / int(cost.group(2))  # ticks, averaged over many marks
    out = []
    for i in range(len(lib.plan.layers) + 1):
        instr = target.ticks_to_instructions(max(0.0, slots[i] - mark * steps))
        lp = lib.plan.layers[i] if i < len(lib.plan.layers) else None
        out.append({"layer": None if lp is None else i,
                    "name": "(after the last layer)" if lp is None else lp.layer.name,
                    "op": "" if lp is None else lp.op,
                    "macs": 0 if lp is None else int(lp.macs),
                    "instructions": None if instr is None else instr / steps})
    return out


def run_target(target: Target, lib: GeneratedLibrary, golden: GoldenSet, work: Path, *,
               atol: float, rtol: float = 0.0, timeout_s: float = 60.0, print_argmax: bool = False,
               defines: dict[str, str] | None = None, budget_check: bool = True,
               debug: bool = False, profile: bool = False) -> TargetReport:
    """Measure the library on one target, check its budget, then build and run the runner
    (in several parts when the golden vectors would not fit the part's flash) and report;
    with `profile`, also each layer's instructions (`profile_layers`) where they pass."""
    report = TargetReport(target.name, False)
    defines = dict(defines or {})
    if debug:
        defines["DKGEN_TRACE_HOOK"] = "dkgen_trace_hook"
    try:
        toolchain.check_toolchain(target)
        fp = measure_library(lib, target, work / "footprint", defines=defines)
    except ToolchainError as exc:
        report.reason = str(exc)
        return report
    report.flash_bytes, report.ram_bytes = fp.flash_bytes, fp.ram_bytes
    report.stack_bytes, report.stack_external = fp.stack_bytes, fp.stack_external
    problems = budget_problems(fp, target)
    report.fits_budget = not problems
    if problems and budget_check:
        report.reason = f"does not fit {target.example_part}: " + "; ".join(problems)
        return report

    chunks = golden_chunks(golden, golden_limit(target, fp.flash_bytes))
    ticks = 0
    predictions: list[int] = []
    max_abs = max_rel = 0.0
    for i, (offset, part) in enumerate(chunks):
        part_dir = work if len(chunks) == 1 else work / f"part{i}"
        try:
            runner = write_runner(lib, part, part_dir / "runner", atol=atol, rtol=rtol,
                                  print_argmax=print_argmax, debug=debug)
            # Named for the model: a link error then names <model>_runner.elf, not the
            # first runtime source.
            build = toolchain.build(target, [*lib.c_sources, runner], part_dir / "build",
                                    include_dirs=[*lib.include_dirs, runner.parent],
                                    defines=defines, name=f"{lib.name}_runner")
        except ToolchainError as exc:
            report.reason = str(exc)
            if "overflowed" in report.reason and not target.is_host:
                if fp.flash_bytes + RUNNER_FLASH_RESERVE > board_flash(target):
                    why = (f"the library ({fp.flash_bytes:,} B) and a test runner do not fit "
                           f"the board's {board_flash(target):,} B of flash")
                else:
                    why = (f"the test runner with {part.sequences} golden sequence(s) does not "
                           f"fit the board's memory beside the library; pass shorter --inputs "
                           f"(fewer steps) or verify on a larger target")
                report.reason = f"{why}: {report.reason}"
            return report
        result = toolchain.run(target, build.elf, timeout_s=timeout_s)
        report.wall_s += result.wall_s
        if debug:
            (part_dir / "debug-trace.txt").write_text(result.stdout)
            m = first_layer_mismatch(lib.plan.model, part, result.stdout, atol, rtol)
            if m is not None and report.first_layer_mismatch is None:
                if "sequence" in m:
                    m["sequence"] += offset
                report.first_layer_mismatch = m
        if result.timed_out:
            report.reason = f"timed out after {timeout_s:g} s"
            return report
        parsed = parse_result(result.stdout)
        if parsed is None:
            why = result.fault or f"exit status {result.returncode}"
            tail = (result.stdout + result.stderr).strip().splitlines()[-2:]
            report.reason = f"no result line ({why})" + (": " + " | ".join(tail) if tail else "")
            return report
        max_abs, max_rel = max(max_abs, parsed["max_abs"]), max(max_rel, parsed["max_rel"])
        report.steps += parsed["steps"]
        ticks += parsed["ticks"]
        if parsed["fails"] and report.first_mismatch is None:
            seq, step, index = parsed["first"]
            report.first_mismatch = {"sequence": seq + offset, "step": step, "index": index}
        report.mismatches += parsed["fails"]
        if print_argmax:
            preds = {int(a): int(b) for a, b in _ARGMAX.findall(result.stdout)}
            predictions += [preds.get(j, -1) for j in range(part.sequences)]
        if result.returncode != 0 and not parsed["fails"]:
            report.reason = f"runner exit status {result.returncode}"
            return report
    report.max_abs_err, report.max_rel_err = max_abs, max_rel
    if print_argmax:
        report.predictions = predictions
    if target.kind != "host" and report.steps:
        instr = target.ticks_to_instructions(ticks)
        report.instructions_per_step = None if instr is None else instr / report.steps
    if report.mismatches:
        fm = report.first_mismatch
        report.reason = (f"{report.mismatches} outputs differ from the reference; first at sequence "
                         f"{fm['sequence']}, step {fm['step']}, index {fm['index']}")
        m = report.first_layer_mismatch
        if m and "layer" in m:
            report.reason += (f"; first layer out of tolerance: {m['layer_name']} (layer {m['layer']}) "
                              f"at sequence {m['sequence']}, step {m['step']}, element {m['index']}")
    report.passed = report.mismatches == 0 and report.steps == golden.sequences * golden.steps
    if not report.passed and not report.reason:
        report.reason = f"ran {report.steps} of {golden.sequences * golden.steps} steps"
    if profile and report.passed and target.has_timer:
        layers = profile_layers(target, lib, chunks[0][1], work / "profile", atol=atol,
                                rtol=rtol, timeout_s=timeout_s, defines=defines)
        if isinstance(layers, str):
            report.passed, report.reason = False, layers
        else:
            report.layers = layers
    return report


def verify_model(model: Model, targets: list[Target], *, inputs: np.ndarray | None = None,
                 sequences: int = 4, steps: int = 8, seed: int = 0, atol: float = FLOAT_ATOL,
                 rtol: float = FLOAT_RTOL,
                 workdir: Path | None = None, jobs: int = 2, source: str | None = None,
                 source_sha256: str | None = None, print_argmax: bool = False,
                 golden_hook=None, timeout_s: float = 60.0,
                 defines: dict[str, str] | None = None, progress=None, budget_check: bool = True,
                 debug: bool = False, dtype: str = "float32",
                 calib: np.ndarray | None = None, optimize: str = "ram",
                 profile: bool = False) -> VerifyReport:
    """Generate, build and run `model` on each target; compare with the reference.

    float32: the float64 reference executor is the oracle: each output within
    `atol + rtol * |reference|`.  int8: the model
    is quantised on `calib` (default: the test inputs themselves) and every output must
    equal the numpy integer reference's bit for bit.
    """
    if inputs is None:
        inputs = make_inputs(model, sequences, steps, seed)
    qmodel = None
    if dtype == "int8":
        from dkgen.quant import golden_int8, quantize_model

        qmodel = quantize_model(model, inputs if calib is None else calib)
        g8 = golden_int8(qmodel, inputs)
        golden = GoldenSet(g8.inputs, g8.outputs, g8.float_traces)
        atol = rtol = 0.0
    elif dtype == "float32":
        golden = golden_set(model, inputs)
    else:
        raise DkgenError(f"unknown dtype '{dtype}'", field="--dtype", fix="use float32 or int8")
    if golden_hook is not None:  # tests corrupt a vector here to prove the harness can fail
        golden_hook(golden)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="dkgen-verify-")
        workdir = Path(tmp.name)
    workdir = Path(workdir)
    try:
        if qmodel is not None:
            from dkgen.quant import generate_int8

            lib = generate_int8(qmodel, None, workdir / "lib", force=True, source=source or model.name,
                                source_sha256=source_sha256, optimize=optimize)
        else:
            lib = generate(model, workdir / "lib", force=True, source=source or model.name,
                           source_sha256=source_sha256)
        library = {"name": lib.name, "dtype": dtype, **lib.manifest["sizes"],
                   "macs_per_step": lib.plan.macs}
        report = VerifyReport(source or model.name, library, atol=atol, rtol=rtol)

        def one(target: Target) -> TargetReport:
            r = run_target(target, lib, golden, workdir / target.name, atol=atol, rtol=rtol,
                           print_argmax=print_argmax, timeout_s=timeout_s, defines=defines,
                           budget_check=budget_check, debug=debug, profile=profile)
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


def junit_xml(report: VerifyReport) -> str:
    """The report as JUnit XML: one test case per target, a failure carrying the reason."""
    import xml.etree.ElementTree as ET

    failures = sum(not t.passed for t in report.targets)
    suite = ET.Element("testsuite", name=f"dkgen verify {report.model}", tests=str(len(report.targets)),
                       failures=str(failures), errors="0",
                       time=f"{sum(t.wall_s for t in report.targets):.3f}")
    # What "passed" meant, so a CI archive of the XML says which check each run made.
    suite_props = ET.SubElement(suite, "properties")
    for key, value in (("dtype", report.dtype), ("atol", report.atol), ("rtol", report.rtol)):
        ET.SubElement(suite_props, "property", name=key, value=str(value))
    for t in report.targets:
        case = ET.SubElement(suite, "testcase", classname="dkgen.verify", name=t.target,
                             time=f"{t.wall_s:.3f}")
        props = ET.SubElement(case, "properties")
        for key in ("max_abs_err", "max_rel_err", "instructions_per_step", "flash_bytes", "ram_bytes",
                    "stack_bytes", "fits_budget"):
            ET.SubElement(props, "property", name=key, value=str(getattr(t, key)))
        if not t.passed:
            ET.SubElement(case, "failure", message=t.reason or "failed").text = t.reason
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
