"""`make paper` in miniature: every run of the paper on a tiny corpus, then the outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from lm_helpers import tiny_corpus

from dkgen.train.paper import ablation_points, main, plan, write_results


def test_ablation_points_span_the_budget() -> None:
    points = ablation_points(200, 200)  # PTB small: 800x200 matrices, 6,400 values at 25x
    dens = [p["dope_density"] for p in points]
    assert dens[0] > 0.03 and dens[-1] < 0.005  # a few percent down to well under 1%
    for p in points:
        assert math.prod(m for m, _ in p["factors"]) == 800 and math.prod(n for _, n in p["factors"]) == 200
        stored = p["kp_params"] + round(p["dope_density"] * 160000)
        assert stored == 6400 if p["exact_budget"] else stored < 6400
    # First the smallest product of three factors, then two-factor splits.
    assert points[0]["factors"] == [[10, 5], [10, 5], [8, 8]] and points[0]["kp_params"] == 164
    assert all(len(p["factors"]) == 2 for p in points[1:])


def test_plan_dependencies() -> None:
    jobs = {j.name: j for j in plan(Path("/data"), Path("/runs"))}
    assert (jobs["baseline"].slots, jobs["baseline"].procs) == (2, 1) and not jobs["baseline"].deps
    for name in ("dense-ft", "kp-25", "pruned-25", "lmf-25", "hmd-25"):
        assert jobs[name].deps == ("baseline",)
    abl = [n for n, j in jobs.items() if j.group == "ablation"]
    assert len(abl) == 5 * 3 and set(jobs["dkp-25"].deps) == set(abl)


def test_plan_from_scratch_runs() -> None:
    plain = {j.name for j in plan(Path("/data"), Path("/runs"))}
    jobs = {j.name: j for j in plan(Path("/data"), Path("/runs"), scratch=True)}
    assert set(jobs) - plain == {"dkp-25-scratch", "pruned-25-scratch"}
    for name, method in (("dkp-25-scratch", "dkp"), ("pruned-25-scratch", "pruned")):
        cfg = jobs[name].make({})
        assert not jobs[name].deps and cfg.init_from is None and cfg.from_scratch
        assert (cfg.method, cfg.ratio, cfg.epochs) == (method, 25.0, None)  # its recipe
        assert cfg.anneal == (0.0, 0.5) and cfg.initial_density == 1.0
    assert jobs["dkp-25-scratch"].make({}).factors == [[20, 20], [40, 10]]
    # The fine-tunes keep their place: DKP at 25x still starts first once the ablation is done.
    order = list(jobs)
    assert order.index("dkp-25") < order.index("dkp-25-3f") < order.index("dense-ft") < order.index("dkp-10")
    assert jobs["dkp-25-3f"].deps == ("baseline",)
    assert jobs["dkp-25-3f"].make({}).factors == [[10, 5], [10, 5], [8, 8]]


def test_baseline_commands() -> None:
    from dkgen.train.paper import runner_command

    threaded = plan(Path("/data"), Path("/runs"), baseline_slots=4)[0]
    cmd = runner_command(threaded, Path("/runs/baseline"), 250, "cpu")
    assert "torch.distributed.run" not in cmd and cmd[-2:] == ["--threads", "4"]
    ranks = plan(Path("/data"), Path("/runs"), baseline_slots=4, baseline_procs=2)[0]
    cmd = runner_command(ranks, Path("/runs/baseline"), 250, "cpu")
    assert "--nproc_per_node=2" in cmd and cmd[-2:] == ["--threads", "2"]


def test_runs_hold_numpy_blas_to_their_threads() -> None:
    # torch.set_num_threads does not reach numpy's OpenBLAS, which compress()'s SVDs use:
    # a run must start with its BLAS already held to its share of the cores.
    import subprocess
    import sys

    from dkgen.train.paper import runner_env

    probe = ("import json, numpy, threadpoolctl; print(json.dumps([p['num_threads'] for p in "
             "threadpoolctl.threadpool_info() if p['user_api'] == 'blas']))")
    for job, want in ((plan(Path("/data"), Path("/runs"), baseline_slots=2)[0], 2),
                      (plan(Path("/data"), Path("/runs"))[-1], 1)):
        out = subprocess.run([sys.executable, "-c", probe], env=runner_env(job), text=True,
                             capture_output=True, check=True).stdout
        assert json.loads(out) and set(json.loads(out)) == {want}


def test_plan_seed_reaches_every_run() -> None:
    jobs = plan(Path("/data"), Path("/runs"), seed=7)
    done = {n: {"valid_ppl": 100.0, "config": {"cmr": 0.0, "cmr_mode": "off"}}
            for n in (j.name for j in jobs if j.group == "ablation")}
    assert {j.make(done).seed for j in jobs} == {7}


def test_plan_masks_share_one_threshold() -> None:
    # DKP's dope and the pruning mask, the only masked methods, both anneal to one
    # magnitude threshold over all gate matrices; the others take no mask scope at all.
    jobs = plan(Path("/data"), Path("/runs"))
    done = {n: {"valid_ppl": 100.0, "config": {"cmr": 0.0, "cmr_mode": "off"}}
            for n in (j.name for j in jobs if j.group == "ablation")}
    scopes = {j.name: (j.make(done).method, j.make(done).mask_scope) for j in jobs}
    assert {s for m, s in scopes.values() if m in ("dkp", "pruned")} == {"model"}
    assert {s for m, s in scopes.values() if m not in ("dkp", "pruned")} == {"matrix"}
    assert scopes["pruned-25"] == ("pruned", "model") and scopes["dkp-25"] == ("dkp", "model")


def test_quick_paper_end_to_end(tmp_path: Path) -> None:
    data = tiny_corpus(tmp_path / "data")
    out, runs = tmp_path / "out", tmp_path / "runs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = ["--data", str(data), "--out", str(out), "--runs", str(runs), "--size", "tiny",
                "--quick", "--in-process"]
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] and not res["failed"]
    names = [r["run"] for r in res["main"]]
    assert names[0] == "baseline"
    assert {"dense-ft", "small-25", "kp-25", "pruned-25", "lmf-25", "hmd-25", "dkp-25", "dkp-10",
            "dkp-50", "dkp-25-3f"} <= set(names)
    three = next(r for r in res["main"] if r["run"] == "dkp-25-3f")
    assert three["label"] == "DKP, three factors" and three["compression"] >= 25.0 - 1e-9
    assert len(res["ablation"]) == 15
    for r in res["main"]:
        if r["run"] not in ("baseline", "dense-ft", "dkp-10", "dkp-50"):
            assert r["compression"] >= 25.0 - 1e-9, r  # every method within the 25x budget
    assert (out / "pareto.png").stat().st_size > 1000
    table = (out / "table.md").read_text()
    assert "| dkp-25 |" in table and "CMR ablation" in table and "QUICK" in table
    assert res["restarts"] == {} and "Restarted" not in table
    assert res["runs_done_at_start"] == 0 and "one uninterrupted run" in table
    # Resumable: a second run finds everything done and only rewrites the results.
    mtime = (runs / "baseline" / "result.json").stat().st_mtime
    assert main(args) == 0
    assert (runs / "baseline" / "result.json").stat().st_mtime == mtime
    res = json.loads((out / "results.json").read_text())
    assert res["runs_done_at_start"] == len(res["runs"])
    assert "runs were already done" in (out / "table.md").read_text()
    # A finished run whose configuration the plan no longer makes is trained again; the
    # others are left alone.
    config = json.loads((runs / "dkp-50" / "config.json").read_text())
    (runs / "dkp-50" / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
    assert main(args) == 0
    assert (runs / "baseline" / "result.json").stat().st_mtime == mtime
    assert json.loads((runs / "dkp-50" / "config.json").read_text()) == config
    assert json.loads((runs / "dkp-50" / "result.json").read_text())["config"]["lr"] == config["lr"]

    # A partial comparison (baseline unfinished, as when a GPU lease ends) still counts
    # compression against the recipe's dense LSTM.
    small = next(r for r in res["main"] if r["run"] == "small-25")
    (runs / "baseline" / "result.json").unlink()
    partial = write_results(tmp_path / "partial", runs, plan(data, runs, size="tiny", quick=True),
                            {**res, "restarts": {"baseline": 1}})
    assert not partial["complete"] and "baseline" not in {r["run"] for r in partial["main"]}
    again = next(r for r in partial["main"] if r["run"] == "small-25")
    assert again["compression"] == small["compression"] >= 25.0 - 1e-9
    # The unfinished run is reported where it stopped, apart from the results.
    (stopped,) = partial["unfinished"]
    base = res["runs"]["baseline"]
    assert stopped["run"] == "baseline" and stopped["from_scratch"]
    assert (stopped["epoch"], stopped["planned_epochs"]) == (2.0, 2.0)
    assert stopped["best_valid_ppl"] == min(stopped["valid_ppl"], stopped["best_valid_ppl"])
    assert stopped["best_valid_ppl"] == pytest.approx(base["valid_ppl"], rel=1e-9)
    table = (tmp_path / "partial" / "table.md").read_text()
    assert "## Unfinished runs" in table and "| baseline | dense baseline | 2 / 2 |" in table
    assert "after writing nothing for a while: baseline (1x)" in table
    assert (tmp_path / "partial" / "recipe-runs.png").stat().st_size > 1000


def test_step_time_script(tmp_path: Path) -> None:
    # scripts/train_step_time.py, which sizes a GPU lease: one short run, read back.
    import subprocess
    import sys

    data = tiny_corpus(tmp_path / "data")
    rows = tmp_path / "rows.json"
    out = subprocess.run([sys.executable, "scripts/train_step_time.py", "--data", str(data),
                          "--size", "tiny", "--device", "cpu", "--methods", "dense",
                          "--procs", "1", "--steps", "100", "--json", str(rows)],
                         capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    (row,) = json.loads(rows.read_text())
    assert (row["method"], row["procs"], len(row["ms_per_step"])) == ("dense", 1, 1)
    assert 0.0 < row["ms_per_step"][0] < 10_000.0
    assert f"| dense | 1 | {row['ms_per_step'][0]:.1f} |" in out
