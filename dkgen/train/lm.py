"""Word-level LSTM language models (Zaremba et al., 2014) with compressed LSTM layers.

`train_lm(config)` trains one run into a run folder:

    RUN_DIR/config.json     the run's configuration (what a resumed run and `export` rebuild from)
    RUN_DIR/ckpt.pt         latest checkpoint (atomic; state dicts only, loaded weights_only)
    RUN_DIR/best.pt         model state with the best validation perplexity
    RUN_DIR/metrics.jsonl   one JSON object per log interval / evaluation
    RUN_DIR/result.json     the finished run: perplexities, sizes, wall time, revision
    RUN_DIR/curve.png       training curve

Recipes are Zaremba et al.'s non-regularised "small" (2x200, 13 epochs, test 114.5) and
regularised "medium" (2x650, dropout 0.5, 39 epochs, test 82.7): uniform init, SGD at
lr 1 decayed per epoch, gradient norm clipped at 5, truncated BPTT with the hidden state
carried across windows.  A run that starts from a trained dense model (`init_from`)
compresses its LSTM layers with one of `dkgen.train.methods.METHODS` and fine-tunes.

Data parallelism: under `torchrun --nproc_per_node=N` (gloo on CPU) each rank takes an
equal share of the batch's columns, gradients are summed and divided by N, so a step is the
same step a single process takes on the whole batch (up to float summation order).
Every random draw that is not per example (CMR masks, per-example CMR flags drawn for the
whole batch and sliced) comes from the same RNG state on every rank.  Activation dropout
(the medium recipe) draws per rank, so only dropout-free recipes are reproduced exactly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dkgen.errors import DkgenError
from dkgen.fileio import atomic_write
from dkgen.nn.cmr import CMR_MODES, cmr_lstm_forward, draw_keep
from dkgen.nn.matrices import KronMatrix
from dkgen.nn.recurrent import LSTM
from dkgen.nn.schedule import MASK_SCOPES, DopeSchedule, set_cmr
from dkgen.structure.factors import FACTOR_RULES
from dkgen.train.data import Corpus, batchify, load_corpus, windows
from dkgen.train.methods import (
    ANNEALED,
    METHODS,
    check_structure,
    compress_lstm,
    describe,
    lstm_size,
    small_hidden_size,
)

CHECKPOINT = "ckpt.pt"
BEST = "best.pt"
CONFIG = "config.json"
LOG_EVERY = 50  # steps between train records in metrics.jsonl (train_lm's default)
METRICS = "metrics.jsonl"
RESULT = "result.json"
CURVE = "curve.png"


@dataclass(frozen=True)
class Recipe:
    """One of Zaremba et al.'s PTB training recipes."""

    hidden: int
    layers: int
    bptt: int
    batch: int
    dropout: float
    init: float  # uniform(-init, init) for every parameter
    lr: float
    lr_decay: float  # per epoch, from epoch `decay_after` + 1 on
    decay_after: int
    epochs: int
    clip: float
    published_test: float


RECIPES = {
    "small": Recipe(hidden=200, layers=2, bptt=20, batch=20, dropout=0.0, init=0.1, lr=1.0,
                    lr_decay=0.5, decay_after=4, epochs=13, clip=5.0, published_test=114.5),
    # Not a published recipe: a 2x32 model for smoke tests of the whole pipeline.
    "tiny": Recipe(hidden=64, layers=2, bptt=10, batch=10, dropout=0.0, init=0.1, lr=1.0,
                   lr_decay=0.5, decay_after=2, epochs=3, clip=5.0, published_test=math.nan),
    "medium": Recipe(hidden=650, layers=2, bptt=35, batch=20, dropout=0.5, init=0.05, lr=1.0,
                     lr_decay=0.8, decay_after=6, epochs=39, clip=5.0, published_test=82.7),
}

LR_SCHEDULES = ("zaremba", "constant", "cosine", "hold-cosine")
CMR_SCHEDULES = ("anneal", "always", "linear")


