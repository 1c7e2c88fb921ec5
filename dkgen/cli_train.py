"""`dkgen train lm` and `dkgen export`: train a (compressed) PTB language model, export it.

Standalone click commands, registered in `dkgen/cli.py` with

    from dkgen.cli_train import export_cmd, train_group
    cli.add_command(train_group)
    cli.add_command(export_cmd)

They also run without it: `python -m dkgen.cli_train train lm ...`, which is the form to
give `torchrun` for data-parallel training:

    torchrun --nproc_per_node=2 -m dkgen.cli_train train lm --data DIR -o RUN_DIR ...
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import click

from dkgen.cli_common import DkgenCommand
from dkgen.errors import DkgenError
from dkgen.train import require_train_extra


def _parse_factors(text: str | None) -> list[list[int]] | None:
    if text is None:
        return None
    parts = [re.fullmatch(r"\s*(\d+)x(\d+)\s*", p) for p in text.split(",")]
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise DkgenError(f"cannot read factor shapes {text!r}", field="--factors",
                         fix="write two to four of them as M1xN1,M2xN2[,M3xN3], e.g. 8x5,100x40")
    return [[int(g) for g in m.groups()] for m in parts if m]


@click.group("train", context_settings={"help_option_names": ["-h", "--help"]})
def train_group() -> None:
    """Train models (needs the train extra)."""


@train_group.command("lm", cls=DkgenCommand)
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt.")
@click.option("-o", "--out", "run_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder (config, checkpoints, metrics); rerunning resumes it.")
@click.option("--size", type=click.Choice(["small", "medium", "tiny"]), default="small",
              show_default=True,
              help="Zaremba et al.'s recipe: small 2x200, medium 2x650 (tiny 2x64: smoke tests).")
@click.option("--method", type=click.Choice(["dense", "dkp", "kp", "pruned", "lmf", "hmd", "small"]),
              default="dense", show_default=True, help="How the LSTM layers are stored.")
@click.option("--ratio", type=float, default=None, help="Compression of the LSTM gate matrices.")
@click.option("--init-from", type=click.Path(path_type=Path), default=None,
              help="A finished dense run to compress (needed by dkp, kp, pruned, lmf, hmd).")
@click.option("--from-scratch", is_flag=True,
              help="Train a compressed method from a random initialisation instead (the dope or "
                   "pruning mask annealed from dense with the recipe's schedule).")
@click.option("--epochs", type=float, default=None, help="Epochs (fractions allowed; default: the recipe's).")
@click.option("--train-fraction", type=float, default=1.0, show_default=True,
              help="Train on this leading fraction of the training text.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd", show_default=True)
@click.option("--lr", type=float, default=None, help="Learning rate (default: the recipe's).")
@click.option("--lr-schedule", type=click.Choice(["zaremba", "constant", "cosine", "hold-cosine"]),
              default="zaremba", show_default=True)
@click.option("--anneal", type=(float, float), default=(0.0, 0.5), show_default=True,
              help="Dope/pruning schedule start and end, as fractions of the run.")
@click.option("--prune-every", type=int, default=20, show_default=True,
              help="Steps between pruning events while annealing.")
@click.option("--mask-scope", type=click.Choice(["matrix", "model"]), default="matrix",
              show_default=True,
              help="dkp, pruned: anneal each gate matrix to its own share of the budget "
                   "(matrix), or all of them to one shared magnitude threshold (model).")
@click.option("--initial-density", type=float, default=1.0, show_default=True,
              help="Dope (dkp) or mask (pruned) density the anneal starts from.")
@click.option("--dope-share", type=float, default=0.25, show_default=True,
              help="dkp: share of the budget kept free for the dope when factor shapes are chosen.")
@click.option("--factors", default=None,
              help="Kronecker factor shapes M1xN1,M2xN2 (dkp, kp); up to four, e.g. "
                   "10x5,10x5,8x8 (see `dkgen train factors --order`).")
@click.option("--factor-rule", type=click.Choice(["rank", "macs"]), default="rank", show_default=True,
              help="dkp, kp without --factors: between splits of equal size, prefer squarer factors "
                   "(rank) or the fewest multiply-accumulates (macs; see `dkgen train factors`).")
@click.option("--factor-lr", type=float, default=1.0, show_default=True,
              help="dkp, kp: the Kronecker factors' learning rate as a multiple of --lr.")
@click.option("--dope-density", type=float, default=None,
              help="dkp: final dope density, if lower than what the factors leave of the budget.")
@click.option("--hmd-dense-share", type=float, default=0.5, show_default=True,
              help="hmd: share of the budget spent on dense rows.")
@click.option("--cmr", type=float, default=0.0, show_default=True, help="Co-matrix dropout rate.")
@click.option("--cmr-mode", type=click.Choice(["off", "entry", "example", "batch"]), default="off",
              show_default=True, help="Drop dope entries, or the whole dope per example / batch.")
@click.option("--cmr-schedule", type=click.Choice(["anneal", "always", "linear"]), default="anneal",
              show_default=True, help="CMR until the anneal ends, always, or decaying to 0 there.")
@click.option("--eval-batch", type=int, default=10, show_default=True)
@click.option("--max-steps", type=int, default=None, help="Stop after this many steps (smoke runs).")
@click.option("--eval-fraction", type=float, default=1.0, show_default=True,
              help="Score only this leading fraction of valid/test (smoke runs).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads (default: torch's; 1 per rank under torchrun).")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when there is one, else CPU), cpu, cuda or cuda:N; one GPU per "
                   "rank under torchrun.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--force", is_flag=True, help="Start over in a folder holding a different run.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
def train_lm_cmd(data: Path, run_dir: Path, size: str, method: str, ratio: float | None,
                 init_from: Path | None, from_scratch: bool, epochs: float | None,
                 train_fraction: float, seed: int,
                 optimizer: str, lr: float | None, lr_schedule: str, anneal: tuple[float, float],
                 prune_every: int, mask_scope: str, initial_density: float, dope_share: float, factors: str | None,
                 factor_rule: str, factor_lr: float, dope_density: float | None, hmd_dense_share: float, cmr: float, cmr_mode: str,
                 cmr_schedule: str, eval_batch: int, max_steps: int | None,
                 eval_fraction: float, threads: int | None, device: str,
                 checkpoint_every: int, force: bool, progress: bool | None, as_json: bool) -> None:
    """Train a word-level LSTM language model; compressed methods fine-tune a dense run
    (or, with --from-scratch, train from a random initialisation).

    Prints valid and test perplexity; RUN_DIR gets config.json, checkpoints, metrics.jsonl,
    result.json and curve.png.  Interrupted runs resume from their last checkpoint.
    """
    require_train_extra()
    import os

    from dkgen.train.lm import RunConfig, train_lm

    config = RunConfig(
        data=str(data.resolve()), size=size, method=method, ratio=ratio,
        init_from=None if init_from is None else str(init_from.resolve()), epochs=epochs,
        train_fraction=train_fraction, seed=seed, optimizer=optimizer, lr=lr,
        lr_schedule=lr_schedule, anneal=anneal, prune_every=prune_every, mask_scope=mask_scope,
        initial_density=initial_density, dope_share=dope_share, factors=_parse_factors(factors),
        factor_rule=factor_rule, factor_lr=factor_lr, hmd_dense_share=hmd_dense_share, cmr=cmr, cmr_mode=cmr_mode, cmr_schedule=cmr_schedule,
        eval_batch=eval_batch, max_steps=max_steps, dope_density=dope_density,
        eval_fraction=eval_fraction, from_scratch=from_scratch)
    main = int(os.environ.get("RANK", "0")) == 0
    result = train_lm(config, run_dir, force=force, threads=threads, device=device,
                      checkpoint_every=checkpoint_every, progress=progress,
                      log=(lambda s: click.echo(s, err=True)) if main else None)
    if not main:
        return
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, default=float))
    else:
        s = result.summary
        click.echo(f"{run_dir}: valid ppl {result.valid_ppl:.2f}, test ppl {result.test_ppl:.2f}, "
                   f"LSTM {s['lstm']['params']:,} params / {s['lstm']['bytes']:,} B "
                   f"({s['lstm']['compression']:.1f}x), {s['wall_seconds'] / 60:.1f} min")


@train_group.command("factors", cls=DkgenCommand)
@click.argument("shape")
@click.option("--ratio", type=float, default=None,
              help="Target compression: lists the splits that fit rows*cols/RATIO values, with "
                   "the dope entries they leave.")
@click.option("--max-values", type=int, default=None,
              help="At most this many values in the factors (e.g. 800 for a 3.5%% dope at 25x).")
@click.option("--dope-share", type=float, default=0.25, show_default=True,
              help="With --ratio: the share of the budget `dkgen train lm` keeps for the dope, "
                   "for marking the splits it picks.")
@click.option("--order", type=click.IntRange(2, 4), default=2, show_default=True,
              help="Number of Kronecker factors (3 or 4 make the smallest products smaller).")
@click.option("--limit", default=20, show_default=True, help="Rows to show.")
@click.option("--json", "as_json", is_flag=True, help="Print every split as one JSON document.")
def factors_cmd(shape: str, ratio: float | None, max_values: int | None, dope_share: float,
                order: int, limit: int, as_json: bool) -> None:
    """Kronecker factor shapes for a ROWSxCOLS matrix: values, multiply-accumulates, rank bound.

    Splits of equal size differ in cost and in what they can express; pass the one you
    choose to `dkgen train lm --factors`.  The last column marks what `dkgen train lm`
    picks by itself under each --factor-rule (with --ratio, for --dope-share).
    """
    require_train_extra()
    from rich.console import Console
    from rich.table import Table

    from dkgen.structure.factors import FACTOR_RULES, factor_options, factor_shapes

    m = re.fullmatch(r"\s*(\d+)x(\d+)\s*", shape)
    if not m or min(int(g) for g in m.groups()) < 1:
        raise DkgenError(f"cannot read the matrix shape {shape!r}", field="SHAPE",
                         fix="write it as ROWSxCOLS, e.g. 800x200")
    rows, cols = (int(g) for g in m.groups())
    if ratio is not None and ratio <= 0:
        raise DkgenError("the compression ratio must be positive", field="--ratio", fix="e.g. --ratio 25")
    budget = None if ratio is None else int(rows * cols // ratio)
    caps = [c for c in (budget, max_values) if c is not None]
    options = factor_options(rows, cols, min(caps) if caps else None, order)
    if not options:
        raise DkgenError(f"no Kronecker split of {rows}x{cols} fits {min(caps)} values",
                         field="--ratio" if budget == min(caps) else "--max-values",
                         fix="lower --ratio or raise --max-values")
    if not 0.0 <= dope_share < 1.0:
        raise DkgenError("the dope share must lie in [0, 1)", field="--dope-share", fix="e.g. 0.25")
    picks = {}  # what `dkgen train lm --method dkp` picks without --factors, by rule
    for rule in FACTOR_RULES:
        if order != 2:
            break  # `dkgen train lm` picks two factors by itself; more only when given
        with contextlib.suppress(ValueError):  # the ratio is out of reach: nothing picked
            picks[rule] = factor_shapes(rows, cols, ratio, dope_share, rule)
    docs = [{"factors": ",".join(f"{m}x{n}" for m, n in o.factors), "values": o.values, "macs": o.macs,
             "rank_bound": o.rank, "default": o.factors == picks.get("rank"),
             "picked_by": [rule for rule, f in picks.items() if f == o.factors],
             **({} if budget is None else {"dope": budget - o.values,
                                           "dope_density": (budget - o.values) / (rows * cols)})}
            for o in options]
    if as_json:
        click.echo(json.dumps(docs, indent=2))
        return
    table = Table(title=f"Kronecker splits of {rows}x{cols}"
                  + ("" if budget is None else f", {ratio:g}x: {budget:,} values"))
    for col in ("--factors", "values", "MACs", "rank ≤", *(() if budget is None else ("dope", "dope %")), ""):
        table.add_column(col, justify="left" if col in ("--factors", "") else "right")
    shown = docs[:limit] + [d for d in docs[limit:] if d["picked_by"]]
    for d in shown:
        table.add_row(d["factors"], f"{d['values']:,}", f"{d['macs']:,}", f"{d['rank_bound']:,}",
                      *(() if budget is None else (f"{d['dope']:,}", f"{100 * d['dope_density']:.2f}")),
                      ("--factor-rule " + " or ".join(d["picked_by"]) + (" (the default)" if d["default"] else ""))
                      if d["picked_by"] else "")
    Console(highlight=False, width=120).print(table)
    if len(docs) > len(shown):
        click.echo(f"... {len(docs) - len(shown)} more (--limit)")


@train_group.command("int8-ppl", cls=DkgenCommand)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True)
@click.option("--which", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--calib-sequences", default=20, show_default=True,
              help="Validation windows the int8 scales are calibrated on.")
@click.option("--calib-steps", default=35, show_default=True, help="Tokens per calibration window.")
@click.option("--max-tokens", type=int, default=None, help="Score only the first N tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
def int8_ppl_cmd(run_dir: Path, split: str, which: str, calib_sequences: int, calib_steps: int,
                 max_tokens: int | None, as_json: bool) -> None:
    """Perplexity of RUN_DIR's model in float and in dkgen's int8 (the C library's arithmetic)."""
    require_train_extra()
    from dkgen.train.quant_eval import int8_perplexity

    res = int8_perplexity(run_dir, which=which, split=split, calib_batch=calib_sequences,
                          calib_steps=calib_steps, max_tokens=max_tokens)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    b = res["lstm_weight_bytes"]
    click.echo(f"{run_dir} ({split}, {res['tokens']:,} tokens): float ppl {res['float_ppl']:.2f}, "
               f"int8 ppl {res['int8_ppl']:.2f} ({res['change_pct']:+.2f}%); LSTM weights "
               f"{b['float32']:,} B float32, {b['int8']:,} B int8")


@click.command("export", cls=DkgenCommand)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="The ONNX file; calibration inputs go to the same name with .npz.")
@click.option("--which", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Best validation checkpoint or the latest one.")
@click.option("--batch", default=8, show_default=True, help="Calibration sequences.")
@click.option("--steps", default=35, show_default=True, help="Tokens per calibration sequence.")
@click.option("--name", default=None, help="Model name (default: lm).")
@click.option("--logits", is_flag=True, help="End with the decoder's logits, no softmax.")
@click.option("--lstm-only", is_flag=True,
              help="Only the LSTM layers: embedding vectors in (x: the windows looked up in the "
                   "run's embedding), the last layer's hidden state out.")
@click.option("--force", is_flag=True, help="Replace existing files.")
def export_cmd(run_dir: Path, out: Path, which: str, batch: int, steps: int, name: str | None,
               logits: bool, lstm_only: bool, force: bool) -> None:
    """Export RUN_DIR's language model to ONNX (compressed weights kept compressed)."""
    require_train_extra()
    from dkgen.train.export import export_run

    if logits and lstm_only:
        raise DkgenError("the LSTM layers alone have no decoder to give logits", field="--logits",
                         fix="drop --logits or --lstm-only")
    res = export_run(run_dir, out, force=force, which=which, batch=batch, steps=steps, name=name,
                     softmax=not logits, lstm_only=lstm_only)
    what = (f"{batch}x{steps} embedding vectors of {res.ir.input.size}" if lstm_only
            else f"{batch}x{steps} token ids")
    click.echo(f"wrote {res.model_path} and {res.data_path} (x: {what}); "
               f"LSTM {res.lstm['params']:,} params, {res.lstm['bytes']:,} B")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """dkgen training commands (standalone entry: python -m dkgen.cli_train)."""


main.add_command(train_group)
main.add_command(export_cmd)

if __name__ == "__main__":
    main()
