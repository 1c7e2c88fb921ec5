"""Shared helpers of the language-model tests: a tiny corpus and tiny run configs."""

from __future__ import annotations

from pathlib import Path

from dkgen.train import lm
from dkgen.train.data import write_synthetic_corpus
from dkgen.train.lm import RunConfig, RunResult


def tiny_corpus(folder: Path, train_tokens: int = 3000, eval_tokens: int = 600) -> Path:
    return write_synthetic_corpus(folder, vocab=40, train_tokens=train_tokens,
                                  eval_tokens=eval_tokens, seed=1)


def tiny_config(data: Path, **over: object) -> RunConfig:
    """The `tiny` recipe (2x64 LSTM, batch 10, BPTT 10): about 30 steps an epoch here."""
    return RunConfig(data=str(data), size="tiny", **over)  # type: ignore[arg-type]


def train_interrupted_then_resumed(config: RunConfig, run_dir: Path, crash_at: int,
                                   **kw: object) -> tuple[int, RunResult]:
    """Train `config` until the train log line of step `crash_at`, interrupt it there
    (KeyboardInterrupt), then rerun it: returns the step of the checkpoint it resumed from
    and the resumed run's result."""
    real_append = lm._append_metrics

    def crash(path: Path, record: dict) -> None:
        real_append(path, record)
        if record["event"] == "train" and record["step"] == crash_at:
            raise KeyboardInterrupt

    lm._append_metrics = crash
    try:
        lm.train_lm(config, run_dir, **kw)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError(f"the run did not reach step {crash_at}")
    finally:
        lm._append_metrics = real_append
    resumed_from = int(lm.load_state(run_dir / lm.CHECKPOINT)["step"])
    return resumed_from, lm.train_lm(config, run_dir, **kw)