@dataclass
class RunConfig:
    """Everything that defines a run; stored as RUN_DIR/config.json.

    epochs: training length in epochs (fractions allowed); None is the recipe's.
    train_fraction: use only the first fraction of the training stream (short runs that
        still see a contiguous text, e.g. for the CMR ablation).
    anneal: (start, end) of the dope / pruning schedule as fractions of the run's steps.
    cmr, cmr_mode, cmr_schedule: co-matrix dropout rate; "entry" drops dope entries,
        "example" / "batch" the whole dope product per example / per batch, "off" none;
        the rate holds until the anneal ends ("anneal"), for the whole run ("always"), or
        decays linearly to 0 at the anneal's end ("linear").
    lr_schedule: "zaremba" (per-epoch decay after `decay_after`), "constant", "cosine" (to 0
        at the last step), or "hold-cosine" (constant until the anneal ends, then cosine).
    dope_density: the dope's final density (dkp); None gives it what the factors leave of
        the ratio's budget.  A smaller density stores less than the budget.
    factor_rule: without `factors`, what decides between Kronecker splits of equal size:
        "rank" (squarer factors) or "macs" (fewest multiply-accumulates; `dkgen.structure.factors`).
    factor_lr: the Kronecker factors' learning rate as a multiple of the run's (dkp, kp).
        Each factor entry scales a whole block of the matrix, so its gradient sums
        thousands of entries' and plain SGD moves it at a rate unrelated to the dope's.
    mask_scope: "matrix" anneals every gate matrix's dope / pruning mask to its own share of
        the budget; "model" lets all of them share one magnitude threshold, so the total is
        the same but a matrix that matters more keeps more entries (dkp, pruned).
    eval_fraction: score only the leading fraction of valid/test (smoke runs only).
    from_scratch: a compressed method trained from a random initialisation instead of
        compressing `init_from`: the structure is fitted to the random dense weights, so
        with `initial_density` 1 the model starts as that dense model and the dope /
        pruning mask is annealed from it (the setting of the DKP papers).
    """

    data: str
    size: str = "small"
    method: str = "dense"
    ratio: float | None = None
    init_from: str | None = None
    epochs: float | None = None
    train_fraction: float = 1.0
    seed: int = 0
    optimizer: str = "sgd"
    lr: float | None = None
    lr_schedule: str = "zaremba"
    anneal: tuple[float, float] = (0.0, 0.5)
    prune_every: int = 20
    mask_scope: str = "matrix"
    initial_density: float = 1.0
    dope_share: float = 0.25
    factors: list[list[int]] | None = None
    factor_rule: str = "rank"
    factor_lr: float = 1.0
    hmd_dense_share: float = 0.5
    cmr: float = 0.0
    cmr_mode: str = "off"
    cmr_schedule: str = "anneal"
    eval_batch: int = 10
    max_steps: int | None = None
    from_scratch: bool = False
    dope_density: float | None = None
    eval_fraction: float = 1.0

    def __post_init__(self) -> None:
        self.anneal = tuple(float(a) for a in self.anneal)  # type: ignore[assignment]
        if self.size not in RECIPES:
            raise DkgenError(f"unknown size {self.size!r}", field="size",
                             fix=f"use one of {', '.join(RECIPES)}")
        if self.method not in METHODS:
            raise DkgenError(f"unknown method {self.method!r}", field="method",
                             fix=f"use one of {', '.join(METHODS)}")
        compressed = self.method not in ("dense", "small")
        if compressed and self.init_from is None and not self.from_scratch:
            raise DkgenError(f"method {self.method} compresses a trained dense model",
                             field="init_from",
                             fix="pass --init-from a finished dense run, or --from-scratch")
        if self.from_scratch and (not compressed or self.init_from is not None):
            raise DkgenError("from_scratch is for a compressed method without init_from",
                             field="from_scratch",
                             fix="drop --from-scratch, or --init-from (one or the other)")
        if self.method != "dense" and not (self.ratio and self.ratio > 0):
            raise DkgenError(f"method {self.method} needs a compression ratio", field="ratio",
                             fix="pass --ratio, e.g. 25")
        if self.dope_density is not None and self.method != "dkp":
            raise DkgenError(f"method {self.method} has no dope", field="dope_density",
                             fix="drop --dope-density, which sets the final dope of dkp")
        if self.mask_scope not in MASK_SCOPES:
            raise DkgenError(f"unknown mask scope {self.mask_scope!r}", field="mask_scope",
                             fix=f"use one of {', '.join(MASK_SCOPES)}")
        if self.mask_scope != "matrix" and self.method not in ANNEALED:
            raise DkgenError(f"method {self.method} has no dope or pruning mask",
                             field="mask_scope", fix="drop --mask-scope, which only dkp and pruned use")
        if self.factor_rule not in FACTOR_RULES:
            raise DkgenError(f"unknown factor rule {self.factor_rule!r}", field="factor_rule",
                             fix=f"use one of {', '.join(FACTOR_RULES)}")
        if not self.factor_lr > 0:
            raise DkgenError("the factors' learning-rate multiple must be positive",
                             field="factor_lr", fix="pass --factor-lr above 0 (1: the run's)")
        # The options of the Kronecker factors, given away from their defaults.
        kron_options = {"factors": self.factors is not None, "factor_rule": self.factor_rule != "rank",
                        "factor_lr": self.factor_lr != 1.0}
        given = [f for f, changed in kron_options.items() if changed]
        if given and self.method not in ("dkp", "kp"):
            flag = "--" + given[0].replace("_", "-")
            raise DkgenError(f"method {self.method} has no Kronecker factors", field=given[0],
                             fix=f"drop {flag}, which only dkp and kp use")
        if self.cmr_mode not in CMR_MODES:
            raise DkgenError(f"unknown CMR mode {self.cmr_mode!r}", field="cmr_mode",
                             fix=f"use one of {', '.join(CMR_MODES)}")
        if self.cmr_schedule not in CMR_SCHEDULES:
            raise DkgenError(f"unknown CMR schedule {self.cmr_schedule!r}", field="cmr_schedule",
                             fix=f"use one of {', '.join(CMR_SCHEDULES)}")
        if not 0.0 <= self.cmr < 1.0:
            raise DkgenError("CMR rate must lie in [0, 1)", field="cmr")
        if self.lr_schedule not in LR_SCHEDULES:
            raise DkgenError(f"unknown lr schedule {self.lr_schedule!r}", field="lr_schedule",
                             fix=f"use one of {', '.join(LR_SCHEDULES)}")
        if self.optimizer not in ("sgd", "adam"):
            raise DkgenError(f"unknown optimizer {self.optimizer!r}", field="optimizer",
                             fix="use sgd or adam")
        if not 0.0 < self.train_fraction <= 1.0:
            raise DkgenError("train_fraction must lie in (0, 1]", field="train_fraction")
        if self.dope_density is not None and not 0.0 <= self.dope_density <= 1.0:
            raise DkgenError("dope_density must lie in [0, 1]", field="dope_density")
        if not 0.0 < self.eval_fraction <= 1.0:
            raise DkgenError("eval_fraction must lie in (0, 1]", field="eval_fraction")
        if self.epochs is not None and not self.epochs > 0:
            raise DkgenError("epochs must be positive", field="epochs",
                             fix="pass --epochs > 0, or leave it out for the recipe's")
        if self.lr is not None and not self.lr > 0:
            raise DkgenError("the learning rate must be positive", field="lr")
        if self.prune_every < 1:
            raise DkgenError("prune_every must be at least 1 step", field="prune_every")
        if not 0.0 < self.initial_density <= 1.0:
            raise DkgenError("initial_density must lie in (0, 1]", field="initial_density",
                             fix="1 starts from dense (the default)")
        if not 0.0 <= self.dope_share < 1.0:
            raise DkgenError("dope_share must lie in [0, 1)", field="dope_share")
        if not 0.0 <= self.hmd_dense_share < 1.0:
            raise DkgenError("hmd_dense_share must lie in [0, 1)", field="hmd_dense_share")
        if self.eval_batch < 1:
            raise DkgenError("eval_batch must be at least 1", field="eval_batch")
        if self.max_steps is not None and self.max_steps < 1:
            raise DkgenError("max_steps must be at least 1", field="max_steps",
                             fix="leave --max-steps out to train the whole run")
        a0, a1 = self.anneal
        if not 0.0 <= a0 < a1 <= 1.0:
            raise DkgenError("anneal must be (start, end) fractions with start < end",
                             field="anneal")
        # Last: the plan needs every setting above to be sane.
        if self.method not in ("dense", "small"):
            # Every gate matrix of these recipes is 4H x H (the embedding is H wide).
            h, ratio = self.recipe.hidden, float(self.ratio)  # ratio > 0: checked above
            try:
                check_structure(self.method, 4 * h, h, ratio, factors=self.factor_shapes,
                                dope_share=self.dope_share,
                                hmd_dense_share=self.hmd_dense_share,
                                factor_rule=self.factor_rule)
            except ValueError as exc:
                fix = (f"the {self.size} recipe's gate matrices are {4 * h}x{h}: factors "
                       f"M1xN1,M2xN2(,M3xN3) need M1*M2(*M3) = {4 * h}, N1*N2(*N3) = {h}, within the ratio's "
                       f"budget of {math.floor(4 * h * h / ratio)} values"
                       if self.factors is not None
                       else "choose a lower --ratio or other structure options")
                field_name = "factors" if self.factors is not None else "ratio"
                raise DkgenError(str(exc), field=field_name, fix=fix) from None

    @property
    def recipe(self) -> Recipe:
        return RECIPES[self.size]

    @property
    def factor_shapes(self) -> tuple[tuple[int, int], ...] | None:
        if self.factors is None:
            return None
        return tuple((int(m), int(n)) for m, n in self.factors)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(doc) - known
        if unknown:
            raise DkgenError(f"unknown config field(s) {sorted(unknown)}", field="config.json")
        return cls(**doc)


