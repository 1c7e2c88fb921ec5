"""Training runs: metrics, checkpoints and resume, data parallelism, the CLI and export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from lm_helpers import tiny_config, tiny_corpus, train_interrupted_then_resumed

from dkgen.errors import DkgenError
from dkgen.train import lm
from dkgen.train.lm import load_state, read_metrics, train_lm


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def dense_run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "dense"
    train_lm(tiny_config(data, epochs=2.0), run, threads=1)
    return run


def test_dense_run_files_and_metrics(dense_run: Path) -> None:
    for name in ("config.json", "ckpt.pt", "best.pt", "metrics.jsonl", "result.json", "curve.png"):
        assert (dense_run / name).is_file(), name
    result = json.loads((dense_run / "result.json").read_text())
    recs = read_metrics(dense_run)
    valid = [r["ppl"] for r in recs if r["event"] == "valid"]
    train = [r for r in recs if r["event"] == "train"]
    assert len(valid) == 2 and valid[1] < valid[0]  # one evaluation per epoch, improving
    assert train and all(np.isfinite(r["loss"]) for r in train)
    assert result["valid_ppl"] == pytest.approx(min(valid))
    assert result["test_ppl"] < 40  # a unigram model of the corpus scores about 40
    assert result["lstm"]["params"] == 2 * (4 * 64 * 128 + 2 * 4 * 64)
    # Checkpoints hold state dicts only: they load with weights_only=True.
    state = torch.load(dense_run / "ckpt.pt", weights_only=True)
    assert {"model", "optimizer", "step", "rng", "hidden"} <= set(state)
    assert result["device"] == "cpu" or torch.cuda.is_available()


def test_finished_run_is_not_retrained_and_config_is_checked(data: Path, dense_run: Path) -> None:
    before = (dense_run / "metrics.jsonl").read_text()
    res = train_lm(tiny_config(data, epochs=2.0), dense_run, threads=1)
    assert (dense_run / "metrics.jsonl").read_text() == before
    assert res.test_ppl == json.loads((dense_run / "result.json").read_text())["test_ppl"]
    with pytest.raises(DkgenError, match="different configuration"):
        train_lm(tiny_config(data, epochs=3.0), dense_run, threads=1)


def test_resume_continues_exactly(data: Path, dense_run: Path, tmp_path: Path) -> None:
    # DKP with entry-wise CMR: the resumed run must also restore the RNG and the masks.
    # Bit-exact on the CPU (scripts/gpu_checks/test_lm_cuda.py holds CUDA, whose
    # scatter-adds are not, to a tolerance).
    config = tiny_config(data, method="dkp", ratio=8.0, init_from=str(dense_run), epochs=1.5,
                         lr_schedule="cosine", cmr=0.3, cmr_mode="entry", prune_every=3)
    kw = {"threads": 1, "checkpoint_every": 5, "log_every": 4, "plot": False, "device": "cpu"}
    whole = train_lm(config, tmp_path / "whole", **kw)
    # Interrupted after the step-10 checkpoint, before the next.
    resumed_from, again = train_interrupted_then_resumed(config, tmp_path / "split", 12, **kw)
    assert resumed_from == 10
    a = load_state(tmp_path / "whole" / "ckpt.pt")["model"]
    b = load_state(tmp_path / "split" / "ckpt.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert again.test_ppl == whole.test_ppl


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "dkgen.cli_train", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_data_parallel_matches_one_process(data: Path, dense_run: Path, tmp_path: Path) -> None:
    # Per-example whole-dope CMR: the ranks slice one draw over the whole batch.
    args = ["train", "lm", "--data", str(data), "--size", "tiny", "--method", "dkp",
            "--ratio", "8", "--init-from", str(dense_run), "--epochs", "1",
            "--lr-schedule", "cosine", "--cmr", "0.3", "--cmr-mode", "example", "--json",
            "--device", "cpu"]  # gloo ranks on the CPU, also where a GPU is present
    from dkgen.cli_train import main

    one = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "one"), "--threads", "1"])
    assert one.exit_code == 0, one.output
    two = _torchrun([*args, "-o", str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    r1 = json.loads((tmp_path / "one" / "result.json").read_text())
    r2 = json.loads((tmp_path / "two" / "result.json").read_text())
    assert r2["world_size"] == 2 and r1["world_size"] == 1
    assert r2["test_ppl"] == pytest.approx(r1["test_ppl"], rel=1e-4)
    assert r2["valid_ppl"] == pytest.approx(r1["valid_ppl"], rel=1e-4)
    a = load_state(tmp_path / "one" / "ckpt.pt")["model"]
    b = load_state(tmp_path / "two" / "ckpt.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.parametrize(("method", "extra"), [
    ("dkp", []), ("hmd", []),
    # Pruned with one magnitude threshold for all gate matrices: unequal masks that still
    # export and match.
    ("pruned", ["--mask-scope", "model"]),
])
def test_cli_train_and_export(method: str, extra: list[str], data: Path, dense_run: Path,
                              tmp_path: Path) -> None:
    # Through the user-facing `dkgen` command (cli_train's own group serves torchrun).
    from dkgen.cli import cli as main
    from dkgen.ir.reference import ReferenceExecutor
    from dkgen.onnx_io.importer import load_onnx

    run = tmp_path / method
    res = CliRunner().invoke(main, ["train", "lm", "--data", str(data), "--size", "tiny",
                                    "--method", method, "--ratio", "10", "--init-from",
                                    str(dense_run), "--epochs", "0.5", "-o", str(run),
                                    "--threads", "1", *extra])
    assert res.exit_code == 0, res.output
    assert "test ppl" in res.output
    out = tmp_path / "lm.onnx"
    res = CliRunner().invoke(main, ["export", str(run), "-o", str(out), "--batch", "3",
                                    "--steps", "7"])
    assert res.exit_code == 0, res.output
    x = np.load(out.with_suffix(".npz"))["x"]
    assert x.shape == (3, 7) and x.dtype == np.int64
    ir = load_onnx(out)
    kinds = {ir.layers[1].w_ih.kind, ir.layers[1].w_hh.kind}
    assert kinds == {{"dkp": "doped_kron", "hmd": "row_stack", "pruned": "sparse"}[method]}
    model, _, _ = lm.load_run_model(run)
    masks = [m for m in model.modules() if hasattr(m, "target_nnz")]
    if masks:
        assert sum(m.nnz for m in masks) == sum(m.target_nnz for m in masks)
        assert (len({m.nnz for m in masks}) > 1) == ("model" in extra)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(x).t())
        expect = torch.softmax(logits, -1).transpose(0, 1).numpy()
    got = ReferenceExecutor(ir).run(x)[0]
    np.testing.assert_allclose(got, expect, rtol=0, atol=2e-5)
    # Refuses to overwrite without --force, writing nothing.
    res = CliRunner().invoke(main, ["export", str(run), "-o", str(out)])
    assert res.exit_code == 2 and "refusing to overwrite" in res.output

    # The LSTM layers alone: the same windows through the run's embedding in, the last
    # layer's hidden state out, equal to the PyTorch LSTM's.
    part = tmp_path / "lstm.onnx"
    res = CliRunner().invoke(main, ["export", str(run), "-o", str(part), "--batch", "3",
                                    "--steps", "7", "--lstm-only"])
    assert res.exit_code == 0, res.output
    xe = np.load(part.with_suffix(".npz"))["x"]
    emb = model.embed.weight.detach().numpy()
    assert xe.dtype == np.float32 and xe.shape == (3, 7, emb.shape[1])
    np.testing.assert_array_equal(xe, emb[x])
    ir = load_onnx(part)
    assert [type(layer).__name__ for layer in ir.layers] == ["LSTM", "LSTM"]
    assert ir.input.kind == "vector" and ir.input.size == emb.shape[1]
    with torch.no_grad():
        hidden, _ = model.rnn(torch.from_numpy(xe).transpose(0, 1))
    np.testing.assert_allclose(ReferenceExecutor(ir).run(xe)[0], hidden.transpose(0, 1).numpy(),
                               rtol=0, atol=2e-5)
    res = CliRunner().invoke(main, ["export", str(run), "-o", str(tmp_path / "x.onnx"),
                                    "--lstm-only", "--logits"])
    assert res.exit_code == 2 and "--logits" in res.output and not (tmp_path / "x.onnx").exists()


def test_cli_reports_bad_input(tmp_path: Path) -> None:
    from dkgen.cli_train import main

    res = CliRunner().invoke(main, ["train", "lm", "--data", str(tmp_path), "-o",
                                    str(tmp_path / "r"), "--method", "dkp", "--ratio", "10"])
    assert res.exit_code == 2 and "init_from" in res.output
    res = CliRunner().invoke(main, ["train", "lm", "--data", str(tmp_path), "-o",
                                    str(tmp_path / "r")])
    assert res.exit_code == 2 and "ptb.train.txt" in res.output
    assert not (tmp_path / "r").exists()  # refused before the run folder was written


@pytest.mark.parametrize("args, field, says", [
    (["--method", "dkp", "--ratio", "25", "--factors", "3x3,4x4"], "factors",
     "M1*M2(*M3) = 256, N1*N2(*N3) = 64"),
    (["--method", "dkp", "--ratio", "25", "--factors", "2x2,2x2,2x2,2x2,2x2"], "--factors",
     "two to four"),
    (["--method", "dkp", "--ratio", "50", "--factors", "8x4,32x16"], "factors",
     "over the 327 a 50x compression of 256x64 allows"),
    (["--method", "pruned", "--ratio", "25", "--factors", "8x4,32x16"], "factors",
     "drop --factors"),
    (["--method", "pruned", "--ratio", "25", "--dope-density", "0.01"], "dope_density",
     "drop --dope-density"),
    (["--method", "lmf", "--ratio", "500"], "ratio", "lower --ratio"),
    (["--method", "dkp", "--ratio", "8", "--init-from", "nowhere"], "init_from",
     "finished dense run"),
    (["--epochs", "0"], "epochs", "--epochs > 0"),
    (["--max-steps", "0"], "max_steps", "leave --max-steps out"),
    (["--method", "pruned", "--ratio", "8", "--initial-density", "2"], "initial_density",
     "(0, 1]"),
    (["--method", "dkp", "--ratio", "8", "--dope-share", "1.5"], "dope_share", "[0, 1)"),
    (["--method", "kp", "--ratio", "8", "--mask-scope", "model"], "mask_scope",
     "drop --mask-scope"),
    (["--train-fraction", "0.001"], "train_fraction", "too few"),
    (["--eval-batch", "400"], "eval_batch", "smaller --eval-batch"),
])
def test_cli_refuses_impossible_structure(data: Path, tmp_path: Path, args: list[str],
                                          field: str, says: str) -> None:
    # One line naming the field and the fix, exit 2, and no run folder left behind to
    # block the corrected command.
    from dkgen.cli_train import main

    run = tmp_path / "r"
    scratch = ["--from-scratch"] if "--ratio" in args and "--init-from" not in args else []
    res = CliRunner().invoke(main, ["train", "lm", "--data", str(data), "--size", "tiny",
                                    "-o", str(run), *args, *scratch])
    assert res.exit_code == 2, res.output
    assert f"{field}:" in res.output and says in res.output and "Traceback" not in res.output
    assert not run.exists()


def test_device_choice(data: Path, tmp_path: Path) -> None:
    from dkgen.cli_train import main

    assert lm.resolve_device("cpu") == torch.device("cpu")
    auto = lm.resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DkgenError, match="unknown device"):
        lm.resolve_device("tpu7")
    if torch.cuda.is_available():
        return  # the CUDA error below is what a CPU-only torch says
    run = tmp_path / "r"
    res = CliRunner().invoke(main, ["train", "lm", "--data", str(data), "--size", "tiny",
                                    "-o", str(run), "--device", "cuda"])
    assert res.exit_code == 2 and "--device cpu" in res.output and "device" in res.output
    assert not run.exists()  # refused before anything was written


def test_int8_perplexity_tracks_float(data: Path, dense_run: Path, tmp_path: Path) -> None:
    from dkgen.cli import cli

    run = tmp_path / "dkp"
    train_lm(tiny_config(data, method="dkp", ratio=8.0, init_from=str(dense_run), epochs=0.5,
                         lr_schedule="cosine"), run, threads=1)
    res = CliRunner().invoke(cli, ["train", "int8-ppl", str(run), "--json", "--calib-sequences",
                                   "6", "--calib-steps", "20"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    # The float64 reference scores what the trainer scored (same batching, same stream).
    assert doc["float_ppl"] == pytest.approx(json.loads((run / "result.json").read_text())
                                             ["test_ppl"], rel=1e-3)
    assert abs(doc["change_pct"]) < 5.0 and doc["int8_ppl"] != doc["float_ppl"]
    assert doc["lstm_weight_bytes"]["int8"] < 0.4 * doc["lstm_weight_bytes"]["float32"]


@pytest.mark.parametrize("method", ["dkp", "pruned"])
def test_from_scratch_anneals_from_dense(method: str, data: Path, dense_run: Path,
                                         tmp_path: Path) -> None:
    # The paper's setting: no trained model to compress; the structure is fitted to the
    # random initialisation and the dope / mask annealed from dense while training.
    config = tiny_config(data, method=method, ratio=8.0, from_scratch=True, epochs=2.0)
    res = train_lm(config, tmp_path / method, threads=1, plot=False, log_every=5,
                   device="cpu")
    # The same final structure as compressing the trained model (entry counts exact).
    tuned = train_lm(tiny_config(data, method=method, ratio=8.0, init_from=str(dense_run),
                                 epochs=0.5), tmp_path / f"{method}-ft", threads=1,
                     plot=False, device="cpu")
    assert res.summary["lstm"] == tuned.summary["lstm"]
    train = [r for r in read_metrics(tmp_path / method) if r["event"] == "train"]
    final = [r for r in read_metrics(tmp_path / f"{method}-ft") if r["event"] == "train"][-1]
    density = [r["density"] for r in train]
    assert density == sorted(density, reverse=True) and density[0] > 2 * density[-1]
    assert density[-1] == final["density"]
    assert train[-1]["loss"] < train[0]["loss"] and res.test_ppl < 40  # unigram: about 40


def test_from_scratch_config_errors(data: Path, dense_run: Path) -> None:
    with pytest.raises(DkgenError, match="--from-scratch"):
        tiny_config(data, method="dkp", ratio=8.0)
    with pytest.raises(DkgenError, match="one or the other"):
        tiny_config(data, method="dkp", ratio=8.0, init_from=str(dense_run), from_scratch=True)
    with pytest.raises(DkgenError, match="from_scratch"):
        tiny_config(data, method="dense", from_scratch=True)


def test_git_revision_ignores_rewritten_results(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # `make paper` rewrites the committed results/ while its later runs start: those runs
    # must not record the code as dirty; a changed source file must.
    monkeypatch.delenv("DKGEN_REVISION", raising=False)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    (tmp_path / "results").mkdir()
    (tmp_path / "pkg").mkdir()
    (tmp_path / "results" / "table.md").write_text("a\n")
    (tmp_path / "pkg" / "code.py").write_text("a = 1\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    clean = lm.git_revision(tmp_path / "pkg")
    assert len(clean) == 12 and "+" not in clean
    (tmp_path / "results" / "table.md").write_text("b\n")
    assert lm.git_revision(tmp_path / "pkg") == clean
    (tmp_path / "pkg" / "code.py").write_text("a = 2\n")
    assert lm.git_revision(tmp_path / "pkg") == clean + "+dirty"
    monkeypatch.setenv("DKGEN_REVISION", "abc123")
    assert lm.git_revision(tmp_path / "pkg") == "abc123"


def test_runner_dumps_its_stack_on_sigusr1(data: Path, tmp_path: Path) -> None:
    import signal
    import time

    # What scripts/gpu-medium.sh does to a run that stopped making progress.
    run = lm.prepare_run(tiny_config(data, epochs=200.0), tmp_path / "run")
    with (run / "log.txt").open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "dkgen.train.runner", str(run),
                                 "--threads", "1", "--device", "cpu"],
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not read_metrics(run) and time.monotonic() < deadline:
            assert proc.poll() is None, (run / "log.txt").read_text()
            time.sleep(0.2)
        assert read_metrics(run), "the run logged nothing in 2 minutes"
        proc.send_signal(signal.SIGUSR1)
        while "train_lm" not in (run / "log.txt").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None  # it carries on
    finally:
        proc.kill()
        proc.wait()
    log = (run / "log.txt").read_text()
    assert "Current thread" in log and 'File "' in log and "train_lm" in log


def test_factor_lr_scales_only_the_kronecker_factors(data: Path, dense_run: Path,
                                                      tmp_path: Path) -> None:
    moved = {}
    for scale in (1.0, 3.0):
        config = tiny_config(data, method="dkp", ratio=8.0, init_from=str(dense_run),
                             max_steps=1, eval_fraction=0.2, factor_lr=scale)
        train_lm(config, tmp_path / f"x{scale}", threads=1)
        start = lm.build_model(config, 41, load_state(dense_run / "best.pt")["model"])
        after = load_state(tmp_path / f"x{scale}" / "ckpt.pt")["model"]
        moved[scale] = {k: after[k] - v for k, v in start.state_dict().items()
                        if v.is_floating_point()}
    factors = [k for k in moved[1.0] if k.endswith((".a", ".b"))]
    assert len(factors) == 8
    for k, d in moved[1.0].items():
        # One SGD step: the global clip scales every gradient alike, so a factor moves
        # exactly `factor_lr` times as far and nothing else moves differently.
        want = 3.0 * d if k in factors else d
        torch.testing.assert_close(moved[3.0][k], want, rtol=1e-5, atol=1e-7)
    assert all(moved[1.0][k].abs().max() > 0 for k in factors)
    with pytest.raises(DkgenError, match="factor_lr"):
        tiny_config(data, method="pruned", ratio=8.0, init_from=str(dense_run), factor_lr=2.0)
    with pytest.raises(DkgenError, match="factor_lr"):
        tiny_config(data, method="dkp", ratio=8.0, init_from=str(dense_run), factor_lr=0.0)
