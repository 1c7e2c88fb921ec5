"""The `dkgen` command line.  Each command is thin: it parses options, calls one library
function and prints the result (a rich table, or one JSON document with --json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dkgen import __version__
from dkgen.cli_common import DkgenGroup
from dkgen.cli_train import export_cmd, train_group
from dkgen.errors import DkgenError

_err = Console(stderr=True)


def _print_json(doc: object) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False, default=float))


def _console() -> Console:
    # Tables keep their columns when the output is a pipe or a CI log, not a terminal.
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 160)


def _optimize_option(fn):
    return click.option("--optimize", type=click.Choice(["ram", "time"]), default=None,
                        help="int8: ram (default) forms each layer's matrix product a block of "
                             "rows at a time, in at most 128 int32 accumulators; time forms it "
                             "whole (an accumulator as long as the layer's output, a few percent "
                             "fewer instructions).")(fn)


def _dtype_options(fn):
    fn = click.option("--calib", "calib_path", type=click.Path(path_type=Path), default=None,
                      help="int8: .npz of representative inputs (array x) to calibrate scales on.")(fn)
    return click.option("--dtype", type=click.Choice(["float32", "int8"]), default="float32",
                        show_default=True, help="Arithmetic of the generated C.")(fn)


def _run_options(timeout_s: float):
    """The options of commands that build and run a model on targets (verify, bench)."""
    options = [
        click.option("--target", "target_spec", default=None,
                     help="Comma-separated targets, or 'all' (default: cortex-m4)."),
        click.option("--inputs", type=click.Path(path_type=Path), default=None,
                     help=".npz with array x: (batch, time, features) or (batch, time) token ids."),
        click.option("--sequences", default=4, show_default=True, help="Random sequences when no --inputs."),
        click.option("--steps", default=8, show_default=True, help="Timesteps per random sequence."),
        click.option("--seed", default=0, show_default=True),
        click.option("--jobs", default=2, show_default=True, help="Targets built and run at once."),
        click.option("--timeout", "timeout_s", default=timeout_s, show_default=True,
                     help="Seconds per target run."),
    ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


def _optimize(dtype: str, optimize: str | None) -> str:
    """The int8 optimisation goal (ram unless --optimize says otherwise)."""
    if optimize is not None and dtype != "int8":
        raise DkgenError("--optimize only applies to --dtype int8", field="--optimize",
                         fix="add --dtype int8 or drop --optimize")
    return optimize or "ram"


def _calibration(model, dtype: str, calib_path: Path | None, *, required: bool):
    """The calibration inputs for an int8 build (None for float32)."""
    from dkgen.harness.verify import load_inputs

    if dtype != "int8":
        if calib_path is not None:
            raise DkgenError("--calib only applies to --dtype int8", field="--calib",
                             fix="add --dtype int8 or drop --calib")
        return None
    if calib_path is None:
        if required:
            raise DkgenError("int8 needs calibration data", field="--calib",
                             fix="pass --calib inputs.npz (array x of representative input sequences)")
        return None
    return load_inputs(calib_path, model)


@click.group(cls=DkgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dkgen")
def cli() -> None:
    """Compile doped Kronecker product (DKP) models to C99 and verify them on host and Cortex-M."""


@cli.command("targets")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def targets_cmd(as_json: bool) -> None:
    """List the targets dkgen can build and verify for."""
    from dkgen.harness.targets import load_targets

    targets = load_targets()
    rows = [{"name": t.name, "core": t.core, "kind": t.kind, "qemu_machine": t.qemu_machine,
             "flash_bytes": t.flash_bytes, "ram_bytes": t.ram_bytes, "example_part": t.example_part,
             "description": t.description} for t in targets.values()]
    if as_json:
        _print_json({"targets": rows})
        return
    table = Table(title="dkgen targets")
    for col in ("target", "core", "QEMU machine", "flash", "RAM", "typical part"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["core"], r["qemu_machine"] or "(native)",
                      f"{r['flash_bytes'] // 1024} KB", f"{r['ram_bytes'] // 1024} KB", r["example_part"])
    _console().print(table)


@cli.command("inspect")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@_dtype_options
def inspect_cmd(model: Path, as_json: bool, dtype: str, calib_path: Path | None) -> None:
    """Per-layer structure, parameters, bytes, MACs per timestep and compression."""
    from dkgen.inspect import model_summary
    from dkgen.onnx_io.importer import load_onnx

    ir = load_onnx(model)
    calib = _calibration(ir, dtype, calib_path, required=True)
    plan = None
    if calib is not None:
        from dkgen.quant import plan_int8, quant_summary, quantize_model

        qm = quantize_model(ir, calib)
        plan = plan_int8(qm)
    summary = model_summary(ir, plan)
    if plan is not None:
        summary["quantization"] = quant_summary(qm)
    if as_json:
        _print_json(summary)
        return
    table = Table(title=f"{model}: {summary['name']}")
    cols = ["layer", "op", "in→out", "weight", "structure", "params", "bytes", "dense bytes", "ratio",
            "MACs/step"] + (["int8 bytes"] if plan is not None else [])
    for col in cols:
        table.add_column(col, justify="left" if col in ("layer", "op", "in→out", "weight", "structure")
                         else "right")
    for layer in summary["layers"]:
        ws = layer["weights"] or [None]
        for i, w in enumerate(ws):
            head = (layer["name"], layer["op"], f"{layer['in']}→{layer['out']}") if i == 0 else ("", "", "")
            extra = [] if plan is None else [f"{w['int8_bytes']:,}" if w else ""]
            if w is None:
                table.add_row(*head, "", "", "", "", "", "", "", *extra)
            else:
                table.add_row(*head, w["role"], w["structure"], f"{w['params']:,}", f"{w['bytes']:,}",
                              f"{w['dense_bytes']:,}", f"{w['compression']:.1f}x", f"{w['macs']:,}",
                              *extra)
    t = summary["total"]
    extra = [] if plan is None else [f"{t['int8_weight_bytes']:,}"]
    table.add_row("total", "", "", "", "", f"{t['params']:,}", f"{t['bytes']:,}", f"{t['dense_bytes']:,}",
                  f"{t['compression']:.1f}x", f"{t['macs']:,}", *extra)
    _console().print(table)


@cli.command("generate")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder to write the library into.")
@click.option("--name", default=None, help="C name prefix (default: the model's name).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--target", "target_name", default=None,
              help="Refuse a model that does not fit this target's part (flash, RAM incl. stack).")
@click.option("--no-budget-check", is_flag=True, help="With --target: generate even if it does not fit.")
@_dtype_options
@_optimize_option
def generate_cmd(model: Path, out_dir: Path, name: str | None, force: bool, target_name: str | None,
                 no_budget_check: bool, dtype: str, calib_path: Path | None,
                 optimize: str | None) -> None:
    """Generate the C99 library for MODEL (an ONNX file)."""
    from dkgen.codegen.render import generate
    from dkgen.harness.budget import check_budget
    from dkgen.harness.targets import get_target
    from dkgen.harness.toolchain import check_toolchain
    from dkgen.harness.verify import file_sha256
    from dkgen.onnx_io.importer import load_onnx

    if name is not None:
        from dkgen.codegen.plan import check_c_name

        check_c_name(name)
    goal = _optimize(dtype, optimize)
    ir = load_onnx(model)
    calib = _calibration(ir, dtype, calib_path, required=True)
    check = None
    footprints = []
    if target_name is not None and not no_budget_check:
        target = get_target(target_name)
        check_toolchain(target)

        def check(lib):  # noqa: ANN001 - runs on the library in its temporary folder
            footprints.append(check_budget(lib, target))

    if calib is not None:
        from dkgen.quant import generate_int8

        lib = generate_int8(ir, calib, out_dir, name=name, force=force, source=str(model),
                            source_sha256=file_sha256(model), check=check, optimize=goal)
    else:
        lib = generate(ir, out_dir, name=name, force=force, source=str(model),
                       source_sha256=file_sha256(model), check=check)
    s = lib.manifest["sizes"]
    click.echo(f"wrote {out_dir}/ ({lib.name}, {dtype}: weights {s['weight_bytes']:,} B, state "
               f"{s['state_bytes']:,} B, scratch {s['scratch_bytes']:,} B, "
               f"{lib.plan.macs:,} MACs/step)")
    for fp in footprints:
        click.echo(f"fits {fp.target}: flash {fp.flash_bytes:,} B, RAM {fp.ram_bytes:,} B, "
                   f"stack {fp.stack_bytes if fp.stack_bytes is not None else '?'} B")


def _verify_table(report) -> Table:
    check = "bit-exact" if report.dtype == "int8" else f"atol {report.atol:g}, rtol {report.rtol:g}"
    table = Table(title=f"dkgen verify {report.model} ({report.dtype}, {check})")
    for col in ("target", "result", "max abs err", "max rel err", "instr/step", "flash (B)", "RAM (B)",
                "stack (B)", "fits", "note"):
        table.add_column(col, justify="left" if col in ("target", "result", "note") else "right")

    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for t in report.targets:
        table.add_row(
            t.target, "[green]PASS[/green]" if t.passed else "[red]FAIL[/red]",
            "exact" if t.max_abs_err == 0.0 else num(t.max_abs_err, ".3g"),
            num(t.max_rel_err, ".3g"), num(t.instructions_per_step, ",.0f"),
            num(t.flash_bytes, ","), num(t.ram_bytes, ","),
            num(t.stack_bytes, ",") + ("+ext" if t.stack_external and t.stack_bytes is not None else ""),
            {True: "yes", False: "[red]no[/red]", None: "-"}[t.fits_budget],
            t.reason,
        )
    return table


def _profile_table(report) -> Table:
    table = Table(title="instructions per step, layer by layer")
    for col in ("target", "layer", "op", "MACs/step", "instr/step", "instr/MAC", "share"):
        table.add_column(col, justify="left" if col in ("target", "layer", "op") else "right")
    for t in report.targets:
        if not t.layers:
            table.add_row(t.target, "-", "", "-", "-", "-", "")
            continue
        total = sum(x["instructions"] for x in t.layers) or 1.0
        for x in t.layers:
            table.add_row(t.target, x["name"], x["op"], f"{x['macs']:,}" if x["macs"] else "-",
                          f"{x['instructions']:,.0f}",
                          f"{x['instructions'] / x['macs']:.2f}" if x["macs"] else "-",
                          f"{100 * x['instructions'] / total:.1f}%")
    return table


@cli.command("verify")
@click.argument("model", type=click.Path(path_type=Path))
@_run_options(timeout_s=60.0)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--junit", "junit_path", type=click.Path(path_type=Path), default=None,
              help="Also write the result as JUnit XML for CI systems.")
@click.option("--debug", is_flag=True,
              help="Dump every layer's output at every step and name the first one out of tolerance.")
@click.option("--profile", is_flag=True,
              help="Also count each layer's instructions per step (a second build with a timer "
                   "mark after every layer; QEMU targets).")
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), default=None,
              help="Keep the library, runners, builds and debug dumps in this folder.")
@click.option("--no-budget-check", is_flag=True, help="Run even on targets whose part the model does not fit.")
@click.option("--atol", type=float, default=None,
              help="float32: absolute part of the tolerance against the float64 reference "
                   "[default: 1e-5]; int8 is always exact.")
@click.option("--rtol", type=float, default=None,
              help="float32: relative part: each output within atol + rtol * |reference| "
                   "[default: 1e-5]. Large outputs or long recurrences may need more.")
@_dtype_options
@_optimize_option
def verify_cmd(model: Path, target_spec: str | None, inputs: Path | None, sequences: int, steps: int,
               seed: int, jobs: int, timeout_s: float, as_json: bool, junit_path: Path | None,
               debug: bool, profile: bool, keep_dir: Path | None, no_budget_check: bool, atol: float | None,
               rtol: float | None, dtype: str, calib_path: Path | None, optimize: str | None) -> None:
    """Generate MODEL's library, run it on each target and compare with the reference executor.

    float32 outputs must agree with the float64 reference within --atol + --rtol * |reference|
    (1e-5 each, numpy.isclose's rule); int8 outputs must equal the integer reference bit for
    bit (calibrated on --calib, else on the inputs)."""
    from rich.progress import Progress

    from dkgen.harness.targets import resolve_targets
    from dkgen.harness.verify import (
        FLOAT_ATOL,
        FLOAT_RTOL,
        file_sha256,
        junit_xml,
        load_inputs,
        verify_model,
    )
    from dkgen.onnx_io.importer import load_onnx

    for opt, tol in (("--atol", atol), ("--rtol", rtol)):
        if tol is not None and dtype == "int8":
            raise DkgenError("int8 is verified bit for bit; a tolerance does not apply", field=opt,
                             fix=f"drop {opt}, or verify the float32 build")
        if tol is not None and not tol >= 0:
            raise DkgenError(f"tolerance {tol} is negative", field=opt,
                             fix=f"pass e.g. {opt} 1e-4, or 0 to drop that part of the bound")
    if atol == 0 and rtol == 0:
        raise DkgenError("a zero tolerance demands float32 equal to the float64 reference",
                         field="--atol", fix="give --atol or --rtol a positive value")
    goal = _optimize(dtype, optimize)
    ir = load_onnx(model)
    targets = resolve_targets(target_spec)
    x = load_inputs(inputs, ir) if inputs is not None else None
    calib = _calibration(ir, dtype, calib_path, required=False)
    if keep_dir is not None and keep_dir.exists() and any(keep_dir.iterdir()):
        raise DkgenError("exists and is not empty", path=keep_dir, fix="choose an empty or new folder")
    if junit_path is not None and junit_path.exists():
        raise DkgenError("exists; refusing to overwrite", path=junit_path, fix="remove it or choose another")
    with Progress(console=_err, transient=True, disable=not _err.is_terminal) as progress:
        task = progress.add_task(f"verifying on {len(targets)} target(s)", total=len(targets))
        report = verify_model(ir, targets, inputs=x, sequences=sequences, steps=steps, seed=seed,
                              jobs=jobs, source=str(model), source_sha256=file_sha256(model),
                              timeout_s=timeout_s, workdir=keep_dir, debug=debug,
                              budget_check=not no_budget_check, dtype=dtype, calib=calib,
                              optimize=goal, profile=profile,
                              atol=FLOAT_ATOL if atol is None else atol,
                              rtol=FLOAT_RTOL if rtol is None else rtol,
                              progress=lambda r: progress.advance(task))
    if junit_path is not None:
        junit_path.write_text(junit_xml(report))
    if as_json:
        _print_json(report.to_json())
    else:
        _console().print(_verify_table(report))
        if profile:
            _console().print(_profile_table(report))
        for t in report.targets:
            if debug and t.first_layer_mismatch:
                click.echo(f"{t.target}: first layer out of tolerance: {t.first_layer_mismatch}")
    sys.exit(0 if report.passed else 1)


@cli.command("bench")
@click.argument("model", type=click.Path(path_type=Path))
@_run_options(timeout_s=300.0)
@click.option("--profile", is_flag=True, help="Also each layer's instructions per step, per form.")
@click.option("--pruned", "pruned_path", type=click.Path(path_type=Path), default=None,
              help="A pruned model you trained (ONNX) to compare with, instead of MODEL's dense "
                   "form pruned to its size.")
@click.option("--pruned-inputs", type=click.Path(path_type=Path), default=None,
              help="With --pruned: its own inputs (.npz with x; also its int8 calibration), when "
                   "they differ from MODEL's (its own embedding).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@_dtype_options
@_optimize_option
def bench_cmd(model: Path, target_spec: str | None, inputs: Path | None, sequences: int, steps: int,
              seed: int, jobs: int, timeout_s: float, profile: bool, pruned_path: Path | None,
              pruned_inputs: Path | None, as_json: bool, dtype: str,
              calib_path: Path | None, optimize: str | None) -> None:
    """Instructions per step, flash and RAM of MODEL's C against its dense form and a pruned
    form of equal size (or the pruned model given), on each target (under QEMU: exact
    instruction counts).

    Every form is also verified against the reference; a count is shown only where it
    passed, and the exit status is 1 if any form failed."""
    from dkgen.harness.compare import compare_model, with_trained_form
    from dkgen.harness.targets import resolve_targets
    from dkgen.harness.verify import load_inputs
    from dkgen.onnx_io.importer import load_onnx

    goal = _optimize(dtype, optimize)
    ir = load_onnx(model)
    if pruned_inputs is not None and pruned_path is None:
        raise DkgenError("--pruned-inputs needs --pruned", field="--pruned-inputs",
                         fix="add --pruned model.onnx, or drop --pruned-inputs")
    forms, own = None, {}
    if pruned_path is not None:
        other = load_onnx(pruned_path)
        try:
            forms = with_trained_form(ir, "pruned", other)
        except ValueError as exc:
            raise DkgenError(str(exc), path=pruned_path, field="--pruned",
                             fix="pass a model with MODEL's input and output") from None
        if pruned_inputs is not None:
            own["pruned"] = load_inputs(pruned_inputs, other)
    targets = resolve_targets(target_spec)
    x = load_inputs(inputs, ir) if inputs is not None else None
    calib = _calibration(ir, dtype, calib_path, required=False)
    with _err.status(f"building and running each form on {len(targets)} target(s)"):
        result = compare_model(ir, targets, inputs=x, sequences=sequences, steps=steps, seed=seed,
                               dtype=dtype, calib=calib, optimize=goal, jobs=jobs, timeout_s=timeout_s,
                               profile=profile, forms=forms, form_inputs=own)
    if as_json:
        _print_json(result.to_json())
    else:
        _console().print(_bench_table(result, model, dtype))
        if profile:
            _console().print(_bench_layer_table(result))
        for form, report in result.reports.items():
            for t in report.targets:
                if not t.passed:
                    click.echo(f"{t.target} {form}: {t.reason.splitlines()[0] if t.reason else 'failed'}")
    sys.exit(0 if result.passed else 1)


def _bench_table(result, model: Path, dtype: str) -> Table:
    table = Table(title=f"dkgen bench {model} ({dtype})")
    for col in ("target", "form", "MACs/step", "instr/step", "instr/MAC", "vs model", "flash (B)",
                "RAM (B)", "fits"):
        table.add_column(col, justify="left" if col in ("target", "form") else "right")
    base = {t.target: t for t in result.reports["model"].targets}
    names = [t.target for t in result.reports["model"].targets]
    for name in names:
        for form, report in result.reports.items():
            t = next(x for x in report.targets if x.target == name)
            macs = int(report.library["macs_per_step"])
            instr = t.instructions_per_step if t.passed else None
            ref = base[name].instructions_per_step if base[name].passed else None
            table.add_row(
                name, form, f"{macs:,}", "-" if instr is None else f"{instr:,.0f}",
                "-" if instr is None else f"{instr / macs:.2f}",
                "-" if instr is None or not ref else f"{instr / ref:.2f}x",
                "-" if t.flash_bytes is None else f"{t.flash_bytes:,}",
                "-" if t.ram_bytes is None else f"{t.ram_bytes:,}",
                {True: "yes", False: "no", None: "-"}[t.fits_budget] if t.passed else "FAIL")
    return table


def _bench_layer_table(result) -> Table:
    forms = list(result.reports)
    table = Table(title="instructions per step, layer by layer")
    for col in ("target", "layer", "op", *forms):
        table.add_column(col, justify="left" if col in ("target", "layer", "op") else "right")
    for i, t in enumerate(result.reports["model"].targets):
        per_form = [report.targets[i].layers for report in result.reports.values()]
        if not all(per_form):
            table.add_row(t.target, "-", "", *("-" for _ in forms))
            continue
        for j, x in enumerate(per_form[0]):
            table.add_row(t.target, x["name"], x["op"],
                          *(f"{layers[j]['instructions']:,.0f}" for layers in per_form))
    return table


@cli.command("compress")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(path_type=Path),
              help="The compressed model (.onnx).")
@click.option("--method", type=click.Choice(["dkp", "kron", "pruned", "lowrank"]), default="dkp",
              show_default=True, help="Structure of each matrix.")
@click.option("--ratio", type=float, required=True, help="Compression of each matrix (e.g. 10).")
@click.option("--dope-share", type=float, default=0.25, show_default=True,
              help="dkp: share of each matrix's budget kept for the dope.")
@click.option("--factor-rule", type=click.Choice(["rank", "macs"]), default="rank", show_default=True,
              help="dkp, kron: between factor splits of equal size, prefer squarer factors or the "
                   "fewest multiply-accumulates.")
@click.option("--kron-order", type=click.IntRange(2, 4), default=2, show_default=True,
              help="dkp, kron: Kronecker factors per matrix. Whatever the order, the factors get "
                   "the largest product that fits the budget less the dope share; 3 or 4 factors "
                   "can be far smaller than 2, so with a large --dope-share (0.9 and up) most of "
                   "the budget goes to the dope (the best 25x DKP on PTB: docs/training.md).")
@click.option("--linear", is_flag=True, help="Compress the linear layers too (not only LSTM/GRU/RNN).")
@click.option("--inputs", type=click.Path(path_type=Path), default=None,
              help=".npz with array x to measure the outputs' change on (default: random inputs "
                   "from the model's input range).")
@click.option("--sequences", default=4, show_default=True, help="Random sequences when no --inputs.")
@click.option("--steps", default=8, show_default=True, help="Timesteps per random sequence.")
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def compress_cmd(model: Path, out_path: Path, method: str, ratio: float, dope_share: float,
                 factor_rule: str, kron_order: int, linear: bool, inputs: Path | None, sequences: int, steps: int,
                 seed: int, force: bool, as_json: bool) -> None:
    """Compress the dense matrices of MODEL after training, without retraining, and write
    the result as ONNX: the nearest Kronecker product plus the largest residual entries as
    its dope (dkp), a Kronecker product alone (kron), magnitude pruning or a truncated SVD.

    Reports each matrix's relative error and how the outputs move on sample inputs. The
    written file goes to `dkgen inspect`, `generate`, `verify` and `bench` like any other;
    to win back accuracy, fine-tune with dkgen.nn (docs/training.md)."""
    from dkgen.harness.verify import load_inputs, make_inputs
    from dkgen.onnx_io.export import save_onnx
    from dkgen.onnx_io.importer import load_onnx
    from dkgen.structure.fit import compress_model, output_change, weight_fits

    if out_path.exists() and not force:
        raise DkgenError("exists; refusing to overwrite", path=out_path, fix="pass --force to replace it")
    if not 0.0 <= dope_share < 1.0:
        raise DkgenError("the dope share must lie in [0, 1)", field="--dope-share", fix="e.g. 0.25")
    dense = load_onnx(model)
    try:
        fitted = compress_model(dense, method, ratio, linear=linear, dope_share=dope_share,
                                factor_rule=factor_rule, order=kron_order)
    except ValueError as exc:
        raise DkgenError(str(exc), path=model, field="--ratio",
                         fix="choose a lower --ratio" + (", a smaller --dope-share" if method == "dkp" else "")
                             + " or another --method") from None
    fits = weight_fits(dense, fitted)
    if not fits:
        raise DkgenError("has no dense matrix to compress", path=model,
                         fix="add --linear to compress linear layers; recurrent layers that "
                             "are structured already are left alone")
    x = load_inputs(inputs, dense) if inputs is not None else make_inputs(dense, sequences, steps, seed)
    change = output_change(dense, fitted, x)
    save_onnx(fitted, out_path, force=force)
    params = {"before": sum(f.dense_params for f in fits), "after": sum(f.params for f in fits)}
    if as_json:
        _print_json({"model": str(model), "out": str(out_path), "method": method, "ratio": ratio,
                     "matrices": [f.to_json() for f in fits], "params": params, "outputs": change})
        return
    table = Table(title=f"dkgen compress {model} --method {method} --ratio {ratio:g}")
    for col in ("layer", "weight", "shape", "structure", "values", "compression", "rel. error"):
        table.add_column(col, justify="left" if col in ("layer", "weight", "structure") else "right")
    for f in fits:
        table.add_row(f.layer, f.role, f"{f.shape[0]}x{f.shape[1]}", f.structure, f"{f.params:,}",
                      f"{f.dense_params / max(f.params, 1):.1f}x", f"{f.rel_error:.3f}")
    _console().print(table)
    click.echo(f"{out_path}: {params['before']:,} -> {params['after']:,} matrix values; outputs on "
               f"{x.shape[0]}x{x.shape[1]} steps moved by at most {change['max_abs']:.3g} "
               f"(mean {change['mean_abs']:.3g}), largest output unchanged in "
               f"{100 * change['top1_agreement']:.1f}% of steps")


@cli.command("example")
@click.argument("which", type=click.Choice(["digits-lstm"]))
@click.option("-o", "--out", "out_path", required=True, type=click.Path(path_type=Path))
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing file.")
def example_cmd(which: str, out_path: Path, seed: int, force: bool) -> None:
    """Train an example DKP model and write it as ONNX (needs the train extra)."""
    from dkgen.examples import build_example

    result = build_example(which, out_path, seed=seed, force=force)
    click.echo(result.summary_line())


@cli.command("demo")
@click.option("-o", "--out", "out_dir", default="demo-out", show_default=True,
              type=click.Path(path_type=Path), help="Folder for the model, library and report.")
@click.option("--seed", default=0, show_default=True)
@click.option("--target", "target_spec", default="host,cortex-m4", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "int8", "both"]), default="both", show_default=True,
              help="Which builds to generate and verify.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def demo_cmd(out_dir: Path, seed: int, target_spec: str, dtype: str, as_json: bool) -> None:
    """Train the digits example, export, generate float32 and int8 C, verify on host and
    Cortex-M4, summarise."""
    from dkgen.demo import DTYPES, run_demo

    dtypes = DTYPES if dtype == "both" else (dtype,)
    summary = run_demo(out_dir, seed=seed, target_spec=target_spec, dtypes=dtypes,
                       console=None if as_json else _console())
    if as_json:
        _print_json(summary.to_json())
    sys.exit(0 if summary.passed else 1)


# Training commands live in their own module (they need the train extra, the rest does not).
cli.add_command(train_group)
cli.add_command(export_cmd)


def main() -> None:
    cli(prog_name="dkgen")


if __name__ == "__main__":
    main()