class LanguageModel(nn.Module):
    """Embedding -> LSTM (dkgen, structured gate matrices) -> Linear decoder, time-major.

    forward(x (T, B) token ids, hidden) -> logits (T, B, vocab), hidden.  `keep` and
    `cmr_rate` switch on whole-dope co-matrix dropout for this forward (training only).
    """

    def __init__(self, vocab: int, emb_size: int, hidden: int, layers: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, emb_size)
        self.drop = nn.Dropout(dropout)
        # Dropout between the layers is inside the fused kernel, as in Zaremba et al.
        self.rnn = LSTM(emb_size, hidden, layers, dropout=dropout, weight="dense")
        self.decoder = nn.Linear(hidden, vocab)

    def ir_chain(self) -> list[tuple[str, nn.Module]]:
        return [("embed", self.embed), ("lstm", self.rnn), ("decoder", self.decoder)]

    def forward(self, x: Tensor, hidden: tuple[Tensor, Tensor] | None = None,
                keep: Tensor | None = None, cmr_rate: float = 0.0
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        e = self.drop(self.embed(x))
        out, hidden = cmr_lstm_forward(self.rnn, e, hidden, keep, cmr_rate)
        return self.decoder(self.drop(out)), hidden


# ----------------------------------------------------------------------------- building


def build_model(config: RunConfig, vocab: int,
                dense_state: dict[str, Tensor] | None = None) -> LanguageModel:
    """The run's model; compressed runs are fitted to `dense_state` (a dense run's model).

    Without `dense_state` the structure is built from a random dense model (to load a
    checkpoint into): the masks and factor shapes depend only on the config.
    """
    r = config.recipe
    hidden = r.hidden
    if config.method == "small":
        hidden = small_hidden_size(r.hidden, r.hidden, r.layers, float(config.ratio or 1.0))
    model = LanguageModel(vocab, r.hidden, hidden, r.layers, r.dropout)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-r.init, r.init)
    if dense_state is not None:
        if config.method == "small":
            # Only the embedding fits a smaller model; the LSTM and decoder start afresh.
            model.embed.weight.data.copy_(dense_state["embed.weight"])
        else:
            model.load_state_dict(dense_state)
    if config.method not in ("dense", "small"):
        model.rnn = compress_lstm(model.rnn, config.method, config.ratio,
                                  factors=config.factor_shapes, dope_share=config.dope_share,
                                  dope_density=config.dope_density,
                                  initial_density=config.initial_density,
                                  hmd_dense_share=config.hmd_dense_share,
                                  factor_rule=config.factor_rule)
    return model


