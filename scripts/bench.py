#!/usr/bin/env python3
"""Instructions per timestep of dkgen's generated C on Cortex-M cores: DKP, pruned, dense.

    python scripts/bench.py                 # or: make bench
    python scripts/bench.py --targets cortex-m4 --dtypes int8 --models digits --no-write

For each model (the digits example, two larger random DKP models and the LSTM layers of the
25x PTB language models), each dtype (float32, int8) and each target, this generates the C
library, builds it with its parity runner, runs it under QEMU
(`dkgen.harness.verify.verify_model`: every output is checked against the reference, so a
number here is also a passed parity test) and reads the instruction count per timestep
from SysTick under `-icount shift=0`, and the library's flash and RAM. It does the same for
two equivalents of the DKP model, same layer shapes, in the same run:

- dense: every DKP weight replaced by the dense matrix it stands for;
- pruned at equal size: every DKP weight replaced by a pruned matrix (CSR) storing as many
  values as the DKP weight does, its largest entries (for the PTB model: the magnitude-
  pruned model trained with the same budget, `results/ptb-small-scratch/lstm/`).

MACs per step (the arithmetic lower bound, in multiply-accumulates of the form dkgen
generates) come from the plan.

The table is printed and written to docs/benchmarks.md with the command and the date.
A benchmark, not a test: it takes several minutes.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dkgen.harness.compare import dense_equivalent, pruned_equivalent  # noqa: E402
from dkgen.harness.targets import resolve_targets  # noqa: E402
from dkgen.harness.verify import make_inputs, verify_model  # noqa: E402
from dkgen.ir.graph import GRU, LSTM, RNN, InputSpec, Linear, Model, Softmax  # noqa: E402
from dkgen.ir.weights import DenseWeight, KronWeight, SparseDope  # noqa: E402
from dkgen.quant.codegen import OPTIMIZE  # noqa: E402

TARGETS = "cortex-m0,cortex-m4,cortex-m7,cortex-m55"
DTYPES = "float32,int8"
MODELS = ("digits", "lstm256", "lstm256k3", "gru96", "gru96r", "rnn128", "ptb25")
VARIANTS = ("DKP", "pruned", "dense")
PTB_LSTM = REPO / "results" / "ptb-small-scratch" / "lstm"


@dataclass
class Variant:
    """One form of a benchmark model, with the inputs it is run and calibrated on."""

    model: Model
    inputs: np.ndarray
    calib: np.ndarray | None = None


@dataclass
class Bench:
    """One model to measure: the IR, its test inputs and (int8) calibration inputs; the
    pruned equivalent when it is not derived from the DKP model (a trained one)."""

    name: str
    about: str
    model: Model
    inputs: np.ndarray
    calib: np.ndarray | None = None
    pruned: Variant | None = None

    def variants(self) -> dict[str, Variant]:
        dkp = Variant(self.model, self.inputs, self.calib)
        pruned = self.pruned or Variant(pruned_equivalent(self.model), self.inputs, self.calib)
        return {"DKP": dkp, "pruned": pruned, "dense": Variant(dense_equivalent(self.model), self.inputs, self.calib)}


def doped_kron_of(rng: np.random.Generator, shapes: list[tuple[int, int]], density: float) -> KronWeight:
    """A product of the factors `shapes` plus a random dope of the given density, scaled
    like a trained gate matrix."""
    rows, cols = (int(np.prod([s[i] for s in shapes])) for i in (0, 1))
    nnz = max(1, int(round(density * rows * cols)))
    idx = rng.choice(rows * cols, size=nnz, replace=False)
    scale = 1.0 / np.sqrt(cols)
    dope = SparseDope(rows, cols, idx, rng.normal(scale=scale, size=nnz))
    return KronWeight.of([rng.normal(scale=scale ** (1 / len(shapes)), size=s) for s in shapes], dope)


def doped_kron(rng: np.random.Generator, a: tuple[int, int], b: tuple[int, int],
               density: float) -> KronWeight:
    """A ⊗ B plus a random dope of the given density, scaled like a trained gate matrix."""
    return doped_kron_of(rng, [a, b], density)


def _lstm256(name: str, seed: int, w_ih: list[tuple[int, int]], w_hh: list[tuple[int, int]],
             about: str, sequences: int, steps: int) -> Bench:
    """LSTM 64 -> 256 with doped Kronecker matrices of the given factors (1% dope), dense
    256 -> 10 head, softmax."""
    rng = np.random.default_rng(seed)
    h, n_in = 256, 64
    model = Model(name, InputSpec("vector", n_in), [
        LSTM("lstm", h, doped_kron_of(rng, w_ih, 0.01), doped_kron_of(rng, w_hh, 0.01),
             rng.normal(scale=0.1, size=4 * h), rng.normal(scale=0.1, size=4 * h)),
        Linear("head", DenseWeight(rng.normal(scale=1 / 16, size=(10, h))), rng.normal(scale=0.1, size=10)),
        Softmax("softmax", 10),
    ])
    return Bench(name, about, model, make_inputs(model, sequences, steps, seed=1))


def lstm256(sequences: int, steps: int) -> Bench:
    return _lstm256("lstm256", 256, [(32, 8), (32, 8)], [(32, 16), (32, 16)],
                    "LSTM 64 -> 256, W_ih 1024x64 = 32x8 (x) 32x8, W_hh 1024x256 = 32x16 (x) 32x16, "
                    "each + 1% dope; dense 256 -> 10 head, softmax", sequences, steps)


def lstm256k3(sequences: int, steps: int) -> Bench:
    return _lstm256("lstm256k3", 2563, [(8, 4), (8, 4), (16, 4)], [(8, 8), (8, 8), (16, 4)],
                    "lstm256's layers with three Kronecker factors: W_ih 1024x64 = 8x4 (x) 8x4 (x) "
                    "16x4, W_hh 1024x256 = 8x8 (x) 8x8 (x) 16x4, each + 1% dope; dense 256 -> 10 "
                    "head, softmax", sequences, steps)


def gru96(sequences: int, steps: int, linear_before_reset: bool = True) -> Bench:
    rng = np.random.default_rng(96)
    h, n_in = 96, 40
    name = "gru96" if linear_before_reset else "gru96r"
    model = Model(name, InputSpec("vector", n_in), [
        GRU("gru", h, doped_kron(rng, (12, 5), (24, 8), 0.02), doped_kron(rng, (12, 12), (24, 8), 0.02),
            rng.normal(scale=0.1, size=3 * h), rng.normal(scale=0.1, size=3 * h),
            linear_before_reset=linear_before_reset),
        Linear("head", doped_kron(rng, (3, 12), (4, 8), 0.02), rng.normal(scale=0.1, size=12)),
    ])
    about = ("GRU 40 -> 96, W_ih 288x40 = 12x5 (x) 24x8, W_hh 288x96 = 12x12 (x) 24x8, each + 2% "
             "dope; 96 -> 12 head 3x12 (x) 4x8 + 2% dope")
    if not linear_before_reset:
        about = ("gru96's weights as ONNX's default GRU (linear_before_reset=0: a second "
                 "recurrent product, R (r * h), every step)")
    return Bench(name, about, model, make_inputs(model, sequences, steps, seed=1))


def rnn128(sequences: int, steps: int) -> Bench:
    rng = np.random.default_rng(128)
    h, n_in = 128, 40
    model = Model("rnn128", InputSpec("vector", n_in), [
        RNN("rnn", h, doped_kron(rng, (16, 5), (8, 8), 0.02), doped_kron(rng, (16, 16), (8, 8), 0.02),
            rng.normal(scale=0.1, size=h), rng.normal(scale=0.1, size=h)),
        Linear("head", DenseWeight(rng.normal(scale=1 / 11, size=(12, h))), rng.normal(scale=0.1, size=12)),
        Softmax("softmax", 12),
    ])
    about = ("RNN (Elman, tanh; Keras' SimpleRNN) 40 -> 128, W_ih 128x40 = 16x5 (x) 8x8, "
             "W_hh 128x128 = 16x16 (x) 8x8, each + 2% dope; dense 128 -> 12 head, softmax")
    return Bench("rnn128", about, model, make_inputs(model, sequences, steps, seed=1))


def digits(sequences: int) -> Bench:
    """The digits example: demo-out/digits.onnx if `make demo` wrote it, else trained here
    (seed 0, the same weights the demo trains)."""
    from dkgen.onnx_io.importer import load_onnx

    onnx_path = REPO / "demo-out" / "digits.onnx"
    if onnx_path.is_file():
        model = load_onnx(onnx_path)
        data = onnx_path.with_suffix(".npz")
        calib_path = onnx_path.with_suffix(".calib.npz")
        x_test = np.load(data)["x"] if data.is_file() else None
        calib = np.load(calib_path)["x"] if calib_path.is_file() else None
        source = str(onnx_path.relative_to(REPO))
    else:
        from dkgen.train.digits import digits_model_to_ir, train_digits

        print("bench: demo-out/digits.onnx not found; training the digits example (seed 0) ...", flush=True)
        result = train_digits(0)
        model = digits_model_to_ir(result)
        x_test, calib = result.x_test, None
        source = "trained by dkgen.train.digits.train_digits(0)"
    if x_test is None or calib is None:
        from dkgen.train.digits import load_digits_split

        x_train, _, x_te, _ = load_digits_split(0)
        x_test = x_te if x_test is None else x_test
        calib = x_train[:256] if calib is None else calib
    about = (f"the digits example ({source}): LSTM 8 -> 64, W_ih 256x8 = 8x4 (x) 32x2, "
             "W_hh 256x64 = 16x8 (x) 16x8, each + 2% dope; dense 64 -> 10 head, softmax")
    return Bench("digits", about, model, np.asarray(x_test[:sequences], np.float32),
                 np.asarray(calib, np.float32))


def ptb25(sequences: int) -> Bench:
    """The LSTM layers of the 25x PTB models trained from scratch (`dkgen export RUN
    --lstm-only`): DKP, and magnitude pruning as the pruned equivalent."""
    from dkgen.onnx_io.importer import load_onnx

    def load(run: str) -> tuple[Model, np.ndarray]:
        x = np.load(PTB_LSTM / f"{run}.npz")["x"].astype(np.float32)
        return load_onnx(PTB_LSTM / f"{run}.onnx"), x

    dkp, x = load("dkp-25-scratch")
    pruned, xp = load("pruned-25-scratch")
    about = ("the LSTM layers (2x200, embedding vector in, hidden state out) of the PTB small "
             "language models compressed 25x and trained from scratch "
             "(`results/ptb-small-scratch/`, exported by `dkgen export --lstm-only`): DKP, "
             "every gate matrix 800x200 = 20x20 (x) 40x10 + 3.5% dope; pruned: the magnitude-"
             "pruned model of the same budget (4% of the entries); inputs: validation text "
             "through each model's own embedding")
    return Bench("ptb25", about, dkp, x[:sequences, :8], x, Variant(pruned, xp[:sequences, :8], xp))


@dataclass
class Result:
    """One variant on one target: a count only where the parity test passed."""

    macs: int | None = None
    instr: float | None = None
    fits: bool | None = None
    flash: int | None = None
    ram: int | None = None
    why: str = ""


@dataclass
class Row:
    model: str
    dtype: str
    target: str
    results: dict[str, Result]

    def instr(self, variant: str) -> float | None:
        return self.results[variant].instr

    @property
    def note(self) -> str:
        return "; ".join(f"{k}: {r.why}" for k, r in self.results.items() if r.why)


def measure(variant: Variant, dtype: str, targets, work: Path, jobs: int,
            optimize: str = "ram") -> dict[str, Result]:
    """{target: its Result}."""
    try:
        report = verify_model(variant.model, targets, inputs=variant.inputs, dtype=dtype,
                              calib=variant.calib if dtype == "int8" else None, workdir=work, jobs=jobs,
                              timeout_s=900.0, budget_check=False, optimize=optimize)
    except Exception as exc:  # a model that cannot be generated at all: report, go on
        return {t.name: Result(why=f"{type(exc).__name__}: {exc}") for t in targets}
    macs = int(report.library["macs_per_step"])
    out = {}
    for t in report.targets:
        why = "" if t.passed else short_reason(t.reason)
        out[t.target] = Result(macs, t.instructions_per_step if t.passed else None, t.fits_budget,
                               t.flash_bytes, t.ram_bytes, why)
    return out


def short_reason(reason: str) -> str:
    """The cause of a failed run in one line, without temporary paths: for a failed link,
    the linker's own message from the build log."""
    if not reason:
        return "failed"
    m = re.search(r"\(full output in (\S+)\)", reason)
    text = reason[:m.start()].strip() if m else reason.splitlines()[0]
    if m and "linking failed" in text:
        try:
            lines = Path(m.group(1)).read_text().splitlines()
        except OSError:
            lines = []
        ld = [ln for ln in lines if re.search(r"\bld: ", ln)]
        if ld:
            text = "linking failed: " + re.sub(r"^.*\bld: ", "ld: ", ld[0])
    text = re.sub(r"^cortex-m\d+: |^host: ", "", text)  # the row names the target
    return re.sub(r"/\S*/(ld|collect2)\b", r"\1", text)


