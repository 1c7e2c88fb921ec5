"""`make paper`: the DKP-vs-baselines comparison on PTB, resumable, on a 2-core CPU.

What it runs (each a `dkgen.train.lm` run folder under RUNS_DIR; see docs/training.md):

1. `baseline`: Zaremba et al.'s small recipe (2x200 LSTM, 13 epochs), alone on every core:
   one process with a thread a core (or `baseline_procs` data-parallel ranks).
2. Every method at 25x on the LSTM layers, each fine-tuned from the baseline for the same
   `FINETUNE` budget (1 epoch, SGD lr 1 with a cosine decay; dope/pruning annealed over the
   first half, all gate matrices to one magnitude threshold, `MASK_SCOPE`): dense (the
   control), kp, pruned, lmf, hmd; and `small`, a dense LSTM with the same parameter budget
   trained from scratch with the baseline's recipe.
3. The CMR ablation at 25x (`ABLATION`, a quarter epoch each): the budget moved between the
   Kronecker factors and the dope (from the smallest product of three factors and the
   smallest of two, a dope of a few percent, to the largest that fit, then a dope below
   the budget), each without CMR, with entry-wise CMR and with per-example whole-dope CMR.
4. DKP at 25x with the ablation's best configuration (lowest validation perplexity among
   the exact-25x points), and at 10x and 50x with the same CMR and factor share; and DKP
   at 25x with the smallest product of three factors (`dkp-25-3f`), without CMR.
5. With `scratch`: DKP and pruning at 25x trained from scratch with the baseline's recipe,
   beside the baseline (the DKP papers' setting; too long for 2 cores, a GPU's job).

Finished runs (result.json) are skipped and interrupted ones resume from their checkpoint,
so an interrupted `make paper` picks up where it stopped.  A finished run whose
configuration is no longer what the plan makes (the ablation chose another DKP, say) is
trained again.  After every finished run the
results are rewritten: OUT/results.json, OUT/table.md, OUT/pareto.png.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from dkgen.codegen.pack import KRON_ORDER_XBT, kron_multi_forms
from dkgen.errors import DkgenError
from dkgen.structure.factors import _candidates, factor_options, factor_shapes
from dkgen.train.data import load_corpus
from dkgen.train.lm import (
    CONFIG,
    RECIPES,
    RESULT,
    RunConfig,
    git_revision,
    prepare_run,
    read_config,
    read_metrics,
    resolve_device,
    train_lm,
)
from dkgen.train.methods import ANNEALED, dense_lstm_weights
from dkgen.train.supervise import RunPool

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SEED = 0
RATIO = 25.0
CMR_RATE = 0.3
CMR_FORMS = ("off", "entry", "example")
# The fine-tuning budget every compressed model gets, and the shorter one of the ablation.
FINETUNE = {"epochs": 1.0, "optimizer": "sgd", "lr": 1.0, "lr_schedule": "cosine",
            "anneal": (0.0, 0.5), "prune_every": 20}
# The dope (dkp) and pruning masks of all gate matrices share one magnitude threshold: on PTB
# small it gives both methods 2-2.5 points of perplexity over a threshold per matrix
# (results/ptb-small-mask-scope/).
MASK_SCOPE = "model"
# A quarter epoch keeps `make paper` near two hours on 2 cores (half an epoch: ~2 h 20 min).
ABLATION = {**FINETUNE, "epochs": 0.25}
# Shares of the 25x budget given to the Kronecker factors in the ablation (the nearest
# available factor shapes are used), and the dope density of the below-budget point.
KP_SHARES = (0.0, 0.63, 1.0)
LOW_DOPE = 0.0025
MAIN_METHODS = ("dense", "kp", "pruned", "lmf", "hmd", "small")
LABELS = {"baseline": "dense baseline", "dense": "dense, fine-tuned as long", "dkp": "DKP",
          "dkp-3f": "DKP, three factors", "kp": "KP (no dope)", "pruned": "magnitude pruning", "lmf": "low-rank (LMF)",
          "hmd": "HMD", "small": "small dense LSTM", "dkp-scratch": "DKP from scratch",
          "pruned-scratch": "pruning from scratch"}


@dataclass
class Job:
    """One run of the paper; `make` builds its config once its dependencies are done."""

    name: str
    group: str  # "baseline", "main" or "ablation"
    make: Callable[[dict[str, dict]], RunConfig]
    deps: tuple[str, ...] = ()
    slots: int = 1  # cores it holds while it runs
    procs: int = 1  # data-parallel ranks, sharing those cores
    meta: dict = field(default_factory=dict)


def smallest_three_factors(rows: int, cols: int) -> tuple[tuple[int, int], ...]:
    """The smallest product of three factors for a (rows, cols) matrix: of those storing the
    fewest values, the highest rank bound, then the fewest multiply-accumulates of its int8
    form (`kron_multi_forms`, the cheaper of its two; on a tie the one with the first factor
    in front), then the factors in ascending size.  For 800x200: (10,5)⊗(10,5)⊗(8,8), 164
    values; for 2600x650: (25,5)⊗(8,13)⊗(13,10), 359 values, 23,400 MACs."""
    options = factor_options(rows, cols, order=3)
    least = min(o.values for o in options)

    def int8_macs(factors: tuple[tuple[int, int], ...]) -> tuple[int, int]:
        forms = kron_multi_forms(factors)
        return min(forms.values()), forms[KRON_ORDER_XBT]

    return min((o for o in options if o.values == least),
               key=lambda o: (-o.rank, int8_macs(o.factors), [m * n for m, n in o.factors], o.factors)).factors


def ablation_points(hidden: int, emb: int, ratio: float = RATIO) -> list[dict]:
    """Factor shapes / dope densities of the ablation for 4H x in gate matrices.

    All LSTM matrices of the recipes are (4H, H) since the embedding width is H.  The
    first point is the smallest product of three factors (the most dope; at 25x on PTB
    small the best DKP measured, results/ptb-small-three-factors/), then two-factor splits
    from the smallest to the largest that fits.
    """
    rows, cols = 4 * hidden, emb
    budget = math.floor(rows * cols / ratio)
    fits = {}
    for key, f in _candidates(rows, cols):
        if key[0] <= budget and key[0] not in fits:
            fits[key[0]] = f
    counts = sorted(fits)
    points, seen = [], set()
    three = smallest_three_factors(rows, cols)
    n3 = sum(m * n for m, n in three)
    if n3 < counts[0]:
        points.append({"factors": [list(f) for f in three], "kp_params": n3,
                       "dope_density": (budget - n3) / (rows * cols), "exact_budget": True})
    for share in KP_SHARES:
        n = min(counts, key=lambda c: (abs(c - share * budget), c))
        if n in seen:
            continue
        seen.add(n)
        points.append({"factors": [list(fits[n][0]), list(fits[n][1])], "kp_params": n,
                       "dope_density": (budget - n) / (rows * cols), "exact_budget": True})
    top = points[-1]
    if top["dope_density"] > LOW_DOPE:
        points.append({**top, "dope_density": LOW_DOPE, "exact_budget": False})
    return points


def _point_name(p: dict, form: str) -> str:
    return f"abl-{100 * p['dope_density']:.2f}pct-{form}"


def plan(data: Path, runs_dir: Path, *, size: str = "small", quick: bool = False,
         baseline_slots: int = 2, baseline_procs: int = 1, train_fraction: float = 1.0,
         eval_fraction: float = 1.0, seed: int = SEED, scratch: bool = False) -> list[Job]:
    """The paper's runs, in the order they should start.

    scratch: also train DKP and pruning at 25x from scratch with the baseline's recipe, the
    dope / pruning mask annealed from dense over the first half (the paper's setting; the
    DKP with the smallest factors, the ablation's choice on PTB small). Off by default: on
    2 cores they add about two hours (measured: 1 h 56 min, the two runs side by side).
    """
    r = RECIPES[size]
    common = {"data": str(data), "size": size, "seed": seed}
    if quick:
        common.update(train_fraction=train_fraction, eval_fraction=eval_fraction)
    base_epochs = 2.0 if quick else None
    base_dir = str(runs_dir / "baseline")

    def ft(method: str, **over: object) -> dict:
        scope = {"mask_scope": MASK_SCOPE} if method in ANNEALED else {}
        return {**common, **FINETUNE, "init_from": base_dir, "method": method, **scope, **over}

    jobs = [Job("baseline", "baseline",
                lambda _: RunConfig(**common, method="dense", epochs=base_epochs),
                slots=max(baseline_slots, baseline_procs), procs=baseline_procs)]
    # The long from-scratch runs first, so they do not end up alone at the end.
    jobs.append(Job("small-25", "main", lambda _: RunConfig(
        **common, method="small", ratio=RATIO, epochs=base_epochs), meta={"label": "small"}))
    points = ablation_points(r.hidden, r.hidden)
    # From scratch: the smallest two-factor split (what results/ptb-small-scratch/ measured).
    two = next(p for p in points if len(p["factors"]) == 2)
    scratch_runs = {"dkp": {"factors": two["factors"]}, "pruned": {}} if scratch else {}
    for m, extra in scratch_runs.items():
        jobs.append(Job(f"{m}-25-scratch", "main", lambda _, m=m, extra=extra: RunConfig(
            **common, method=m, ratio=RATIO, epochs=base_epochs, from_scratch=True,
            mask_scope=MASK_SCOPE, **extra),
            meta={"label": f"{m}-scratch"}))
    for p in points:
        for form in CMR_FORMS:
            cmr = {"cmr": 0.0, "cmr_mode": "off"} if form == "off" else \
                  {"cmr": CMR_RATE, "cmr_mode": form}
            extra = {} if p["exact_budget"] else {"dope_density": p["dope_density"]}
            jobs.append(Job(
                _point_name(p, form), "ablation",
                lambda _, p=p, cmr=cmr, extra=extra: RunConfig(
                    **{**ft("dkp"), **ABLATION}, ratio=RATIO, factors=p["factors"],
                    **cmr, **extra),
                deps=("baseline",), meta={**p, "cmr_form": form}))
    for m in MAIN_METHODS:
        if m == "small":
            continue
        jobs.append(Job(f"{m}-25" if m != "dense" else "dense-ft", "main",
                        lambda _, m=m: RunConfig(**ft(m), ratio=None if m == "dense" else RATIO),
                        deps=("baseline",), meta={"label": m}))
    abl_names = tuple(j.name for j in jobs if j.group == "ablation")
    exact = {j.name: j.meta for j in jobs if j.group == "ablation" and j.meta["exact_budget"]}

    def best_ablation(done: dict[str, dict]) -> tuple[dict, dict]:
        name = min(exact, key=lambda n: (done[n]["valid_ppl"], n))
        return exact[name], done[name]["config"]

    def dkp(ratio: float) -> Callable[[dict[str, dict]], RunConfig]:
        def make(done: dict[str, dict]) -> RunConfig:
            point, cfg = best_ablation(done)
            cmr = {"cmr": cfg["cmr"], "cmr_mode": cfg["cmr_mode"]}
            if ratio == RATIO:
                return RunConfig(**ft("dkp"), ratio=ratio, factors=point["factors"], **cmr)
            # The same split of the budget between factors and dope, with as many factors,
            # at another ratio; the smallest such factors when that split has none that fit.
            rows, cols = 4 * r.hidden, r.hidden
            order = len(point["factors"])
            kp_share = point["kp_params"] / math.floor(rows * cols / RATIO)
            try:
                factors = factor_shapes(rows, cols, ratio, max(0.0, 1.0 - kp_share - 1e-9), order=order)
            except ValueError:
                factors = factor_shapes(rows, cols, order=order)
            return RunConfig(**ft("dkp"), ratio=ratio, factors=[list(f) for f in factors], **cmr)
        return make

    dkps = [Job(f"dkp-{ratio:g}", "main", dkp(ratio), deps=abl_names, meta={"label": "dkp"})
            for ratio in (RATIO, 10.0, 50.0)]
    # DKP with the smallest product of three factors at 25x, whatever the ablation chose:
    # after a full epoch it is the best 25x model on PTB small (three baselines,
    # results/ptb-small-three-factors/), after the ablation's quarter epoch level with the
    # two-factor choice.
    three = [list(f) for f in smallest_three_factors(4 * r.hidden, r.hidden)]
    dkps.insert(1, Job(f"dkp-{RATIO:g}-3f", "main",
                       lambda _: RunConfig(**ft("dkp"), ratio=RATIO, factors=three),
                       deps=("baseline",), meta={"label": "dkp-3f"}))
    # Runs start in list order as they become ready: DKP at 25x, the one the comparison is
    # about, goes ahead of the baselines queued before it once the ablation has chosen it.
    first_main = next(i for i, j in enumerate(jobs) if j.group == "main" and j.deps)
    return jobs[:first_main] + dkps[:2] + jobs[first_main:] + dkps[2:]


# ----------------------------------------------------------------------------- running


def default_runs_dir(out: Path) -> Path:
    """runs/<name of the results folder>: checkpoints stay out of results/ (and git)."""
    return Path("runs") / Path(out).name


def _finished(runs_dir: Path, jobs: list[Job]) -> dict[str, dict]:
    done = {}
    for j in jobs:
        path = runs_dir / j.name / RESULT
        if path.is_file():
            done[j.name] = json.loads(path.read_text())
    return done


def _stale(runs_dir: Path, jobs: list[Job], done: dict[str, dict]) -> set[str]:
    """Finished runs whose configuration is not what the plan makes of them now."""
    return {j.name for j in jobs
            if j.name in done and all(d in done for d in j.deps)
            and read_config(runs_dir / j.name).to_json() != j.make(done).to_json()}


def _unfinished(runs_dir: Path, jobs: list[Job], done: dict[str, dict]) -> list[dict]:
    """Where each started but unfinished run stands (a run stopped at a time limit, say):
    its last validation, its best one so far and how far through its recipe it got."""
    rows = []
    for j in jobs:
        run_dir = runs_dir / j.name
        valid = [r for r in read_metrics(run_dir) if r["event"] == "valid"]
        if j.name in done or not valid or not (run_dir / CONFIG).is_file():
            continue
        config = read_config(run_dir)
        planned = config.epochs if config.epochs is not None else config.recipe.epochs
        best = min(valid, key=lambda r: r["ppl"])
        rows.append({"run": j.name, "group": j.group,
                     "label": _label(j, config.method),
                     "epoch": valid[-1]["epoch"], "planned_epochs": planned,
                     "valid_ppl": valid[-1]["ppl"], "best_valid_ppl": best["ppl"],
                     "best_epoch": best["epoch"], "elapsed_minutes": valid[-1]["elapsed"] / 60.0,
                     "from_scratch": config.init_from is None})
    return rows


def threads_per_rank(job: Job) -> int:
    """CPU threads each of `job`'s processes may use: its slots shared by its ranks."""
    return max(1, job.slots // job.procs)


# Read by the BLAS libraries when they load, so they must be in a run's environment before
# it starts: torch.set_num_threads does not reach numpy's OpenBLAS.
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def runner_env(job: Job) -> dict[str, str]:
    """The environment a run of `job` starts with: numpy's BLAS held to the run's threads.

    Without it every run's numpy starts one BLAS thread per core, and runs that fit their
    starting weights at the same time (the SVDs of compress()) share the cores dozens of
    threads each: on the 16-core GPU machine sixteen medium runs' SVDs then took over 90 s
    each instead of about 1.5 s, and the stall watch restarted them."""
    n = str(threads_per_rank(job))
    return {**os.environ, **dict.fromkeys(BLAS_THREAD_VARS, n)}


def runner_command(job: Job, run_dir: Path, checkpoint_every: int,
                   device: str) -> list[str]:
    """The command line that trains `job` in `run_dir` (torchrun when it has several ranks)."""
    tail = ["-m", "dkgen.train.runner", str(run_dir), "--checkpoint-every", str(checkpoint_every),
            "--device", device]
    threads = ["--threads", str(threads_per_rank(job))]
    if job.procs > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={job.procs}", *tail, *threads]
    return [sys.executable, *tail, *threads]


def run_paper(data: str | Path, out: str | Path, runs_dir: str | Path | None = None, *,
              size: str = "small", jobs: int = 2, baseline_procs: int = 1, quick: bool = False,
              in_process: bool = False, checkpoint_every: int = 250, seed: int = SEED,
              device: str = "auto", scratch: bool = False,
              stall_seconds: float | None = None, max_restarts: int = 2,
              log: Callable[[str], None] = print) -> dict:
    """Run (or resume) every run of the paper and write the results; returns results.json.

    jobs: cores, and runs at once, one thread each; the baseline runs alone on all of them,
    as one process (measured on this 2-core machine: 0.108 s a step with 2 threads against
    0.148 s for 2 single-thread gloo ranks, whose all-reduce of 4.6M gradients costs more
    than it saves), or as `baseline_procs` data-parallel ranks.  in_process: run one after
    another in this process (smoke tests: no process start-up cost).  quick: a few hundred
    steps in all (smoke runs).
    scratch: add the from-scratch DKP and pruning runs (see `plan`).
    stall_seconds, max_restarts: a run that writes nothing for that long is ended (its
    Python stack first written to its log.txt) and restarted from its last checkpoint, at
    most `max_restarts` times; then it counts as failed (`dkgen.train.supervise`).
    device: every run's (see `dkgen.train.lm.resolve_device`); on GPUs `jobs` is the runs
    that share the card(s) at once, and the baseline takes one slot and at most one
    data-parallel rank per GPU.
    """
    data = Path(data).resolve()
    out = Path(out)
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(out)
    runs_dir = runs_dir.resolve()
    corpus = load_corpus(data)  # fails early, with the fix, on a wrong folder
    on_gpu = resolve_device(device).type == "cuda"
    if on_gpu:
        import torch

        baseline_procs = min(baseline_procs, torch.cuda.device_count())
    train_fraction = min(1.0, 20000 / len(corpus.train)) if quick else 1.0
    eval_fraction = min(1.0, 4000 / len(corpus.valid)) if quick else 1.0
    all_jobs = plan(data, runs_dir, size=size, quick=quick,
                    # On GPUs a job slot is a process beside others on the card, not a
                    # core: the baseline takes one, so the small dense model trains beside it.
                    baseline_slots=1 if in_process or on_gpu else jobs,
                    baseline_procs=1 if in_process else min(baseline_procs, jobs),
                    train_fraction=train_fraction, eval_fraction=eval_fraction, seed=seed,
                    scratch=scratch)
    started = time.time()
    pool = RunPool(stall_seconds=stall_seconds, max_restarts=max_restarts,
                   log=lambda s: log(f"paper: {s}"))
    meta = {"command": " ".join(shlex.quote(a) for a in sys.argv), "revision": git_revision(),
            "seed": seed, "data": str(data), "runs_dir": str(runs_dir), "quick": quick,
            "size": size, "jobs": jobs, "baseline_procs": baseline_procs, "device": device,
            "scratch": scratch, "stall_seconds": stall_seconds,
            "restarts": pool.restarts,  # runs restarted after they stalled, and how often
            "started": started,
            # Runs finished before this invocation: the elapsed time below is the wall time
            # of the whole paper only when this is 0 (one uninterrupted run).
            "runs_done_at_start": len(_finished(runs_dir, all_jobs))}
    out.mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}
    running: dict[str, Job] = {}
    try:
        while True:
            done = _finished(runs_dir, all_jobs)
            stale = _stale(runs_dir, all_jobs, done)
            done = {k: v for k, v in done.items() if k not in stale}
            ready = [j for j in all_jobs if j.name not in done and j.name not in running
                     and j.name not in failed and all(d in done for d in j.deps)]
            if in_process:
                if not ready:
                    break
                j = ready[0]
                config = j.make(done)
                prepare_run(config, runs_dir / j.name, force=j.name in stale)
                log(f"paper: {j.name} (in process)")
                try:
                    train_lm(config, runs_dir / j.name, checkpoint_every=checkpoint_every,
                             progress=False, plot=not quick, log=log, device=device)
                except Exception as exc:
                    failed[j.name] = repr(exc)
                    log(f"paper: {j.name} FAILED: {exc!r}")
                # Plots once at the end: drawing them after every short run would dominate.
                write_results(out, runs_dir, all_jobs, meta, failed, plot=False)
                continue
            free = jobs - sum(job.slots for job in running.values())
            for j in ready:
                # A job wider than the pool still runs, alone.
                if j.slots > free and (running or free < jobs):
                    continue
                run_dir = runs_dir / j.name
                if j.name in stale:
                    log(f"paper: {j.name} was trained with another configuration; again")
                prepare_run(j.make(done), run_dir, force=j.name in stale)
                cmd = runner_command(j, run_dir, checkpoint_every, device)
                log(f"paper: start {j.name}: {' '.join(cmd[1:])}")
                pool.start(j.name, cmd, run_dir, signals_reach_runner=j.procs == 1,
                           env=runner_env(j))
                running[j.name] = j
                free -= j.slots
            if not running:
                break  # everything finished, or what is left depends on a failed run
            time.sleep(0.5 if quick else 5.0)
            for end in pool.poll():
                del running[end.name]
                log_path = runs_dir / end.name / "log.txt"
                if end.stalled:
                    failed[end.name] = (f"no progress for {stall_seconds:.0f} s, "
                                        f"{max_restarts + 1} times; see {log_path}")
                    log(f"paper: {end.name} FAILED ({failed[end.name]})")
                elif end.returncode != 0 or not (runs_dir / end.name / RESULT).is_file():
                    failed[end.name] = f"exit status {end.returncode}; see {log_path}"
                    log(f"paper: {end.name} FAILED ({failed[end.name]})")
                else:
                    log(f"paper: {end.name} done in {end.seconds / 60:.1f} min")
                write_results(out, runs_dir, all_jobs, meta, failed)
    finally:
        pool.close()  # runs still going after an error or Ctrl-C
    results = write_results(out, runs_dir, all_jobs, meta, failed)
    if failed:
        raise DkgenError(f"{len(failed)} run(s) failed: {', '.join(sorted(failed))}",
                         fix=f"see the log.txt of each under {runs_dir}")
    return results


# ----------------------------------------------------------------------------- results


def _label(job: Job, method: str) -> str:
    key = "baseline" if job.name == "baseline" else job.meta.get("label", method)
    return LABELS.get(key, key)


def _row(job: Job, s: dict, base: dict | None, base_weights: int) -> dict:
    name, lstm = job.name, s["lstm"]
    change = None if base is None else 100.0 * (s["test_ppl"] / base["test_ppl"] - 1.0)
    label = _label(job, s["method"])
    return {"run": name, "method": s["method"], "label": label,
            "ratio": s["ratio"], "test_ppl": s["test_ppl"], "valid_ppl": s["valid_ppl"],
            "test_change_pct": change, "lstm_params": lstm["params"],
            "lstm_weight_params": lstm["weight_params"], "lstm_bytes": lstm["bytes"],
            "compression": base_weights / float(lstm["weight_params"]),
            "dope_nnz": lstm["dope_nnz"], "epochs": s["epochs"],
            "wall_minutes": s["wall_seconds"] / 60.0, "matrices": s.get("matrices", {})}


def write_results(out: Path, runs_dir: Path, jobs: list[Job], meta: dict,
                  failed: dict[str, str] | None = None, plot: bool = True,
                  finished: float | None = None) -> dict:
    """results.json, table.md and pareto.png from the finished runs (partial is fine).

    finished: when the invocation ended (default now), for redrawing old results."""
    done = _finished(runs_dir, jobs)
    base = done.get("baseline")
    # From the recipe, not the baseline's run: a partial comparison (the baseline still
    # training) reports its compression ratios too.
    recipe = RECIPES[meta["size"]]
    base_weights = dense_lstm_weights(recipe.hidden, recipe.hidden, recipe.layers)
    main = [_row(j, done[j.name], base, base_weights) for j in jobs
            if j.group in ("baseline", "main") and j.name in done]
    ablation = []
    for j in jobs:
        if j.group == "ablation" and j.name in done:
            row = _row(j, done[j.name], base, base_weights)
            row.update(cmr_form=j.meta["cmr_form"], dope_density=j.meta["dope_density"],
                       kp_params_per_matrix=j.meta["kp_params"], factors=j.meta["factors"],
                       exact_budget=j.meta["exact_budget"])
            ablation.append(row)
    unfinished = _unfinished(runs_dir, jobs, done)
    published = recipe.published_test
    finished = time.time() if finished is None else finished
    results = {**meta, "finished": finished, "complete": len(done) == len(jobs),
               "elapsed_minutes": (finished - meta["started"]) / 60.0,
               "failed": failed or {}, "finetune": {**FINETUNE, "mask_scope": MASK_SCOPE},
               "ablation_budget": ABLATION,
               "cmr_rate": CMR_RATE,
               "baseline_published_test": None if math.isnan(published) else published,
               "total_run_minutes": sum(s["wall_seconds"] for s in done.values()) / 60.0,
               "main": main, "ablation": ablation, "unfinished": unfinished,
               "runs": {k: v for k, v in done.items()}}
    out.mkdir(parents=True, exist_ok=True)
    for r in main:
        curve = runs_dir / r["run"] / "curve.png"
        if curve.is_file():
            (out / "curves").mkdir(exist_ok=True)
            shutil.copyfile(curve, out / "curves" / f"{r['run']}.png")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (out / "table.md").write_text(table_markdown(results))
    try:
        if plot:
            pareto_plot(results, out / "pareto.png")
            recipe_curves_plot(results, runs_dir, out / "recipe-runs.png")
    except Exception as exc:  # the numbers matter more than the picture
        print(f"paper: no plot ({exc})", file=sys.stderr)
    return results


def _elapsed_note(results: dict) -> str:
    """The wall time of the invocation, and whether it was the whole paper."""
    elapsed = results.get("elapsed_minutes")
    if elapsed is None or not results.get("complete"):
        return ""
    resumed = results.get("runs_done_at_start", 0)
    if resumed:
        return f"; this invocation {elapsed:.0f} min ({resumed} runs were already done)"
    return f"; wall time {elapsed:.0f} min in one uninterrupted run"


def _restarts_note(restarts: dict[str, int] | None) -> str:
    """Which runs stalled and were restarted from a checkpoint (their figures stand)."""
    if not restarts:
        return ""
    runs = ", ".join(f"{name} ({n}x)" for name, n in sorted(restarts.items()))
    return f"  \nRestarted from a checkpoint after writing nothing for a while: {runs}"


def _fmt_change(v: float | None) -> str:
    return "" if v is None else f"{v:+.1f}%"


def table_markdown(results: dict) -> str:
    """The results as Markdown: the method comparison, then the CMR ablation."""
    lines = [f"# PTB {results['size']}: LSTM-layer compression"
             + (" (QUICK SMOKE RUN, not results)" if results["quick"] else ""), ""]
    lines += [f"Command: `{results['command']}`  ", f"Revision: {results['revision']}  ",
              f"Seed: {results['seed']}; fine-tuning: {json.dumps(results['finetune'])}  ",
              f"Complete: {results['complete']}; run time {results['total_run_minutes']:.0f} "
              "min (sum over runs)" + _elapsed_note(results)
              + _restarts_note(results.get("restarts")), ""]
    lines += ["| run | method | ratio | test ppl | vs baseline | valid ppl | LSTM params "
              "| LSTM bytes | compression | wall (min) |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["main"]:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:g}x"
        lines.append(f"| {r['run']} | {r['label']} | {ratio} | {r['test_ppl']:.2f} | "
                     f"{_fmt_change(r['test_change_pct'])} | {r['valid_ppl']:.2f} | "
                     f"{r['lstm_params']:,} | {r['lstm_bytes']:,} | {r['compression']:.1f}x | "
                     f"{r['wall_minutes']:.1f} |")
    lines += ["", "LSTM params: gate matrices of both layers (stored values) plus biases. "
              "LSTM bytes: float32 values plus sparse indices (CSR, 16-bit columns and row "
              "pointers). Compression: dense gate-matrix entries / stored values.", ""]
    if results["ablation"]:
        lines += ["## CMR ablation at 25x (valid / test perplexity)", "",
                  "| KP params / matrix | final dope density | compression | "
                  + " | ".join(f"CMR {f}" for f in CMR_FORMS) + " |",
                  "|---:|---:|---:|" + "---:|" * len(CMR_FORMS)]
        points: dict[tuple, dict] = {}
        for r in results["ablation"]:
            points.setdefault((r["kp_params_per_matrix"], r["dope_density"]), {})[r["cmr_form"]] = r
        for (kp, dens), forms in sorted(points.items(), key=lambda kv: -kv[0][1]):
            any_row = next(iter(forms.values()))
            cells = [f"{forms[f]['valid_ppl']:.1f} / {forms[f]['test_ppl']:.1f}" if f in forms
                     else "" for f in CMR_FORMS]
            lines.append(f"| {kp:,} | {100 * dens:.2f}% | {any_row['compression']:.1f}x | "
                         + " | ".join(cells) + " |")
        lines += ["", f"CMR rate {results['cmr_rate']}, on while the dope is annealed; "
                  f"ablation runs train {results['ablation_budget']['epochs']} epoch(s).", ""]
    if results.get("unfinished"):
        lines += ["## Unfinished runs (valid perplexity where they stopped)", "",
                  "| run | method | epoch / planned | valid ppl | best valid ppl (epoch) "
                  "| wall (min) |", "|---|---|---:|---:|---:|---:|"]
        for r in results["unfinished"]:
            lines.append(f"| {r['run']} | {r['label']} | {r['epoch']:g} / "
                         f"{r['planned_epochs']:g} | {r['valid_ppl']:.2f} | "
                         f"{r['best_valid_ppl']:.2f} ({r['best_epoch']:g}) | "
                         f"{r['elapsed_minutes']:.1f} |")
        lines += ["", "Not results: these runs were stopped before the end of their schedule "
                  "(learning-rate decay and, for compressed runs, the anneal unfinished).", ""]
    if results["failed"]:
        lines += ["Failed runs: " + ", ".join(sorted(results["failed"])), ""]
    return "\n".join(lines) + "\n"


def _pyplot() -> ModuleType:
    """matplotlib.pyplot without a display; imported only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, ax: Axes, path: Path) -> Path:
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def pareto_plot(results: dict, path: Path) -> Path:
    """Test perplexity against LSTM bytes, every method (log bytes)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_method: dict[str, list[dict]] = {}
    for r in results["main"]:
        by_method.setdefault(r["label"], []).append(r)
    markers = ["o", "s", "^", "v", "D", "P", "X", "*", "h"]
    for i, (label, rows) in enumerate(sorted(by_method.items())):
        rows = sorted(rows, key=lambda r: r["lstm_bytes"])
        ax.plot([r["lstm_bytes"] for r in rows], [r["test_ppl"] for r in rows],
                marker=markers[i % len(markers)], linestyle="-" if len(rows) > 1 else "",
                label=label)
        # Only a series with several ratios is labelled: every other compressed point is at
        # the paper's one ratio (said in the title), and its labels would pile up there.
        for r in rows if len(rows) > 1 else []:
            if r["ratio"]:
                ax.annotate(f"{r['ratio']:g}x", (r["lstm_bytes"], r["test_ppl"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
    abl = results.get("ablation") or []
    if abl:
        ax.scatter([r["lstm_bytes"] for r in abl], [r["test_ppl"] for r in abl], s=10,
                   color="grey", alpha=0.5,
                   label=f"DKP ablation points ({abl[0]['epochs']:g}-epoch fine-tunes)")
    ax.set_xscale("log")
    ax.set_xlabel("LSTM bytes (float32 values + sparse indices)")
    ax.set_ylabel("test perplexity")
    ax.set_title(f"PTB {results['size']}: perplexity vs LSTM size "
                 f"(compressed at {RATIO:g}x unless labelled)")
    return _save(fig, ax, path)


def recipe_curves_plot(results: dict, runs_dir: Path, path: Path) -> Path | None:
    """Validation perplexity against epochs of the runs trained with the recipe from the
    start (baseline, small dense, from scratch), finished or not, on one axis."""
    plt = _pyplot()
    runs = [(r["run"], r["label"], "") for r in results["main"]
            if results["runs"][r["run"]]["config"]["init_from"] is None]
    runs += [(r["run"], r["label"], " (unfinished)") for r in results.get("unfinished", [])
             if r["from_scratch"]]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, label, note in runs:
        pts = [(r["epoch"], r["ppl"]) for r in read_metrics(runs_dir / name)
               if r["event"] == "valid"]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", markersize=2, label=f"{label}{note}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation perplexity")
    ax.set_yscale("log")
    ax.set_title(f"PTB {results['size']}: runs trained with the recipe from the start")
    return _save(fig, ax, path)


def describe_plan(jobs: list[Job]) -> list[dict]:
    """The plan as data (for --dry-run)."""
    return [{"name": j.name, "group": j.group, "deps": list(j.deps), "slots": j.slots, "procs": j.procs,
             "meta": j.meta} for j in jobs]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/paper.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="PTB folder (ptb.{train,valid,test}.txt)")
    parser.add_argument("--out", default="results/ptb-small", help="results folder")
    parser.add_argument("--runs", default=None,
                        help="run folders with the checkpoints (default runs/<name of OUT>, "
                             "ignored by git)")
    parser.add_argument("--size", default="small", choices=sorted(RECIPES))
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    parser.add_argument("--baseline-procs", type=int, default=1,
                        help="data-parallel processes for the baseline (default: one process "
                             "with a thread per job slot)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help="seed of every run (other seeds measure run-to-run spread)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--checkpoint-every", type=int, default=250,
                        help="steps between resumable checkpoints (besides each epoch's end); "
                             "raise it where resuming is not needed and saves cost time")
    parser.add_argument("--scratch", action="store_true",
                        help="also DKP and pruning at 25x trained from scratch, the dope "
                             "annealed from dense (the paper's setting; long: a GPU's job)")
    parser.add_argument("--stall-minutes", type=float, default=30.0,
                        help="a run that writes nothing for this long is ended (its Python "
                             "stack first written to its log.txt) and restarted from its "
                             "last checkpoint; 0: never (default 30; on a GPU, 1 is plenty)")
    parser.add_argument("--max-restarts", type=int, default=2,
                        help="restarts of a stalled run before it counts as failed")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every step")
    parser.add_argument("--in-process", action="store_true", help="no subprocesses")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = parser.parse_args(argv)
    try:
        if args.dry_run:
            runs = Path(args.runs) if args.runs else default_runs_dir(Path(args.out))
            for j in describe_plan(plan(Path(args.data), runs, size=args.size, quick=args.quick,
                                        seed=args.seed, scratch=args.scratch)):
                print(json.dumps(j))
            return 0
        res = run_paper(args.data, args.out, args.runs, size=args.size, jobs=args.jobs,
                        baseline_procs=args.baseline_procs, quick=args.quick,
                        in_process=args.in_process, seed=args.seed, device=args.device,
                        checkpoint_every=args.checkpoint_every, scratch=args.scratch,
                        stall_seconds=args.stall_minutes * 60.0 or None,
                        max_restarts=args.max_restarts,
                        log=lambda s: print(time.strftime("%H:%M:%S ") + s, flush=True))
    except DkgenError as exc:
        print(f"dkgen: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.out) / 'results.json'}, table.md, pareto.png "
          f"({len(res['runs'])} runs)")
    return 0



if __name__ == "__main__":
    sys.exit(main())