def load_state(path: Path) -> dict:
    """A checkpoint written by this module; never unpickles code (weights_only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: name it, not a traceback
        raise DkgenError(f"not a readable dkgen checkpoint ({exc})", path=path) from None


def _atomic_save(obj: object, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def read_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise DkgenError("not a dkgen run folder (no config.json)", path=run_dir)
    return RunConfig.from_json(json.loads(path.read_text()))


def load_run_model(run_dir: str | Path, which: str = "best") -> tuple[LanguageModel, RunConfig,
                                                                      Corpus]:
    """The trained model of a finished (or interrupted) run, in eval mode."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    corpus = load_corpus(config.data)
    model = build_model(config, corpus.vocab_size)
    path = run_dir / (BEST if which == "best" and (run_dir / BEST).is_file() else CHECKPOINT)
    if not path.is_file():
        raise DkgenError("no checkpoint yet", path=run_dir, fix="train the run first")
    state = load_state(path)
    model.load_state_dict(state["model"])
    return model.eval(), config, corpus


def git_revision(cwd: Path | None = None) -> str:
    """The source revision (with '+dirty' when the tree has changes), $DKGEN_REVISION when
    set, or 'unknown'."""
    cwd = cwd or Path(__file__).resolve().parent
    if os.environ.get("DKGEN_REVISION"):
        # A copied tree without its .git (a lent GPU machine): the caller names the revision.
        return os.environ["DKGEN_REVISION"]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, text=True,
                             capture_output=True, check=True, timeout=10).stdout.strip()
        # Changes to the outputs (results/, which `make paper` rewrites while its later
        # runs start) do not make the code dirty.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":/", ":(exclude,top)results"], cwd=cwd, text=True,
                               capture_output=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ----------------------------------------------------------------------------- parallel


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce_(self, t: Tensor) -> Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t)
        return t

    def gather_batch(self, t: Tensor, dim: int) -> Tensor:
        """Concatenate every rank's shard of `t` along `dim` (the batch)."""
        if self.world == 1:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        torch.distributed.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def resolve_device(device: str | None) -> torch.device:
    """The device a run trains on: "auto" (or None) is CUDA when there is one, else CPU.

    Under torchrun every rank takes the GPU of its LOCAL_RANK, so "cuda" means one GPU per
    rank.  Asking for CUDA where torch has none is an error, not a silent CPU run.
    """
    name = (device or "auto").lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DkgenError(f"device {device!r} asked for, but this torch ({torch.__version__}) "
                             "sees no CUDA GPU", field="device",
                             fix="use --device cpu, or a CUDA build of torch on a GPU machine")
        if name == "cuda":
            rank, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
            if rank >= count:
                raise DkgenError(f"rank {rank} has no GPU of its own ({count} visible)",
                                 field="device", fix=f"run at most {count} rank(s) per node")
            name = f"cuda:{rank}"
    try:
        return torch.device(name)
    except RuntimeError:
        raise DkgenError(f"unknown device {device!r}", field="device",
                         fix="use auto, cpu, cuda or cuda:N") from None


