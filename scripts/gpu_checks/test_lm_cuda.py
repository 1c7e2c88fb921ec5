"""Training on a CUDA GPU: the same runs as on the CPU, to floating-point tolerance.

A device check, not a test of `make test`: run on a GPU machine by scripts/gpu-medium.sh
(docs/training.md, "On a GPU"); the CPU path is held by tests/train/test_lm_train.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from lm_helpers import tiny_config, tiny_corpus, train_interrupted_then_resumed

from dkgen.train.lm import load_state, read_metrics, train_lm


def test_cuda_is_there() -> None:
    assert torch.cuda.is_available(), f"torch {torch.__version__} sees no CUDA GPU"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def runs(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # The tiny recipe has no dropout and the model is initialised on the CPU, so the two
    # devices start from the same weights and see the same batches.
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for dev in ("cpu", "cuda"):
        out[dev] = root / dev
        train_lm(tiny_config(data, epochs=2.0), out[dev], threads=1, plot=False, device=dev)
    return out


def test_cuda_dense_run_matches_cpu(runs: dict[str, Path]) -> None:
    cpu = json.loads((runs["cpu"] / "result.json").read_text())
    gpu = json.loads((runs["cuda"] / "result.json").read_text())
    assert gpu["device"].startswith("cuda") and cpu["device"] == "cpu"
    assert gpu["valid_ppl"] == pytest.approx(cpu["valid_ppl"], rel=5e-3)
    assert gpu["test_ppl"] == pytest.approx(cpu["test_ppl"], rel=5e-3)
    a, b = (load_state(runs[d] / "ckpt.pt")["model"] for d in ("cpu", "cuda"))
    for key in a:
        assert b[key].device.type == "cpu"  # checkpoints load on machines without a GPU
        torch.testing.assert_close(b[key], a[key], rtol=5e-3, atol=5e-3, msg=key)
    # The loss is summed on the device and read once per log line: same curve as the CPU's.
    la = [r["loss"] for r in read_metrics(runs["cpu"]) if r["event"] == "train"]
    lb = [r["loss"] for r in read_metrics(runs["cuda"]) if r["event"] == "train"]
    assert len(la) == len(lb) and lb == pytest.approx(la, rel=5e-3)


@pytest.mark.parametrize("cmr_mode", ["entry", "example"])
def test_cuda_dkp_anneals_to_exact_density_with_cmr(cmr_mode: str, data: Path,
                                                    runs: dict[str, Path],
                                                    tmp_path: Path) -> None:
    config = tiny_config(data, method="dkp", ratio=8.0, init_from=str(runs["cuda"]),
                         epochs=1.0, lr_schedule="cosine", cmr=0.3, cmr_mode=cmr_mode,
                         prune_every=3)
    # A train record every 4 steps (about 30 an epoch): the loss's fall is seen in the log.
    kw = {"threads": 1, "log_every": 4, "plot": False}
    res = train_lm(config, tmp_path / "dkp", device="cuda", **kw)
    cpu = train_lm(config, tmp_path / "dkp-cpu", device="cpu", **kw)
    # The dope's final entry count is the target on both devices (CMR draws differ: the
    # CUDA generator is another stream, so the perplexities agree only roughly).
    assert res.summary["lstm"] == cpu.summary["lstm"]
    assert res.test_ppl == pytest.approx(cpu.test_ppl, rel=0.1)
    train = [r for r in read_metrics(tmp_path / "dkp") if r["event"] == "train"]
    assert len(train) > 2 and train[-1]["loss"] < train[0]["loss"]


def test_cuda_resume_continues(data: Path, runs: dict[str, Path], tmp_path: Path) -> None:
    config = tiny_config(data, method="dkp", ratio=8.0, init_from=str(runs["cuda"]),
                         epochs=1.5, lr_schedule="cosine", cmr=0.3, cmr_mode="entry",
                         prune_every=3)
    kw = {"threads": 1, "checkpoint_every": 5, "log_every": 4, "plot": False, "device": "cuda"}
    whole = train_lm(config, tmp_path / "whole", **kw)
    _, again = train_interrupted_then_resumed(config, tmp_path / "split", 12, **kw)
    # The CUDA RNG state travels in the checkpoint, so the CMR draws after the resume are
    # the same; only the order of floating-point scatter-adds may differ.
    assert again.test_ppl == pytest.approx(whole.test_ppl, rel=1e-4)
    a = load_state(tmp_path / "whole" / "ckpt.pt")["model"]
    b = load_state(tmp_path / "split" / "ckpt.pt")["model"]
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=key)