def fmt_int(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def fmt_ratio(num: float | None, den: float | None, digits: int = 2) -> str:
    if num is None or den is None or den == 0:
        return "—"
    return f"{num / den:.{digits}f}"


def speedup(other: float | None, dkp: float | None) -> str:
    ratio = fmt_ratio(other, dkp, 2)
    return ratio if ratio == "—" else f"{ratio}x"


def fmt_kb(v: int | None) -> str:
    return "—" if v is None else f"{v / 1024:,.1f}"


def table(rows: list[Row]) -> str:
    head = ("| model | dtype | target | MACs/step (lower bound) | DKP instr/step | DKP instr/MAC "
            "| pruned instr/step | pruned instr/MAC | dense instr/step | dense instr/MAC "
            "| pruned/DKP time | dense/DKP time |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        cells = []
        for v in VARIANTS:
            res = r.results[v]
            mark = "" if res.fits in (None, True) else "*"
            cells += [f"{fmt_int(res.instr)}{mark}", fmt_ratio(res.instr, res.macs)]
        dkp = r.results["DKP"]
        lines.append(f"| {r.model} | {r.dtype} | {r.target} | {fmt_int(dkp.macs)} | " + " | ".join(cells)
                     + f" | {speedup(r.instr('pruned'), dkp.instr)} | {speedup(r.instr('dense'), dkp.instr)} |")
    return "\n".join(lines)


def size_table(rows: list[Row]) -> str:
    head = ("| model | dtype | target | DKP flash | pruned flash | dense flash "
            "| DKP RAM | pruned RAM | dense RAM |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        res = [r.results[v] for v in VARIANTS]
        lines.append(f"| {r.model} | {r.dtype} | {r.target} | "
                     + " | ".join(fmt_kb(x.flash) for x in res) + " | "
                     + " | ".join(fmt_kb(x.ram) for x in res) + " |")
    return "\n".join(lines)


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def markdown(rows: list[Row], benches: list[Bench], command: str, seconds: float, args) -> str:
    notes = [f"- {r.model} {r.dtype} {r.target}: {r.note}" for r in rows if r.note]
    parts = [
        "# Benchmarks",
        "",
        "Instructions per timestep of the generated C library on Cortex-M cores, each DKP model "
        "against its dense equivalent (every DKP weight replaced by the dense matrix it stands "
        "for, same layers) and a pruned one of equal size (every DKP weight replaced by a CSR "
        "matrix storing as many values: its largest entries, or for ptb25 the trained "
        "magnitude-pruned model), measured in the same run by `scripts/bench.py`. The same "
        "comparison for any model: `dkgen bench MODEL.onnx --target ...` (README).",
        "",
        f"- command: `{command}`",
        f"- run: {datetime.date.today().isoformat()}, {seconds / 60:.1f} minutes, "
        f"{args.sequences} sequences x {args.steps} steps per random model, "
        f"{args.sequences} test sequences of 8 steps for digits and ptb25",
        f"- toolchain: {tool_version(['arm-none-eabi-gcc', '--version'])}; "
        f"{tool_version(['qemu-system-arm', '--version'])}; host {platform.machine()}",
        "",
        "How it is measured: QEMU runs with `-icount shift=0` (one guest instruction = 1 ns of "
        "virtual time) and SysTick counts the processor clock around each `<name>_step` call, "
        "so the counts are exact and repeat run to run (QEMU-NOTES.md). They are instruction "
        "counts, not cycles: no memory timing or pipeline. Every run is also a parity test "
        "(float32 within 1e-5 of the float64 reference, int8 bit for bit with the integer "
        "reference); a count is shown only if it passed.",
        "",
        "Columns: MACs/step is the arithmetic lower bound, the multiply-accumulates of the "
        "factored form dkgen generates (Kronecker passes + dope + dense layers); instr/MAC is "
        "instructions per step over that, cell nonlinearities and bookkeeping included. "
        "`pruned/DKP time` and `dense/DKP time` are the other form's instructions over DKP's "
        "per step (above 1: DKP is faster). "
        "`*`: builds and runs under QEMU but exceeds the example part's flash or RAM budget "
        "(targets/*.toml); `—`: does not build or run there (e.g. a dense model larger than "
        "the Cortex-M0 part's 256 KB of flash).",
        "",
        "Paths: Cortex-M0 (no FPU, no DSP) runs soft float and portable integer C; M4 and M7 "
        "use the FPU's fused multiply-add and the SIMD32 (SXTB16/SMLAD) int8 kernels; the M55 "
        "uses its FPU for float32 and Helium (MVE) for int8 (runtime/README.md).",
        "",
        "## Models",
        "",
        *[f"- **{b.name}**: {b.about}" for b in benches],
        "",
        "## Results",
        "",
        table(rows),
        "",
        "## Flash and RAM (KiB)",
        "",
        "The library as built for the target: flash is code, weights and tables; RAM is state, "
        "scratch and static data (the stack is not included).",
        "",
        size_table(rows),
        "",
    ]
    if notes:
        parts += ["Runs that gave no count:", "", *notes, ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=TARGETS, help=f"comma-separated (default {TARGETS})")
    ap.add_argument("--dtypes", default=DTYPES, help=f"comma-separated (default {DTYPES})")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated of {', '.join(MODELS)}")
    ap.add_argument("--sequences", type=int, default=4, help="input sequences per model (default 4)")
    ap.add_argument("--steps", type=int, default=4, help="steps per sequence, random models (default 4)")
    ap.add_argument("--jobs", type=int, default=2, help="targets run in parallel (default 2)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md",
                    help="markdown file to write (default docs/benchmarks.md)")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    ap.add_argument("--workdir", type=Path, default=None, help="keep build folders here (default: temporary)")
    ap.add_argument("--optimize", choices=OPTIMIZE, default="ram",
                    help="int8 goal of the generated code (dkgen generate --optimize; default ram)")
    args = ap.parse_args(argv)

    targets = resolve_targets(args.targets)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    start = time.perf_counter()
    makers = {"digits": lambda: digits(args.sequences), "lstm256": lambda: lstm256(args.sequences, args.steps),
              "lstm256k3": lambda: lstm256k3(args.sequences, args.steps),
              "gru96": lambda: gru96(args.sequences, args.steps),
              "gru96r": lambda: gru96(args.sequences, args.steps, linear_before_reset=False),
              "rnn128": lambda: rnn128(args.sequences, args.steps),
              "ptb25": lambda: ptb25(args.sequences)}
    benches = [makers[m]() for m in names]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dkgen-bench-") as tmp:
        work = Path(args.workdir or tmp)
        for b in benches:
            variants = b.variants()
            for dtype in dtypes:
                print(f"bench: {b.name} {dtype}: {', '.join(VARIANTS)} on {args.targets} ...", flush=True)
                got = {v: measure(variants[v], dtype, targets, work / b.name / dtype / v, args.jobs,
                                  args.optimize) for v in VARIANTS}
                for t in targets:
                    r = Row(b.name, dtype, t.name, {v: got[v][t.name] for v in VARIANTS})
                    rows.append(r)
                    counts = "  ".join(f"{v} {fmt_int(r.instr(v)):>10s} "
                                       f"({fmt_ratio(r.instr(v), r.results[v].macs)}/MAC)" for v in VARIANTS)
                    print(f"  {t.name:11s} {counts}" + (f"  [{r.note[:120]}]" if r.note else ""), flush=True)
    seconds = time.perf_counter() - start
    print()
    print(table(rows))
    print()
    print(size_table(rows))
    if not args.no_write:
        command = "python scripts/bench.py" + ("" if argv is None and len(sys.argv) == 1
                                               else " " + shlex.join(sys.argv[1:] if argv is None else argv))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(rows, benches, command, seconds, args))
        print(f"\nbench: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