def _init_dist(device: torch.device | None = None) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        # NCCL all-reduces GPU tensors in place; gloo is the CPU transport.
        cuda = device is not None and device.type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size())


def _shard(batch: int, dist: _Dist) -> tuple[int, int]:
    if batch % dist.world:
        raise DkgenError(f"batch size {batch} does not split over {dist.world} processes",
                         fix="use a process count that divides the batch size")
    local = batch // dist.world
    return dist.rank * local, local


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: LanguageModel, ids: np.ndarray, batch: int, bptt: int,
             dist: _Dist | None = None) -> float:
    """Perplexity of `model` on a token stream (1-D ids), hidden state carried across windows.

    Under data parallelism each rank scores its columns and the sums are combined.
    """
    dist = dist or _Dist()
    device = next(model.parameters()).device
    data = batchify(ids, batch)
    start, local = _shard(batch, dist)
    data = data[:, start:start + local].to(device)
    was_training = model.training
    model.eval()
    hidden = None
    # Summed on the model's device: NCCL reduces only GPU tensors, and reading each
    # window's loss back would stall a GPU every window.
    total = torch.zeros(2, dtype=torch.float64, device=device)
    for i, n in windows(data.size(0), bptt):
        logits, hidden = model(data[i:i + n], hidden)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), data[i + 1:i + 1 + n].reshape(-1),
                               reduction="sum")
        total[0] += loss.double()
        total[1] += n * local
    model.train(was_training)
    dist.all_reduce_(total)
    return math.exp(float(total[0] / total[1]))


# ----------------------------------------------------------------------------- schedules


def lr_at(config: RunConfig, step: int, total: int, steps_per_epoch: int) -> float:
    """Learning rate for optimiser step `step` (0-based) of `total`."""
    r = config.recipe
    base = config.lr if config.lr is not None else r.lr
    if config.lr_schedule == "constant":
        return base
    if config.lr_schedule == "zaremba":
        epoch = step // steps_per_epoch
        return base * r.lr_decay ** max(epoch + 1 - r.decay_after, 0)
    hold = int(config.anneal[1] * total) if config.lr_schedule == "hold-cosine" else 0
    if step < hold:
        return base
    frac = (step - hold) / max(1, total - hold)
    return base * 0.5 * (1.0 + math.cos(math.pi * frac))


def cmr_rate_at(config: RunConfig, step: int, total: int) -> float:
    """Co-matrix dropout rate at step `step` (0 when CMR is off)."""
    if config.cmr_mode == "off" or config.cmr <= 0.0:
        return 0.0
    end = int(config.anneal[1] * total)
    if config.cmr_schedule == "always":
        return config.cmr
    if step >= end:
        return 0.0
    if config.cmr_schedule == "linear":
        return config.cmr * (1.0 - step / max(1, end))
    return config.cmr


# ----------------------------------------------------------------------------- training


@dataclass
class RunResult:
    run_dir: Path
    valid_ppl: float
    test_ppl: float
    summary: dict = field(default_factory=dict)


def _append_metrics(path: Path, record: dict) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def _make_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    lr = config.lr if config.lr is not None else config.recipe.lr
    factors = {id(p) for m in model.modules() if isinstance(m, KronMatrix)
               for p in m.factor_params()}
    # "lr_scale" rides in the param group (and its checkpoint): the schedule sets each
    # group's lr to the scheduled one times its scale.
    groups = [{"params": [p for p in model.parameters() if id(p) not in factors],
               "lr_scale": 1.0}]
    if factors:
        groups.append({"params": [p for p in model.parameters() if id(p) in factors],
                       "lr_scale": config.factor_lr})
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _eval_ids(corpus: Corpus, split: str, config: RunConfig) -> np.ndarray:
    """The tokens of `split` a run is scored on (a leading `eval_fraction` of them, enough
    for two rows of the eval batch at least)."""
    ids = corpus.split(split)
    return ids[: max(2 * config.eval_batch + 2, int(len(ids) * config.eval_fraction))]


def _check_inputs(config: RunConfig, corpus: Corpus) -> None:
    """The corpus is long enough for the run, and the dense run to compress exists (what
    RunConfig cannot check alone)."""
    r = config.recipe
    train = int(len(corpus.train) * config.train_fraction)
    if train // r.batch < 2:
        raise DkgenError(f"{train} training tokens are too few for the {config.size} recipe's "
                         f"batch of {r.batch}", field="train_fraction",
                         fix=f"use at least {2 * r.batch} tokens of training text")
    for split in ("valid", "test"):
        if len(_eval_ids(corpus, split, config)) // config.eval_batch < 2:
            raise DkgenError(f"the {split} split is too short for eval_batch "
                             f"{config.eval_batch}", field="eval_batch",
                             fix="pass a smaller --eval-batch, or a longer split")
    if config.init_from is not None:
        src = Path(config.init_from)
        if not (src / BEST).is_file() and not src.is_file():
            raise DkgenError("no finished dense run here (no best.pt)", path=src,
                             field="init_from",
                             fix="pass --init-from the folder of a finished dense run")


def prepare_run(config: RunConfig, run_dir: str | Path, *, force: bool = False) -> Path:
    """Create the run folder with its config, or check an existing one matches (resume)."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if path.is_file():
        existing = read_config(run_dir)
        if existing.to_json() != config.to_json() and not force:
            diff = sorted(k for k, v in config.to_json().items() if existing.to_json()[k] != v)
            raise DkgenError(f"holds a run with a different configuration ({', '.join(diff)})",
                             path=run_dir, fix="use another folder, or --force to start over")
        if existing.to_json() == config.to_json():
            return run_dir
        for name in (CHECKPOINT, BEST, METRICS, RESULT, CURVE):
            (run_dir / name).unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, json.dumps(config.to_json(), indent=2) + "\n")
    return run_dir


def train_lm(config: RunConfig, run_dir: str | Path, *, force: bool = False,
             threads: int | None = None, log_every: int = LOG_EVERY, checkpoint_every: int = 500,
             progress: bool | None = None, plot: bool = True,
             log: Callable[[str], None] | None = None, device: str | None = None) -> RunResult:
    """Train (or resume, or just report) one run; see the module docstring.

    A finished run (result.json present) is not retrained.  `threads`: torch threads
    (default: torch's, or 1 per process under data parallelism).  `checkpoint_every` steps
    a checkpoint is written (and at every epoch's end).  `progress` shows a tqdm bar
    (default: when stderr is a terminal); `log` gets a line at the start and one per
    evaluation.  `plot` draws curve.png at the end.  `device`: see `resolve_device`
    (default: CUDA when there is one); it is how a run is executed, not part of its config,
    so a run may resume on another device (the numbers then differ in the last bits).
    """
    if checkpoint_every < 1:
        raise DkgenError("checkpoint_every must be at least 1 step", field="checkpoint_every")
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist = _init_dist(dev)
    run_dir = Path(run_dir)
    corpus = None
    if not (run_dir / RESULT).is_file():
        # Read, and checked against the run, before the run folder is written.
        corpus = load_corpus(config.data)
        if dist.main:
            _check_inputs(config, corpus)
    if dist.main:
        prepare_run(config, run_dir, force=force)
    dist.barrier()
    done = run_dir / RESULT
    if done.is_file():
        summary = json.loads(done.read_text())
        return RunResult(run_dir, summary["valid_ppl"], summary["test_ppl"], summary)
    assert corpus is not None  # read above: the run was not finished
    threads = threads if threads else (1 if dist.world > 1 else None)
    with _threads(threads):
        return _train(config, corpus, run_dir, dist, progress, log or (lambda s: None),
                      log_every, checkpoint_every, plot, dev)


def _train(config: RunConfig, corpus: Corpus, run_dir: Path, dist: _Dist,
           progress: bool | None, log: Callable[[str], None], log_every: int,
           checkpoint_every: int, plot: bool, device: torch.device) -> RunResult:
    r = config.recipe
    # Read when training starts: the code a process runs is the code it imported then,
    # whatever is committed before it ends.
    revision = git_revision()
    torch.manual_seed(config.seed)
    dense_state = None
    if config.init_from is not None:
        src = Path(config.init_from)
        dense_state = load_state(src / BEST if (src / BEST).is_file() else src)["model"]
    ckpt_path = run_dir / CHECKPOINT
    resume = load_state(ckpt_path) if ckpt_path.is_file() else None
    # Fitting a compressed model to the dense one only matters on a fresh start; a resumed
    # run loads every value (masks included) from its checkpoint.
    # Built (and fitted to the dense model) on the CPU, where the masks and factor shapes
    # are drawn, then moved: the structure does not depend on the device.
    model = build_model(config, corpus.vocab_size, None if resume else dense_state).to(device)
    train_ids = corpus.train[: int(len(corpus.train) * config.train_fraction)]
    data = batchify(train_ids, r.batch)
    start_col, local = _shard(r.batch, dist)
    data = data[:, start_col:start_col + local].to(device)
    wins = windows(data.size(0), r.bptt)
    steps_per_epoch = len(wins)
    epochs = config.epochs if config.epochs is not None else float(r.epochs)
    total = max(1, int(round(epochs * steps_per_epoch)))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    schedule = None
    if config.method in ANNEALED:
        a0, a1 = config.anneal
        start, end = int(a0 * total), max(int(a0 * total) + 1, int(a1 * total))
        schedule = DopeSchedule(model, start=start, end=end,
                                frequency=max(1, min(config.prune_every, end - start)),
                                scope=config.mask_scope)
    opt = _make_optimizer(config, model)
    step, best_valid, elapsed, hidden = 0, math.inf, 0.0, None
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        step, best_valid, elapsed = int(resume["step"]), float(resume["best_valid"]), float(resume["elapsed"])
        torch.set_rng_state(resume["rng"])
        if device.type == "cuda" and resume.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        if resume.get("hidden") is not None:
            h, c = resume["hidden"]
            hidden = (h[:, start_col:start_col + local].to(device).contiguous(),
                      c[:, start_col:start_col + local].to(device).contiguous())
        if schedule is not None:
            schedule.finished = step >= schedule.end
        log(f"{run_dir.name}: resumed at step {step}/{total}")
    else:
        log(f"{run_dir.name}: starting, {total} steps on {device}")
    model.train()
    metrics_path = run_dir / METRICS
    params = [p for p in model.parameters()]

    def save_checkpoint() -> None:
        # Every rank takes part (the hidden state is gathered); rank 0 writes.
        full_hidden = None
        if hidden is not None:
            full_hidden = [dist.gather_batch(hidden[0], 1).cpu(),
                           dist.gather_batch(hidden[1], 1).cpu()]
        if dist.main:
            _atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                          "step": step, "best_valid": best_valid,
                          "elapsed": elapsed + (time.perf_counter() - t0),
                          "rng": torch.get_rng_state(), "hidden": full_hidden,
                          # Dropout and CMR masks on a GPU draw from its own generator.
                          "cuda_rng": torch.cuda.get_rng_state(device)
                          if device.type == "cuda" else None}, ckpt_path)
        dist.barrier()

    def evaluate_and_log(split: str) -> float:
        ppl = evaluate(model, _eval_ids(corpus, split, config), config.eval_batch, r.bptt,
                       dist)
        if dist.main:
            rec = {"event": split, "step": step, "epoch": step / steps_per_epoch, "ppl": ppl,
                   "elapsed": elapsed + (time.perf_counter() - t0)}
            _append_metrics(metrics_path, rec)
            log(f"{run_dir.name}: step {step}/{total} epoch {step / steps_per_epoch:.2f} "
                f"{split} ppl {ppl:.2f}")
        return ppl

    bar = None
    if dist.main:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=run_dir.name, unit="step", mininterval=2.0,
                   disable=(not sys.stderr.isatty()) if progress is None else not progress,
                   dynamic_ncols=True)
    t0 = time.perf_counter()
    # (token-weighted loss, tokens) since the last log line, kept on the device: the loss is
    # read back only every `log_every` steps, so a GPU never waits for the host in between.
    loss_sum = torch.zeros(2, dtype=torch.float64, device=device)
    while step < total:
        pos = step % steps_per_epoch
        if pos == 0:
            hidden = None  # a new epoch starts the text again
        i, n = wins[pos]
        x, y = data[i:i + n], data[i + 1:i + 1 + n]
        lr = lr_at(config, step, total, steps_per_epoch)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        rate = cmr_rate_at(config, step, total)
        keep = None
        if config.cmr_mode == "entry":
            set_cmr(model, rate)
        elif config.cmr_mode in ("example", "batch") and rate > 0.0:
            keep = draw_keep(rate, config.cmr_mode, r.batch, start_col, local).to(device)
        if hidden is not None:
            hidden = (hidden[0].detach(), hidden[1].detach())
        logits, hidden = model(x, hidden, keep, rate)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=False)
        # Zaremba et al. sum the loss over the window's timesteps (mean over the batch):
        # the recipe's lr 1 and clip 5 are tuned for that scale, n times the token mean.
        (loss * n).backward()
        if dist.world > 1:
            # One all-reduce for every gradient and the loss: the mean over the whole batch.
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            flat = torch.cat([g.reshape(-1) for g in grads] + [loss.detach().reshape(1)])
            dist.all_reduce_(flat)
            flat /= dist.world
            offset = 0
            for p in params:
                p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
                offset += p.numel()
            loss_value = flat[-1]
        else:
            loss_value = loss.detach()
        torch.nn.utils.clip_grad_norm_(params, r.clip)
        opt.step()
        step += 1
        if schedule is not None:
            schedule.step(step)
        loss_sum[0] += loss_value.double() * n
        loss_sum[1] += n
        if bar is not None:
            bar.update(1)
        if step % log_every == 0 or step == total:
            train_loss = float(loss_sum[0] / loss_sum[1])  # the one host read per log line
            loss_sum.zero_()
            if dist.main:
                rec = {"event": "train", "step": step, "epoch": step / steps_per_epoch,
                       "loss": train_loss, "ppl": math.exp(min(train_loss, 50.0)), "lr": lr,
                       "cmr": rate, "elapsed": elapsed + (time.perf_counter() - t0)}
                if schedule is not None:
                    rec["density"] = schedule.density_at(step)
                _append_metrics(metrics_path, rec)
                if bar is not None:
                    bar.set_postfix(ppl=f"{rec['ppl']:.1f}", lr=f"{lr:.3g}")
        end_of_epoch = step % steps_per_epoch == 0 or step == total
        if end_of_epoch:
            # Compare only models in their final structure (masks at the target density).
            valid = evaluate_and_log("valid")
            final_structure = schedule is None or schedule.finished
            if final_structure and valid < best_valid:
                best_valid = valid
                if dist.main:
                    _atomic_save({"model": model.state_dict(), "step": step, "valid_ppl": valid},
                                 run_dir / BEST)
                dist.barrier()
            save_checkpoint()
        elif step % checkpoint_every == 0:
            save_checkpoint()
    if bar is not None:
        bar.close()
    if schedule is not None:
        schedule.finish()
    set_cmr(model, 0.0)
    wall = elapsed + (time.perf_counter() - t0)
    best = load_state(run_dir / BEST) if (run_dir / BEST).is_file() else None
    if best is not None:
        model.load_state_dict(best["model"])
        valid_ppl = float(best["valid_ppl"])
    else:
        valid_ppl = evaluate(model, _eval_ids(corpus, "valid", config), config.eval_batch,
                             r.bptt, dist)
    test_ppl = evaluate(model, _eval_ids(corpus, "test", config), config.eval_batch, r.bptt,
                        dist)
    size = lstm_size(model.rnn)
    summary = {
        "run": run_dir.name, "method": config.method, "ratio": config.ratio,
        "size": config.size, "valid_ppl": valid_ppl, "test_ppl": test_ppl,
        "best_step": None if best is None else int(best["step"]), "steps": step,
        "epochs": step / steps_per_epoch, "wall_seconds": wall, "lstm": size,
        "hidden": model.rnn.hidden_size, "matrices": describe(model.rnn),
        "world_size": dist.world, "threads": torch.get_num_threads(), "device": str(device),
        "revision": revision, "torch": torch.__version__, "seed": config.seed,
        "config": config.to_json(),
    }
    if dist.main:
        _append_metrics(metrics_path, {"event": "test", "step": step, "ppl": test_ppl,
                                       "valid_ppl": valid_ppl, "elapsed": wall})
        try:
            if plot:
                plot_curve(run_dir)
        except Exception as exc:  # a plot is a nicety; never lose a finished run to it
            log(f"{run_dir.name}: no curve ({exc})")
        _atomic_write_text(run_dir / RESULT, json.dumps(summary, indent=2) + "\n")
        log(f"{run_dir.name}: valid {valid_ppl:.2f} test {test_ppl:.2f} "
            f"({size['params']} LSTM params, {wall / 60:.1f} min)")
    dist.barrier()
    return RunResult(run_dir, valid_ppl, test_ppl, summary)


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The run's metric records; a step logged twice (resume) keeps its last record."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    records: dict[tuple[str, int], dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            records[(rec["event"], rec["step"])] = rec
    return sorted(records.values(), key=lambda r: (r["step"], r["event"]))


def plot_curve(run_dir: str | Path) -> Path:
    """curve.png: training and validation perplexity against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    recs = read_metrics(run_dir)
    fig, ax = plt.subplots(figsize=(6, 4))
    for event, style in (("train", "-"), ("valid", "o-")):
        pts = [(r["epoch"], r["ppl"]) for r in recs if r["event"] == event]
        if pts:
            ax.plot(*zip(*pts, strict=True), style, label=event, markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    ax.set_title(run_dir.name)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = run_dir / CURVE
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
